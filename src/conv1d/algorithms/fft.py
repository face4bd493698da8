"""FFT correlation (overlap-save) for long kernels, grouped or dense.

Same contract as :mod:`conv1d.algorithms.reference`: already padded input, ``x: (N, C_in, L)``,
``w: (C_out, C_in/groups, K)``, ``y: (N, C_out, L_out)``.

How it works
------------
* **Stride and dilation, polyphase.** Tap ``k`` reads ``x[s*t + d*k]``. Writing ``d*k = s*m + r``
  (``0 <= r < s``), that is ``x_r[t + m]`` with the phase ``x_r = x[r::s]``: a stride-1
  correlation of each phase with a zero-stuffed kernel whose taps sit at ``m = d*k // s``.
  The phases become extra input channels, so strided and dilated convolutions cost about what
  a stride-1 one of the same output length costs (no work on outputs that are thrown away).
* **Overlap-save** (Oppenheim & Schafer, "Discrete-Time Signal Processing", 3rd ed., sec. 8.7.3):
  blocks of ``F`` input samples (``F`` from ``scipy.fft.next_fast_len``) give ``F - M`` exact
  outputs each, for a kernel ``M + 1`` samples long; blocks are processed a chunk at a time so
  the working memory stays near :data:`CHUNK_BYTES`, whatever the signal length.
* **Channel mixing in the frequency domain**: per group and frequency, a small matrix product
  over channels (one ``np.matmul`` batched over groups and frequencies); depthwise layers
  multiply elementwise.
* **Gradients** are the same machinery: ``grad_input`` is the full convolution of ``gy`` with
  the kernel (a correlation with the reversed kernel, written back phase by phase), and
  ``grad_weight`` correlates ``x`` with ``gy`` block by block, summing the products of spectra
  over the batch and the blocks before one inverse FFT.
* **NaN and Inf.** One non-finite sample turns a whole FFT block non-finite. Results are
  therefore checked (one pass): outputs that came out non-finite are recomputed with the
  reference algorithm on just the input they depend on, so non-finite values land exactly where
  PyTorch puts them. ``grad_weight`` (a sum over everything) checks its inputs instead and
  computes the blocks that hold non-finite samples directly.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import threads
from . import Algorithm, Problem, reference

__all__ = ["ALGORITHM", "cost", "forward", "grad_input", "grad_weight", "next_fast_len", "plan"]

#: Target size in bytes of one chunk's real-valued block buffer. Measured: float32 long_dense /
#: long_depthwise forward times are flat from 2 to 16 MiB and the chunk's working set (real
#: buffer, two spectra, transposed copies, the block results) stays ~6x this, well under the
#: 64 MiB working-memory bound.
CHUNK_BYTES = 4 << 20

#: Smallest FFT length tried per block (unless one block holds everything). Shorter blocks cost
#: more in per-block overhead (scipy.fft per line, the per-frequency matmuls) than they save:
#: a K=3 depthwise layer ran ~20x slower with 6-sample blocks than with 1024-sample ones.
MIN_FFT = 1024

#: Largest FFT length tried per block. Beyond it scipy.fft's time per sample grows (cache):
#: 1.5 ns/sample at 4096, 1.85 at 65536, 3.4 at 131072 (float32 rfft, 64 lines, this machine).
MAX_FFT = 1 << 16


def _workers() -> int:
    """Threads to use (:func:`conv1d.set_num_threads`)."""
    return threads.get_num_threads()


def _run(tasks, work, workers):
    """``work(task)`` for every task, on ``workers`` threads (NumPy and scipy.fft release the GIL)."""
    if workers <= 1 or len(tasks) <= 1:
        return [work(t) for t in tasks]
    return threads.parallel_map(work, tasks)


# --------------------------------------------------------------------------- planning


@functools.lru_cache(maxsize=1024)
def next_fast_len(target: int) -> int:
    """The smallest ``2**a * 3**b * 5**c >= target``: ``scipy.fft.next_fast_len(target, real=True)``.

    Computed here so that planning and the cost model, which run for every ``"auto"`` choice,
    never import SciPy (~170 ms); ``scipy.fft`` is imported when an FFT actually runs.

    Examples
    --------
    >>> next_fast_len(1000), next_fast_len(1025), next_fast_len(7)
    (1000, 1080, 8)
    """
    if target <= 1:
        return max(target, 0)
    best = 1 << (target - 1).bit_length()  # the next power of two
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            q = -(-target // p35)  # smallest multiplier, rounded up to a power of two below
            best = min(best, p35 << (q - 1).bit_length())
            p35 *= 3
        p5 *= 5
    return best


def plan(span_m: int, out_len: int) -> tuple[int, int]:
    """FFT length ``F`` and outputs per block ``B = F - span_m`` for a kernel ``span_m + 1`` long.

    Minimises the FFT work per output, ``F log2 F / B``, over fast lengths from the smallest
    that fits the kernel up to :data:`MAX_FFT`, never longer than one block holding everything.

    Examples
    --------
    >>> plan(1022, 16384)
    (8192, 7170)
    """
    whole = next_fast_len(out_len + span_m)
    best = (math.inf, whole)
    f = next_fast_len(max(span_m + 1, min(MIN_FFT, whole)))
    while True:
        f = min(f, whole)
        b = min(f - span_m, out_len)
        per_output = f * math.log2(max(f, 2)) / b
        best = min(best, (per_output, f))
        if f >= whole or f >= MAX_FFT:
            break
        f = next_fast_len(2 * f)
    f = best[1]
    return f, f - span_m


class _Phases:
    """Polyphase view of a strided, dilated kernel: tap ``k`` -> phase ``i``, offset ``m``."""

    def __init__(self, kernel: int, stride: int, dilation: int):
        self.stride = stride
        self.step = math.gcd(dilation, stride)  # phases that hold taps: r = 0, step, 2*step, ...
        self.count = stride // self.step
        taps = dilation * np.arange(kernel)
        self.phase = (taps % stride) // self.step
        self.offset = taps // stride
        self.span_m = int(self.offset[-1])  # the zero-stuffed kernel is span_m + 1 long

    def stuff(self, w: np.ndarray) -> np.ndarray:
        """``(C_out, C_g, K) -> (C_out, C_g, P, M+1)`` zero-stuffed, one row per phase."""
        h = np.zeros((*w.shape[:2], self.count, self.span_m + 1), dtype=w.dtype)
        h[:, :, self.phase, self.offset] = w
        return h

    def unstuff(self, h: np.ndarray) -> np.ndarray:
        return h[:, :, self.phase, self.offset]

    def length(self, i: int, total: int) -> int:
        """Samples in phase ``i`` of a signal ``total`` long."""
        return max(0, -(-(total - i * self.step) // self.stride))


# ------------------------------------------------------------------ blocks in and out


def _gather(out, a, first, step, length, start, hop):
    """Blocks of the sequence ``seq[j] = a[..., first + step*j]`` (zero outside ``0 <= j < length``).

    ``out[..., b, :]`` receives ``seq[start + b*hop : start + b*hop + F]``; ``out`` is
    ``(n, C, nb, F)`` and ``a`` is ``(n, C, L)``.
    """
    nb, f = out.shape[-2:]
    lo_b = 0 if start >= 0 else min(nb, (hop - 1 - start) // hop)  # first block with j0 >= 0
    room = length - f - start  # last block ending inside the sequence: j0 + F <= length
    hi_b = max(lo_b, min(nb, room // hop + 1)) if room >= 0 else lo_b
    if hi_b > lo_b:
        j0 = start + lo_b * hop
        s0, s1, s2 = a.strides
        base = a[..., first + step * j0 :]
        out[..., lo_b:hi_b, :] = as_strided(
            base, (a.shape[0], a.shape[1], hi_b - lo_b, f), (s0, s1, hop * step * s2, step * s2),
            writeable=False,
        )
    for b in [*range(lo_b), *range(hi_b, nb)]:
        j0 = start + b * hop
        lo, hi = max(j0, 0), min(j0 + f, length)
        out[..., b, :] = 0
        if hi > lo:
            out[..., b, lo - j0 : hi - j0] = a[..., first + step * lo : first + step * (hi - 1) + 1 : step]


def _scatter(dst, z, first, step, length, start):
    """Inverse of :func:`_gather` without overlap: ``seq[start + b*B + u] = z[..., b, u]``."""
    nb, hop = z.shape[-2:]
    for b in range(nb):  # a handful of blocks per chunk: the copies dominate, not the loop
        j0 = start + b * hop
        hi = min(j0 + hop, length)
        if hi > j0:
            dst[..., first + step * j0 : first + step * (hi - 1) + 1 : step] = z[..., b, : hi - j0]


def _chunks(n, block_bytes, nb, workers):
    """``(n0, n1, b0, b1)`` chunks of batch rows and blocks: at most :data:`CHUNK_BYTES` each,
    and at least ``workers`` of them when there is enough work."""
    per = max(1, min(CHUNK_BYTES // max(block_bytes, 1), -(-n * nb // workers)))
    if per >= nb:
        rows = per // nb
        return [(n0, min(n, n0 + rows), 0, nb) for n0 in range(0, n, rows)]
    return [(n0, n0 + 1, b0, min(nb, b0 + per)) for n0 in range(n) for b0 in range(0, nb, per)]


# ----------------------------------------------------------------- spectral products


def _mix(spec_in, kern):
    """``Z[n,g,o,b,f] = sum_c K[g,o,c,f] * spec_in[n,g,c,b,f]``, the channel mixing.

    ``kern`` is ``K`` as ``(g, o, 1, fh)`` when ``c == 1``, else as ``(g, fh, o, c)``.
    """
    n, g, c, nb, fh = spec_in.shape
    if c == 1:  # depthwise (times a multiplier): elementwise, in place when possible
        k = kern[None, :, :, :, :]  # (1, g, o, 1, fh)
        if kern.shape[1] == 1:
            spec_in *= k
            return spec_in
        return spec_in * k
    o = kern.shape[2]
    # (n, g, c, nb, fh) -> (g, fh, c, n*nb): one small matmul per group and frequency
    a = np.ascontiguousarray(spec_in.transpose(1, 4, 2, 0, 3)).reshape(g, fh, c, n * nb)
    z = np.matmul(kern, a).reshape(g, fh, o, n, nb)
    return np.ascontiguousarray(z.transpose(3, 0, 2, 4, 1))  # (n, g, o, nb, fh)


def _correlate(a: np.ndarray, h: np.ndarray, groups: int, phases: _Phases, out_len: int, start: int,
               out: Callable[[int, int, int, np.ndarray], None]) -> None:
    """Valid multi-channel correlation, the engine of ``forward`` and ``grad_input``.

    ``a: (N, groups*Ca, La)`` read as ``Ca * phases.count`` channels per group (phase ``i`` of
    channel ``c`` is ``a[:, c, i*step::stride]``, samples ``start + ...``), ``h: (groups*O,
    Ca*P, M+1)``; ``out(n0, n1, b0, z)`` receives ``z: (n, groups*O, nb, B)``, the outputs
    ``seq[u] = sum_{c,m} h[o, c, m] * in_c[u + m]`` for the blocks ``b0 .. b0+nb``.
    """
    import scipy.fft  # here, not at the top: `import conv1d` stays free of SciPy

    sfft: Any = scipy.fft  # its uarray-dispatched functions type-check as returning tuples

    n, ca, _ = a.shape
    p = phases.count
    span_m = h.shape[-1] - 1
    f, hop = plan(span_m, out_len)
    nb = -(-out_len // hop)
    o = h.shape[0] // groups
    cp = h.shape[1]
    workers = _workers()
    # conj: correlation, not convolution. (groups, O, C*P, fh)
    kern = np.conj(sfft.rfft(h.reshape(groups, o, cp, -1), f, axis=-1, workers=workers))
    kern = kern if cp == 1 else np.ascontiguousarray(kern.transpose(0, 3, 1, 2))
    lengths = [phases.length(i, a.shape[-1]) for i in range(p)]
    buf_dtype = np.result_type(a, h)
    chunks = _chunks(n, (ca * p + groups * o) * f * buf_dtype.itemsize, nb, workers)

    def work(chunk):
        with np.errstate(all="ignore"):  # non-finite blocks are repaired afterwards
            run(*chunk)

    def run(n0, n1, b0, b1):
        buf = np.empty((n1 - n0, ca, p, b1 - b0, f), dtype=buf_dtype)
        for i in range(p):
            _gather(buf[:, :, i], a[n0:n1], i * phases.step, phases.stride, lengths[i],
                    start + b0 * hop, hop)
        spec = sfft.rfft(buf.reshape(n1 - n0, groups, cp, b1 - b0, f), axis=-1, overwrite_x=True)
        del buf
        z = sfft.irfft(_mix(spec, kern), f, axis=-1, overwrite_x=True)
        out(n0, n1, b0, z[..., :hop].reshape(n1 - n0, groups * o, b1 - b0, hop))

    _run(chunks, work, workers)


# --------------------------------------------------------------- non-finite fallback


def _runs(mask):
    """``(start, stop)`` of each run of ``True`` in a 1-D boolean mask."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    return zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True)


def _repair_forward(y, x, w, stride, dilation, groups):
    """Recompute the non-finite outputs of ``y`` with the reference, in place."""
    span = dilation * (w.shape[-1] - 1) + 1
    for i in np.flatnonzero(~np.isfinite(y).all(axis=(1, 2))):
        for t0, t1 in _runs(~np.isfinite(y[i]).all(axis=0)):
            xs = x[i : i + 1, :, stride * t0 : stride * (t1 - 1) + span]
            y[i, :, t0:t1] = reference.forward(xs, w, stride, dilation, groups)[0]


def _repair_grad_input(gx, gy, w, stride, dilation, groups):
    """Recompute the non-finite entries of ``gx`` with the reference, in place."""
    span = dilation * (w.shape[-1] - 1) + 1
    lo = gy.shape[-1]
    for i in np.flatnonzero(~np.isfinite(gx).all(axis=(1, 2))):
        for j0, j1 in _runs(~np.isfinite(gx[i]).all(axis=0)):
            t0 = max(0, -(-(j0 - span + 1) // stride))
            t1 = min(lo, (j1 - 1) // stride + 1)
            if t1 <= t0:  # no output reads these samples: their gradient is exactly 0
                gx[i, :, j0:j1] = 0
                continue
            part = reference.grad_input(gy[i : i + 1, :, t0:t1], w, stride * (t1 - t0 - 1) + span,
                                        stride, dilation, groups)[0]
            gx[i, :, j0:j1] = 0
            lo_j, hi_j = max(j0, stride * t0), min(j1, stride * t0 + part.shape[-1])
            gx[i, :, lo_j:hi_j] = part[:, lo_j - stride * t0 : hi_j - stride * t0]


def _finite(a: np.ndarray) -> bool:
    """Whether every entry is finite: one summing pass (a sum that overflows says no, safely:
    the caller then looks closer)."""
    with np.errstate(all="ignore"):
        return bool(np.isfinite(np.sum(a)))


# ------------------------------------------------------------------------ the contract


def forward(x: np.ndarray, w: np.ndarray, stride: int, dilation: int, groups: int) -> np.ndarray:
    """Correlate a padded ``(N, C_in, L)`` signal with ``w`` by FFT (see the module notes).

    Examples
    --------
    >>> import numpy as np
    >>> x, w = np.ones((1, 2, 10)), np.ones((4, 2, 5))
    >>> y = forward(x, w, stride=2, dilation=1, groups=1)
    >>> y.shape, round(float(y[0, 0, 0]), 6)
    ((1, 4, 3), 10.0)
    """
    n, _, length = x.shape
    c_out, _, kernel = w.shape
    lo = (length - dilation * (kernel - 1) - 1) // stride + 1
    dtype = np.result_type(x, w)
    y = np.empty((n, c_out, lo), dtype=dtype)
    if n == 0:
        return y
    phases = _Phases(kernel, stride, dilation)
    h = phases.stuff(w).reshape(c_out, -1, phases.span_m + 1)

    def put(n0, n1, b0, z):
        _scatter(y[n0:n1], z, 0, 1, lo, b0 * z.shape[-1])

    _correlate(x, h, groups, phases, lo, 0, put)
    if not _finite(y):
        _repair_forward(y, x, w, stride, dilation, groups)
    return y


def grad_input(
    gy: np.ndarray, w: np.ndarray, length: int, stride: int, dilation: int, groups: int
) -> np.ndarray:
    """Gradient with respect to the padded input: ``gy`` fully convolved with ``w``.

    Examples
    --------
    >>> import numpy as np
    >>> gx = grad_input(np.ones((1, 4, 3)), np.ones((4, 2, 5)), 10, 2, 1, 1)
    >>> gx.shape, np.round(gx[0, 0], 6).tolist()
    ((1, 2, 10), [4.0, 4.0, 8.0, 8.0, 12.0, 8.0, 8.0, 4.0, 4.0, 0.0])
    """
    n, c_out, _ = gy.shape
    _, cg, kernel = w.shape
    og = c_out // groups
    dtype = np.result_type(gy, w)
    gx = np.zeros((n, cg * groups, length), dtype=dtype)
    if n == 0:
        return gx
    phases = _Phases(kernel, stride, dilation)
    p, m = phases.count, phases.span_m
    # (C_out, C_g, P, M+1) -> per group (C_g*P, O_g, M+1), taps reversed: a convolution
    h = phases.stuff(w).reshape(groups, og, cg * p, m + 1).transpose(0, 2, 1, 3)[..., ::-1]
    h = h.reshape(groups * cg * p, og, m + 1)
    out_len = phases.length(0, length)
    gxv = gx.reshape(n, groups * cg, length)

    def put(n0, n1, b0, z):
        z = z.reshape(n1 - n0, groups * cg, p, z.shape[-2], z.shape[-1])
        for i in range(p):
            _scatter(gxv[n0:n1], z[:, :, i], i * phases.step, stride, phases.length(i, length),
                     b0 * z.shape[-1])

    _correlate(gy, h, groups, _Phases(1, 1, 1), out_len, -m, put)
    if not _finite(gx):
        _repair_grad_input(gx, gy, w, stride, dilation, groups)
    return gx


def grad_weight(
    gy: np.ndarray, x: np.ndarray, kernel: int, stride: int, dilation: int, groups: int
) -> np.ndarray:
    """Gradient with respect to the weight: ``x`` correlated with ``gy``, summed over the batch.

    Examples
    --------
    >>> import numpy as np
    >>> gw = grad_weight(np.ones((1, 4, 3)), np.ones((1, 2, 10)), 5, 2, 1, 1)
    >>> gw.shape, round(float(gw[0, 0, 0]), 6)
    ((4, 2, 5), 3.0)
    """
    import scipy.fft  # here, not at the top: `import conv1d` stays free of SciPy

    sfft: Any = scipy.fft  # its uarray-dispatched functions type-check as returning tuples

    n, c_out, lo = gy.shape
    _, c_in, length = x.shape
    cg, og = c_in // groups, c_out // groups
    dtype = np.result_type(gy, x)
    phases = _Phases(kernel, stride, dilation)
    p, m = phases.count, phases.span_m
    if n == 0:
        return np.zeros((c_out, cg, kernel), dtype=dtype)
    bad = None
    if not (_finite(gy) and _finite(x)):
        bad = _bad_blocks(gy, x, phases, lo, length)
    f, hop = plan(m, lo)
    nb = -(-lo // hop)
    fh = f // 2 + 1
    workers = _workers()
    lengths = [phases.length(i, length) for i in range(p)]
    chunks = _chunks(n, (c_out + c_in * p) * f * dtype.itemsize, nb, workers)

    # One running sum per thread: memory does not grow with the number of chunks.
    sums: dict[int, np.ndarray] = {}

    def work(chunk):
        with np.errstate(all="ignore"):  # overflow only: non-finite inputs were set aside
            part = run(*chunk)
        key = threading.get_ident()
        if key in sums:
            sums[key] += part
        else:
            sums[key] = part

    def run(n0, n1, b0, b1):
        rows, nbc = n1 - n0, b1 - b0
        gbuf = np.zeros((rows, c_out, nbc, f), dtype=dtype)
        _gather(gbuf[..., :hop], gy[n0:n1], 0, 1, lo, b0 * hop, hop)
        xbuf = np.empty((rows, c_in, p, nbc, f), dtype=dtype)
        for i in range(p):
            _gather(xbuf[:, :, i], x[n0:n1], i * phases.step, stride, lengths[i], b0 * hop, hop)
        if bad is not None:  # blocks with non-finite samples are summed directly below
            ri, bi = bad[n0:n1, b0:b1].nonzero()
            gbuf[ri, :, bi] = 0
            xbuf[ri, :, :, bi] = 0
        gs = sfft.rfft(gbuf.reshape(rows, groups, og, nbc, f), axis=-1, overwrite_x=True)
        xs = sfft.rfft(xbuf.reshape(rows, groups, cg * p, nbc, f), axis=-1, overwrite_x=True)
        del gbuf, xbuf
        np.conjugate(gs, out=gs)
        if og == 1 and cg * p == 1:
            return np.einsum("ngbf,ngbf->gf", gs[:, :, 0], xs[:, :, 0])[:, :, None, None]
        # (n, g, o, nb, fh) @ (n, g, c, nb, fh) -> (g, fh, o, c), summed over n and nb
        a = np.ascontiguousarray(gs.transpose(1, 4, 2, 0, 3)).reshape(groups, fh, og, -1)
        b = np.ascontiguousarray(xs.transpose(1, 4, 0, 3, 2)).reshape(groups, fh, -1, cg * p)
        return np.matmul(a, b)

    _run(chunks, work, workers)
    acc = functools.reduce(np.add, sums.values())  # (groups, fh, O_g, C_g*P)
    lags = sfft.irfft(acc.transpose(0, 2, 3, 1), f, axis=-1, workers=workers)[..., : m + 1]
    gw = phases.unstuff(lags.reshape(c_out, cg, p, m + 1)).astype(dtype, copy=False)
    if bad is not None:
        for i, b in zip(*np.nonzero(bad), strict=True):
            t0, t1 = b * hop, min(lo, (b + 1) * hop)
            xs = x[i : i + 1, :, stride * t0 : stride * (t1 - 1) + dilation * (kernel - 1) + 1]
            gw += reference.grad_weight(gy[i : i + 1, :, t0:t1], xs, kernel, stride, dilation,
                                        groups)
    return np.ascontiguousarray(gw)


def _bad_blocks(gy, x, phases, lo, length):
    """``(N, nb)`` mask of the overlap-save blocks whose ``gy`` or ``x`` samples are not finite."""
    hop = plan(phases.span_m, lo)[1]
    nb = -(-lo // hop)
    span = (phases.span_m + 1) * phases.stride
    gbad = ~np.isfinite(gy).all(axis=1)  # (N, L_out)
    xbad = ~np.isfinite(x).all(axis=1)  # (N, L)
    bad = np.zeros((gy.shape[0], nb), dtype=bool)
    for b in range(nb):
        t0, t1 = b * hop, min(lo, (b + 1) * hop)
        xs = xbad[:, phases.stride * t0 : phases.stride * t1 + span]
        bad[:, b] = gbad[:, t0:t1].any(axis=1) | xs.any(axis=1)
    return bad


# ----------------------------------------------------------------------- cost model

#: Seconds per (sample x log2 F) of a float32 real FFT, forward or inverse. Measured with
#: scipy.fft.rfft/irfft on (64, F) float32 arrays, F = 1024 ... 16384, workers=1: 1.3-1.7 ns per
#: sample, i.e. about 0.12 ns per sample per log2 F. Every constant of this model is
#: re-measured on the current machine by: python benchmarks/calibrate.py
FFT_S_PER_SAMPLE_LOG = 0.13e-9
#: Seconds per complex multiply-add of the channel mixing (np.matmul batched over frequencies,
#: (2049, 8, 8) @ (2049, 8, 38) complex64: 1.07 ms for 5.0M multiply-adds), and of the elementwise
#: depthwise product, which is memory-bound (in-place complex64 multiply: ~1 ns each).
MIX_S_PER_CMAC = 0.25e-9
MIX_S_PER_ELEMENTWISE = 1.0e-9
#: Seconds per sample copied into or out of the block buffers (gather, transposes, scatter):
#: strided float32 copies run at ~1-2 GB/s here, about 0.5 ns per 4-byte sample each way.
COPY_S_PER_SAMPLE = 0.5e-9
#: Python and allocation overhead of one call (plan, kernel FFT, a chunk or two): ~150 us
#: measured on a (1, 1, 64) signal with K=3.
CALL_OVERHEAD_S = 150e-6
#: float64 FFTs and products take about 1.8x the float32 time (2.2 vs 1.5 ns/sample
#: at 4096, 3.5 vs 1.7 at 16384).
FLOAT64_FACTOR = 1.8


def cost(problem: Problem) -> float:
    """Estimated seconds for the forward pass of ``problem`` (a :class:`~conv1d.algorithms.Problem`).

    FFTs of every input and output block, the channel mixing per frequency, the copies into and
    out of block buffers, and a fixed per-call overhead, from the constants above.

    Examples
    --------
    >>> from conv1d.algorithms import Problem
    >>> long = Problem(4, 64, 64, 1023, 16384 + 1022, groups=64)
    >>> short = Problem(4, 64, 64, 3, 16384 + 2, groups=64)
    >>> cost(long) < 0.05 and cost(short) > CALL_OVERHEAD_S
    True
    """
    if problem.batch == 0:
        return CALL_OVERHEAD_S
    phases = _Phases(problem.kernel_size, problem.stride, problem.dilation)
    lo = problem.output_length
    f, hop = plan(phases.span_m, lo)
    blocks = problem.batch * -(-lo // hop)
    g = problem.groups
    cin = problem.in_channels // g * phases.count
    cout = problem.out_channels // g
    fh = f // 2 + 1
    ffts = blocks * g * (cin + cout) * f * math.log2(f) * FFT_S_PER_SAMPLE_LOG
    if cin == 1:
        mix = blocks * g * cout * fh * MIX_S_PER_ELEMENTWISE
    else:
        transposes = 2 * blocks * g * (cin + cout) * fh * COPY_S_PER_SAMPLE
        mix = blocks * g * cin * cout * fh * MIX_S_PER_CMAC + transposes
    copies = blocks * g * (cin + cout) * f * COPY_S_PER_SAMPLE
    kern = problem.out_channels * cin * f * math.log2(f) * FFT_S_PER_SAMPLE_LOG
    total = ffts + mix + copies + kern
    if problem.dtype == "float64":
        total *= FLOAT64_FACTOR
    return CALL_OVERHEAD_S + total


#: Largest kernel spectrum (complex, ``C_out x C_in/groups x phases x (F/2+1)``) FFT will hold:
#: with the chunk buffers it must fit the 64 MiB working-memory bound of a call.
MAX_SPECTRUM_BYTES = 32 << 20


def unsupported(problem: Problem) -> str | None:
    """Why FFT cannot run ``problem`` (its kernel spectrum would not fit in memory), else ``None``.

    Examples
    --------
    >>> from conv1d.algorithms import Problem
    >>> unsupported(Problem(2, 8, 8, 513, 66048)) is None
    True
    """
    phases = _Phases(problem.kernel_size, problem.stride, problem.dilation)
    f, _ = plan(phases.span_m, problem.output_length)
    item = 16 if problem.dtype == "float64" else 8
    cg = problem.in_channels // problem.groups
    size = problem.out_channels * cg * phases.count * (f // 2 + 1) * item
    if size > MAX_SPECTRUM_BYTES:
        return (f"the kernel's spectrum would take {size / 2**20:.0f} MiB, over the "
                f"{MAX_SPECTRUM_BYTES >> 20} MiB FFT allows (FFT suits long kernels on few "
                f"channels per group; C_out={problem.out_channels}, C_in/groups={cg}, "
                f"FFT length {f})")
    return None


ALGORITHM: Algorithm = Algorithm("fft", forward, grad_input, grad_weight, unsupported, cost)
