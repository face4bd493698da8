"""Native correlation: compiled, register-tiled C kernels (``conv1d._native_*``).

Same contract as :mod:`conv1d.algorithms.reference` (pre-padded input), extended: this
algorithm takes the *unpadded* input plus ``pad_left``/``pad_right`` for zero padding
(``zero_pads=True``) and its kernels read zeros at the edges instead of a padded copy.

* **Forward.** Dense and grouped layers run ``forward_dense`` (``src/conv1d/_native/forward.c``):
  an ``OUT_BLOCK`` output channels x ``POS_VECS`` vectors of positions tile held in registers,
  reading the input rows in place. Depthwise and few-outputs-per-group layers run
  ``forward_rows`` (``depthwise.c``): one pass over input and output. Both fuse the bias.
* **Gradients.** ``grad_input`` (``grad_input.c``): the transposed direct convolution,
  polyphase for strides, on packed weights, threads over (sample, group, channel block); with
  a bias it is also ConvTranspose1d's forward. ``grad_weight_dense``
  (``grad_weight_dense.c``): a (channel, tap) columns x output-channel vectors tile summing
  over the positions, for layers with many output channels per group; ``grad_weight``
  (``grad_weight.c``): output channels x columns vectorised over the positions, for the
  others (depthwise). Threads over output channels. All read the unpadded arrays (zeros at
  the edges inside the kernels).
* **Instruction sets.** The same C is compiled for AVX-512, AVX2+FMA and a portable baseline
  (``setup.py``); the best one the CPU supports is loaded. ``CONV1D_NATIVE=0`` in the
  environment turns the native algorithm off (not registered), ``CONV1D_SIMD=avx512|avx2|baseline``
  forces a level, and :func:`set_level` switches at run time.
* **Threads.** Work is split over samples (or output positions / channels when the batch does
  not divide evenly) into one share per :data:`conv1d.threads.workers` thread; the kernels
  release the GIL. Calls below :data:`PARALLEL_MIN_MACS` run inline (a thread hand-off costs
  more than it saves there).
* **Packed weights.** The dense forward and ``grad_input`` read the weight packed in
  register-tile order (packed in C); the packing of a small weight is kept and reused while
  the weight's bytes are unchanged (:data:`PACK_CACHE`), so a layer called again, or a
  stream's next chunk, skips it; a large one is packed each call into a buffer each thread
  keeps (:data:`SCRATCH_MAX_BYTES`).
* **Windows.** :func:`forward_window` reads a window of a longer buffer in place (a
  stream's state) and :func:`run` skips the checks a plan has done once.
"""

from __future__ import annotations

import importlib
import os
import threading
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from .. import padding as _padding
from .. import threads
from . import Algorithm, Problem, gemm

__all__ = ["ALGORITHM", "AVAILABLE", "LEVELS", "available_levels", "cost", "fma_loop",
           "forward", "forward_window", "get_level", "grad_input", "grad_weight", "run",
           "set_level"]

#: Instruction-set levels, best first, and the extension module compiled for each.
LEVELS = ("avx512", "avx2", "baseline")
_MODULES = {"avx512": "conv1d._native_avx512", "avx2": "conv1d._native_avx2",
            "baseline": "conv1d._native_base"}
#: What the CPU must support for each level (checked by the baseline module).
_NEEDS = {"avx512": ("avx512f", "avx2", "fma"), "avx2": ("avx2", "fma"), "baseline": ()}


def _load() -> dict[str, ModuleType]:
    """The importable levels the CPU can run, best first ({} if native is off or not built)."""
    if os.environ.get("CONV1D_NATIVE", "1").strip() == "0":
        return {}
    try:
        base = importlib.import_module(_MODULES["baseline"])
    except ImportError:
        return {}
    found: dict[str, ModuleType] = {}
    for level in LEVELS:
        if not all(base.cpu_supports(f) for f in _NEEDS[level]):
            continue
        try:
            found[level] = base if level == "baseline" else importlib.import_module(_MODULES[level])
        except ImportError:
            continue
    return found


_LOADED = _load()
#: Whether the native kernels are built and enabled (else no ``"native"`` registry entry).
AVAILABLE: bool = bool(_LOADED)
_level: str | None = None
_mod: Any = None


def available_levels() -> tuple[str, ...]:
    """The levels this build and CPU can run, best first (empty when native is off).

    Examples
    --------
    >>> set(available_levels()) <= set(LEVELS)
    True
    """
    return tuple(_LOADED)


def get_level() -> str | None:
    """The level the native algorithm runs at now (``None`` when native is off).

    Examples
    --------
    >>> get_level() in (*LEVELS, None)
    True
    """
    return _level


def set_level(level: str | None = None) -> None:
    """Run the native kernels at ``level`` (``None``: the best the CPU supports).

    Parameters
    ----------
    level : {"avx512", "avx2", "baseline"} or None
        Must be one of :func:`available_levels`.

    Raises
    ------
    ValueError
        If ``level`` is not available on this build and CPU.

    Examples
    --------
    >>> before = get_level()
    >>> if "baseline" in available_levels():
    ...     set_level("baseline")
    ...     assert get_level() == "baseline"
    >>> set_level(before)
    """
    global _level, _mod
    if level is None:
        level = next(iter(_LOADED), None)
        if level is None:
            return
    if level not in _LOADED:
        raise ValueError(f"level must be one of the available levels {available_levels()} "
                         f"(of {LEVELS}), got {level!r}")
    _level, _mod = level, _LOADED[level]
    from . import choose  # the cost model may differ per level

    choose.cache_clear()


def fma_loop(iterations: int) -> float:
    """Run the current level's float32 FMA microbenchmark; return the FLOPs it did.

    ``iterations`` rounds of independent vector FMA chains held in registers, with the GIL
    released (see ``src/conv1d/_native/kernels.h``): FLOPs / seconds is one thread's float32
    FMA peak, and one call per thread, timed together, the machine's.

    Parameters
    ----------
    iterations : int
        Rounds of the loop, >= 0.

    Raises
    ------
    RuntimeError
        If the native kernels are not built or are switched off.

    Examples
    --------
    >>> if AVAILABLE:
    ...     assert fma_loop(1000) > 0
    """
    if _mod is None:
        raise RuntimeError("fma_loop needs the native kernels, which are not built or are "
                           "switched off (CONV1D_NATIVE=0)")
    return float(_mod.fma_loop(iterations))


def _initial_level() -> None:
    forced = os.environ.get("CONV1D_SIMD", "").strip().lower()
    if forced and forced not in _LOADED:
        warnings.warn(f"CONV1D_SIMD={forced!r} is not available here (available: "
                      f"{available_levels()}); using the best level", RuntimeWarning, stacklevel=2)
        forced = ""
    if _LOADED:
        global _level, _mod
        _level = forced or next(iter(_LOADED))
        _mod = _LOADED[_level]


_initial_level()

#: Below this many multiply-adds a call runs on the calling thread. Handing a share to the
#: pool costs a thread wake-up: 20 us at best, ~80 us median on the 2-core VM (a no-op
#: ``parallel_map`` of 2 items, 1000 runs), while the dense kernel runs ~110 multiply-adds
#: per ns on one thread. Measured break-even, (1, 12->32, K=7) on 2 threads against 1:
#: L=5000 (13M) 146 us against 121, L=10000 (27M) 257 against 238, L=20000 (54M) 335
#: against 466 (medians). So 2 threads from ~17M on.
PARALLEL_MIN_MACS = 1 << 24


def _lo(length: int, kernel: int, stride: int, dilation: int) -> int:
    return (length - dilation * (kernel - 1) - 1) // stride + 1


def _use_rows(og: int) -> bool:
    """Few outputs per group: the register tile would be mostly zero rows, go row by row."""
    return og * 2 <= _mod.OUT_BLOCK


def _shares(n: int, other: int, align: int, macs: int) -> list[tuple[int, int, int, int]]:
    """Split ``n`` samples x ``other`` (positions or channels) into one range per thread.

    Samples when they divide evenly (or are many), else ``other`` in ``align``-sized steps.
    """
    parts = threads.workers if macs >= PARALLEL_MIN_MACS else 1
    if parts <= 1:
        return [(0, n, 0, other)]
    if n % parts == 0 or n >= 4 * parts:
        step = -(-n // parts)
        return [(a, min(n, a + step), 0, other) for a in range(0, n, step)]
    blocks = -(-other // align)
    step = -(-blocks // parts) * align
    return [(0, n, a, min(other, a + step)) for a in range(0, other, step)]


def _check(x: np.ndarray, w: np.ndarray, stride: int, dilation: int, groups: int,
           pad_left: int, pad_right: int) -> None:
    if x.ndim != 3 or w.ndim != 3:
        raise ValueError(f"native: x and w must be 3-D, got shapes {x.shape} and {w.shape}")
    if min(stride, dilation, groups) < 1 or min(pad_left, pad_right) < 0:
        raise ValueError(f"native: stride, dilation, groups must be >= 1 and pads >= 0, got "
                         f"{(stride, dilation, groups, pad_left, pad_right)}")
    if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups or w.shape[2] < 1:
        raise ValueError(f"native: x {x.shape} and w {w.shape} do not match groups={groups}")


#: Packed weights kept between calls (see :func:`_packed`), and the largest weight whose packing
#: is kept: at most ``PACK_CACHE * 2 * PACK_MAX_BYTES`` (4 MiB, plus the padding of the last
#: ``OUT_BLOCK``) held. Packing a (64, 64, 3) float32 weight costs 7-9 us, comparing its bytes
#: with the kept ones ~1 us; a 128 KiB weight's call does >= 30k multiply-adds per weight
#: element's ~1 ns of packing beyond that, so larger weights are packed afresh.
PACK_CACHE = 16
PACK_MAX_BYTES = 128 << 10
_packs: dict[tuple, tuple[bytes, np.ndarray]] = {}
#: Larger packings are written into a buffer each thread keeps (a fresh multi-MiB array would
#: fault its pages in on every call: HiFi-GAN's 8 MiB weight, 0.55 ms to pack into a warm
#: buffer, ~2.5 ms into a fresh one), up to this size; beyond it, into a fresh array.
SCRATCH_MAX_BYTES = 64 << 20
_local = threading.local()


def _scratch(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised array of ``shape`` on this thread's reused buffer (see above).

    Valid until this thread's next call: the caller packs into it and uses it within one call.
    """
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes > SCRATCH_MAX_BYTES:
        return np.empty(shape, dtype)
    buf = getattr(_local, "buf", None)
    if buf is None or buf.size < nbytes:
        buf = _local.buf = np.empty(max(nbytes, 1 << 20), np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def _cached(w: np.ndarray, groups: int, dtype: np.dtype, kind: str,
            pack: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``pack(w as a C-contiguous array in dtype)``, kept between calls for small weights.

    A small weight's packing is kept, keyed by the array it views (a layer passes the same
    parameter every call) and reused only when the weight's bytes are those it was packed from
    (the weight may have changed in place): a packing is a function of those bytes, the shape,
    ``groups``, ``dtype`` and ``kind``, so a reused one is exactly a fresh one. Kept packings
    are read-only and never modified, so concurrent calls may share them.
    """
    raw = key = None
    if w.size * dtype.itemsize <= PACK_MAX_BYTES:
        root = w if w.base is None else w.base
        key = (id(root), w.shape, dtype, groups, kind)
        raw = np.ascontiguousarray(w, dtype).tobytes()
        kept = _packs.get(key)
        if kept is not None and kept[0] == raw:
            return kept[1]
    wp = pack(np.ascontiguousarray(w, dtype))
    if key is not None and raw is not None:
        wp.flags.writeable = False
        if len(_packs) >= PACK_CACHE:
            try:  # the oldest goes (another thread may be at it too)
                _packs.pop(next(iter(_packs)), None)
            except (RuntimeError, StopIteration):
                pass
        _packs[key] = (raw, wp)
    return wp


#: Large weights whose calls do little work per weight keep their packing too, with a copy of
#: the bytes it came from (compared as integers each call): a stream's chunks, e.g. HiFi-GAN's
#: 8 MiB upsampler streamed 16 samples at a time does 16 multiply-adds per weight, and packing
#: it (1-2 ms) cost more than checking it (0.5 ms). At most :data:`LARGE_PACK_CACHE` such
#: weights of up to :data:`LARGE_PACK_MAX_BYTES` each are kept (twice their size in memory).
LARGE_PACK_CACHE = 2
LARGE_PACK_MAX_BYTES = 64 << 20
#: Calls with fewer multiply-adds per weight than this use the large packings' cache.
LARGE_PACK_MACS_PER_WEIGHT = 256
_large_packs: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _packed_large(w: np.ndarray, groups: int, dtype: np.dtype, kind: str,
                  shape: tuple[int, ...], pack: Callable[..., None], macs: int) -> np.ndarray:
    """A large weight's packing: kept (see :data:`LARGE_PACK_CACHE`) for calls doing less
    than :data:`LARGE_PACK_MACS_PER_WEIGHT` multiply-adds per weight, else packed afresh
    into this thread's reused buffer."""
    nbytes = w.size * dtype.itemsize
    if macs >= LARGE_PACK_MACS_PER_WEIGHT * w.size or nbytes > LARGE_PACK_MAX_BYTES:
        return _pack_into(_scratch(shape, dtype), pack, w, dtype)
    wc = np.ascontiguousarray(w, dtype)
    bits = np.dtype(f"u{dtype.itemsize}")  # bytes compared exactly (NaN payloads, -0.0)
    root = w if w.base is None else w.base
    key = (id(root), w.shape, dtype, groups, kind)
    kept = _large_packs.get(key)
    if kept is not None and np.array_equal(kept[0].view(bits), wc.view(bits)):
        return kept[1]
    wp = _pack_into(np.empty(shape, dtype), pack, wc, dtype)
    wp.flags.writeable = False
    if len(_large_packs) >= LARGE_PACK_CACHE:
        try:  # the oldest goes (another thread may be at it too)
            _large_packs.pop(next(iter(_large_packs)), None)
        except (RuntimeError, StopIteration):
            pass
    _large_packs[key] = (wc.copy(), wp)
    return wp


def _packed(w: np.ndarray, groups: int, dtype: np.dtype, ob: int, macs: int = 0) -> np.ndarray:
    """``w`` packed for ``forward_dense`` by the kernel module's ``forward_pack``:
    ``(C_out, cg, K) -> (G, nob, cg, K, ob)``, zero rows past ``og = C_out / G`` (the tile's
    broadcasts then read consecutive weights); see :func:`_cached`. ``ob`` is the module's
    ``OUT_BLOCK``.
    """
    c_out, cg, kernel = w.shape
    mod = _mod
    shape = (groups, -(-(c_out // groups) // ob), cg, kernel, ob)
    if w.size * dtype.itemsize > PACK_MAX_BYTES:
        return _packed_large(w, groups, dtype, f"forward{ob}", shape, mod.forward_pack, macs)
    return _cached(w, groups, dtype, f"forward{ob}",
                   lambda wc: _pack_into(np.empty(shape, dtype), mod.forward_pack, wc, dtype))


def _pack_into(wp: np.ndarray, pack: Callable[..., None], w: np.ndarray,
               dtype: np.dtype) -> np.ndarray:
    """``pack`` (a kernel module's ``*_pack``) ``w`` into ``wp``, of shape ``(G, blocks, ...)``:
    its blocks split over the threads when there are many (a memory-bound copy: HiFi-GAN's
    8 MiB weight, 1.3-2 ms on one thread)."""
    c_out, cg, kernel = w.shape
    wc = np.ascontiguousarray(w, dtype)
    groups, count = wp.shape[0], wp.shape[0] * wp.shape[1]
    threads.parallel_map(lambda q: pack(wp, wc, c_out, cg, kernel, groups, *q),
                         _ranges(count, w.size * 64))
    return wp


def _packed_grad_input(w: np.ndarray, groups: int, dtype: np.dtype,
                       macs: int = 0) -> np.ndarray:
    """``w`` packed for ``grad_input``: ``(C_out, cg, K) -> (G, ncb, K, og, CB)`` by the kernel
    module's ``grad_input_pack`` (layout in kernels.h); see :func:`_cached`.
    """
    c_out, cg, kernel = w.shape
    mod = _mod
    cb = min(cg, mod.GRAD_INPUT_BLOCK)
    shape = (groups, -(-cg // cb), kernel, c_out // groups, cb)

    kind = f"grad_input{mod.GRAD_INPUT_BLOCK}"
    if w.size * dtype.itemsize > PACK_MAX_BYTES:
        return _packed_large(w, groups, dtype, kind, shape, mod.grad_input_pack, macs)
    return _cached(w, groups, dtype, kind,
                   lambda wc: _pack_into(np.empty(shape, dtype), mod.grad_input_pack, wc, dtype))


def forward(
    x: np.ndarray, w: np.ndarray, stride: int, dilation: int, groups: int,
    bias: np.ndarray | None = None, pad_left: int = 0, pad_right: int = 0,
) -> np.ndarray:
    _check(x, w, stride, dilation, groups, pad_left, pad_right)
    dtype = np.result_type(x, w)
    x = np.ascontiguousarray(x, dtype)  # no copy when already C-contiguous in dtype
    lo = _lo(x.shape[2] + pad_left + pad_right, w.shape[2], stride, dilation)
    if lo < 0:
        raise ValueError(f"native: kernel span {dilation * (w.shape[2] - 1) + 1} exceeds the "
                         f"padded length {x.shape[2] + pad_left + pad_right}")
    return run(x, w, bias, lo, stride, dilation, groups, pad_left)


def forward_window(x: np.ndarray, start: int, count: int, w: np.ndarray,
                   bias: np.ndarray | None, stride: int, dilation: int,
                   groups: int) -> np.ndarray:
    """``count`` outputs of the unpadded correlation of ``x[..., start:]``, read in place.

    What :func:`forward` gives for ``x[..., start : start + (count - 1) * stride + span]``,
    without copying that window out of ``x``: a stream's state buffer holds its samples at a
    moving offset. The kernels take the window's offset as a negative ``pad_left`` (output
    ``t``, tap ``k`` reads ``x[..., start + t * stride + k * dilation]``; every position read
    lies in the window, so no zero is read).

    Nothing is checked (the caller's contract): ``x`` C-contiguous ``(N, C_in, L)`` in
    ``w``'s dtype (float32 or float64), ``w`` ``(C_out, C_in / groups, K)``, ``bias``
    ``(C_out,)`` or ``None``, ``count >= 1`` and ``start + (count - 1) * stride + span <= L``.

    Examples
    --------
    >>> x, w = np.arange(24.0).reshape(1, 2, 12), np.ones((1, 2, 3))
    >>> if AVAILABLE:
    ...     assert np.array_equal(forward_window(x, 4, 5, w, None, 1, 1, 1),
    ...                           forward(x[..., 4:11], w, 1, 1, 1))
    """
    return run(x, w, bias, count, stride, dilation, groups, -start)


def run(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, lo: int, stride: int,
        dilation: int, groups: int, pad_left: int, out: np.ndarray | None = None) -> np.ndarray:
    """The kernels on ``x``, giving ``lo`` outputs: :func:`forward` past its checks.

    Nothing is checked (for callers that validated once, :mod:`conv1d.plan`): ``x``
    C-contiguous ``(N, C_in, L)`` in float32 or float64 (the computation's dtype), ``w``
    ``(C_out, C_in / groups, K)`` and ``bias`` ``(C_out,)`` or ``None`` (cast to it), ``lo``
    the output length of ``L`` samples with ``pad_left`` zeros on the left (and ``lo >= 0``).
    ``out``: where to write the result (returned), else a fresh array; a C-contiguous,
    writeable ``(N, C_out, lo)`` array in ``x``'s dtype that shares no memory with ``x``,
    ``w`` or ``bias`` (the kernels overwrite every element, so its contents do not matter).

    Examples
    --------
    >>> x, w = np.ones((1, 2, 8), np.float32), np.ones((3, 2, 3), np.float32)
    >>> if AVAILABLE:
    ...     assert np.array_equal(run(x, w, None, 8, 1, 1, 1, 1), forward(x, w, 1, 1, 1, None, 1, 1))
    """
    dtype = x.dtype
    n, c_in, length = x.shape
    c_out, cg, kernel = w.shape
    y = np.empty((n, c_out, lo), dtype) if out is None else out
    if y.size == 0:
        return y
    b = None if bias is None else np.ascontiguousarray(bias, dtype)
    dims = (n, c_in, length, c_out, kernel, lo, stride, dilation, groups, pad_left)
    macs = n * c_out * cg * kernel * lo
    mod = _mod
    if c_out // groups * 2 <= mod.OUT_BLOCK:  # _use_rows
        wc = np.ascontiguousarray(w, dtype)
        if macs < PARALLEL_MIN_MACS:  # one share: on this thread, no pool
            mod.forward_rows(x, wc, b, y, *dims, 0, n, 0, c_out, 0, lo)
            return y
        threads.parallel_map(
            lambda s: mod.forward_rows(x, wc, b, y, *dims, s[0], s[1], s[2], s[3], 0, lo),
            _shares(n, c_out, 1, macs))
        return y
    wp = _packed(w, groups, dtype, mod.OUT_BLOCK, macs)
    if macs < PARALLEL_MIN_MACS:
        mod.forward_dense(x, wp, b, y, *dims, 0, n, 0, lo)
        return y
    shares = _shares(n, lo, mod.POS_VECS * mod.VEC_BYTES // dtype.itemsize, macs)
    threads.parallel_map(
        lambda s: mod.forward_dense(x, wp, b, y, *dims, s[0], s[1], s[2], s[3]), shares)
    return y


def _ranges(count: int, macs: int, align: int = 1) -> list[tuple[int, int]]:
    """``[0, count)`` in one contiguous range per thread (one range for small calls), each
    but the last a multiple of ``align`` long."""
    parts = min(count, threads.workers if macs >= PARALLEL_MIN_MACS else 1)
    step = -(-count // max(parts, 1))
    step = -(-step // align) * align
    return [(a, min(count, a + step)) for a in range(0, count, step)]


#: ``grad_weight_dense`` (vectorised over output channels) needs at least a vector of output
#: channels per group and this many columns (input channels x taps) to beat ``grad_weight``
#: (vectorised over positions): with fewer, transposing each block of gy serves too few
#: column tiles. One thread, float32, AVX-512, GF/s old -> dense: resnet1d_ecg 187 -> 238,
#: pointwise 143 -> 216, hifigan_up8's 141 -> 224, seed_example 28 -> 91; below the line
#: har_small (15 columns) 95 -> 80, wav2vec_stem (10) 66 -> 48, tasnet_decoder's (16) 88 -> 81.
DENSE_GW_MIN_COLUMNS = 32


def _dense_grad_weight(og: int, columns: int, lanes: int) -> bool:
    return og >= lanes and columns >= DENSE_GW_MIN_COLUMNS


#: Packed weight bytes of the channel blocks one ``grad_input`` work item holds (kept in L2
#: while the item walks a sample's positions; its blocks share each gy window). One block per
#: item re-reads a sample's gy once per block (pointwise's input gradient, 32 blocks of
#: 16 KiB: 85 ms against 50-53 ms, one thread); all blocks in one item re-read the whole
#: weight per block of positions (HiFi-GAN's upsampler, 32 blocks of 256 KiB: 35 -> 24 ms
#: with one block per item, one thread).
GI_ITEM_BYTES = 256 << 10


def _blocks_per_item(blocks: int, block_bytes: int, rows: int, workers: int) -> int:
    """Channel blocks per ``grad_input`` work item: :data:`GI_ITEM_BYTES` of packed weight, but
    few enough that the (sample, group) rows give every worker an item."""
    cpi = max(1, min(blocks, GI_ITEM_BYTES // max(block_bytes, 1)))
    if rows < workers:
        cpi = min(cpi, max(1, -(-blocks // -(-workers // rows))))
    return cpi


def grad_input(
    gy: np.ndarray, w: np.ndarray, length: int, stride: int, dilation: int, groups: int,
    pad_left: int = 0, pad_right: int = 0, bias: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient with respect to the unpadded input of ``length`` samples.

    ``grad_input`` of ``grad_input.c`` on the weight packed by its ``grad_input_pack``, threads
    split over (sample, group, channel block) work items; the GEMM algorithm's on a padded
    copy if the kernel is not built. ``bias`` (``(C_in,)``, optional) is added to every
    position: a transposed convolution's forward is this with its bias.
    """
    dtype = np.result_type(gy, w)
    gy = np.ascontiguousarray(gy, dtype)
    n, c_out, lo = gy.shape
    _, cg, kernel = w.shape
    c_in = cg * groups
    if lo != _lo(length + pad_left + pad_right, kernel, stride, dilation) or c_out % groups:
        raise ValueError(f"native: grad_output {gy.shape} does not match length={length}, "
                         f"weight {w.shape}, pads {(pad_left, pad_right)}")
    gx = np.empty((n, c_in, length), dtype)
    if gx.size == 0:
        return gx
    b = None if bias is None else np.ascontiguousarray(bias, dtype)
    mod = _mod
    dims = (n, c_in, length, c_out, kernel, lo, stride, dilation, groups, pad_left)
    macs = n * c_out * cg * kernel * lo
    wp = _packed_grad_input(w, groups, dtype, macs)
    cpi = _blocks_per_item(wp.shape[1], wp[0, 0].nbytes, n * groups,
                           threads.workers if macs >= PARALLEL_MIN_MACS else 1)
    items = n * groups * -(-wp.shape[1] // cpi)
    if all(threads.parallel_map(lambda s: mod.grad_input(gx, gy, wp, b, *dims, cpi, *s),
                                _ranges(items, macs))):
        return gx
    gxp = gemm.grad_input(gy, w, length + pad_left + pad_right, stride, dilation, groups)
    gx = _padding.pad_backward(gxp, pad_left, pad_right, "zeros")
    return gx if b is None else gx + b[:, None]


def grad_weight(
    gy: np.ndarray, x: np.ndarray, kernel: int, stride: int, dilation: int, groups: int,
    pad_left: int = 0, pad_right: int = 0,
) -> np.ndarray:
    """Gradient with respect to the weight, ``x`` unpadded.

    ``grad_weight_dense`` of ``grad_weight_dense.c`` (vectorised over output channels) where
    a group has a vector of output channels and enough columns, else ``grad_weight`` of
    ``grad_weight.c`` (vectorised over positions: depthwise-like layers); threads split over
    output channels. The GEMM algorithm's on a padded copy if the kernel is not built.
    """
    dtype = np.result_type(gy, x)
    gy, xc = np.ascontiguousarray(gy, dtype), np.ascontiguousarray(x, dtype)
    n, c_out, lo = gy.shape
    _, c_in, length = xc.shape
    cg = c_in // groups
    if lo != _lo(length + pad_left + pad_right, kernel, stride, dilation) or c_in % groups:
        raise ValueError(f"native: grad_output {gy.shape} does not match input {x.shape}, "
                         f"kernel_size={kernel}, pads {(pad_left, pad_right)}")
    # 1x1 kernels too: since grad_weight.c keeps each block's gy rows in L2 it beats the BLAS
    # product per sample (pointwise, 2 threads, interleaved: 150-164 ms against 231-320).
    gw = np.empty((c_out, cg, kernel), dtype)
    if gw.size == 0:
        return gw
    if n == 0 or lo == 0:
        gw.fill(0)
        return gw
    mod = _mod
    dims = (n, c_in, length, c_out, kernel, lo, stride, dilation, groups, pad_left)
    macs = n * c_out * cg * kernel * lo
    lanes = mod.VEC_BYTES // dtype.itemsize
    if _dense_grad_weight(c_out // groups, cg * kernel, lanes):
        threads.parallel_map(lambda s: mod.grad_weight_dense(gw, gy, xc, *dims, *s),
                             _ranges(c_out, macs, align=lanes))
        return gw
    if all(threads.parallel_map(lambda s: mod.grad_weight(gw, gy, xc, *dims, pad_right, *s),
                                _ranges(c_out, macs))):
        return gw
    xp = _padding.pad(x, pad_left, pad_right, "zeros")
    return gemm.grad_weight(gy, xp, kernel, stride, dilation, groups)


# ----------------------------------------------------------------------- cost model
# Measured on the 2-core dev machine (AMD EPYC with AVX-512), float32, on the suite shapes, with
# one-thread CPU times of conv1d.functional.conv1d per algorithm scaled by 0.7 (the ratio of the
# GEMM model's 2-thread estimates to the GEMM algorithm's one-thread times on the same cases), so
# that both models speak in the same seconds. `python benchmarks/calibrate.py --only native`
# re-measures each constant below on the current machine (for the level loaded). Checked after
# the last kernel change: on all 11 suite cases "auto" picks the fastest algorithm both forward
# and forward+backward (native everywhere but long_depthwise and long_dense: fft).

#: Dense-tile FLOP rate per level in those units: resnet1d_ecg 370, pointwise 400, reflect_pad
#: 358, wavenet_dilated 477, grouped_g8 478, long_dense 340 G/s at AVX-512 (resnet1d_ecg runs
#: at 225-240 GF/s on one thread, 80-84% of fma_loop's peak); AVX2 and the baseline ran
#: resnet1d_ecg at 0.51x and 0.145x of the AVX-512 rate.
DENSE_FLOPS = {"avx512": 400e9, "avx2": 205e9, "baseline": 58e9}
#: Row-kernel FLOP rate per level: long_depthwise (K=1023) 118 G/s at AVX-512; the short
#: depthwise layers are memory-bound (BANDWIDTH) and barely see it.
ROWS_FLOPS = {"avx512": 118e9, "avx2": 80e9, "baseline": 40e9}
#: Main-memory bytes per second for one read of the input and one write of a fresh output,
#: the value the GEMM and direct models use (filling a new 67 MB array: 6.6 ms).
BANDWIDTH = 12e9
#: Per-call overhead (checks, weight packing, allocation, glue): 17 us for conv1d.functional
#: on a (1, 3, 20) input, 5 us of it in this module.
CALL_OVERHEAD_S = 5e-6
#: float64 halves the lanes and doubles the bytes.
FLOAT64_FACTOR = 2.0


def cost(problem: Problem) -> float:
    """Estimated seconds for the forward pass of ``problem``.

    The FLOPs at the level's rate (the dense tile's rate scaled by the share of its
    ``OUT_BLOCK`` rows that are real output channels), plus one read of the input and one
    write of the output at memory speed.

    Examples
    --------
    >>> from conv1d.algorithms import Problem
    >>> cost(Problem(32, 128, 128, kernel_size=7, length=1006)) < 0.1
    True
    """
    p = problem
    level = _level or "baseline"
    og = p.out_channels // p.groups
    lo = max(p.output_length, 0)
    item = 8 if p.dtype == "float64" else 4
    io = p.batch * item * (p.in_channels * p.length + p.out_channels * lo)
    if _mod is not None and _use_rows(og):
        t = p.flops / ROWS_FLOPS[level]
    else:
        ob = _mod.OUT_BLOCK if _mod is not None else 8
        useful = og / (-(-og // ob) * ob)
        t = p.flops / (DENSE_FLOPS[level] * useful)
    t += io / BANDWIDTH
    if p.dtype == "float64":
        t *= FLOAT64_FACTOR
    return CALL_OVERHEAD_S + t


def unsupported(problem: Problem) -> str | None:
    """The native kernels run every configuration: ``None``."""
    return None


ALGORITHM: Algorithm = Algorithm("native", forward, grad_input, grad_weight, unsupported, cost,
                      fuses_bias=True, zero_pads=True, grad_input_bias=True)
