"""Direct correlation for depthwise and few-channels-per-group layers.

Same contract as :mod:`conv1d.algorithms.reference`: already padded input, ``x: (N, C_in, L)``,
``w: (C_out, C_in/groups, K)``, ``y: (N, C_out, L_out)``.

A depthwise layer is ``C`` independent 1-channel filters: as GEMMs they are ``C`` tiny
matrix-vector products, each too small for BLAS. Here every (input channel, tap) pair is one
multiply-add over contiguous slices of many channels at once,
``y[n, g, o, t] += w[g, o, c, k] * x[n, g, c, k*d + s*t]``, on chunks small enough that the
accumulator stays in the L2 cache across the ``C_in/g * K`` passes (so memory traffic is about
one read of ``x`` and one write of ``y``). Chunks of whole (sample, group block) rows are
shared out among :data:`conv1d.threads.workers` threads; NumPy's loops release the GIL.

* **grad_input**: the same per-tap products, scattered back: ``gx[..., k*d + s*t] += ...``.
* **grad_weight**: a per-tap reduction over samples and positions, ``sum_t gy * x_tap``, as a
  batched matrix-vector product per chunk.

The work grows with ``C_in/g * K * C_out/g`` passes over the output, so the cost model sends
only small groups here; every configuration is supported.
"""

from __future__ import annotations

import numpy as np

from .. import threads
from . import Algorithm, Problem

__all__ = ["ALGORITHM", "cost", "forward", "grad_input", "grad_weight"]

#: Target bytes of one chunk's accumulator. Measured on depthwise_k4 forward (float32, one
#: thread, timed at 64 KiB-16 MiB chunks): 64 KiB-1 MiB chunks all take ~23 ms against ~64 ms for
#: whole-array passes; 256 KiB keeps accumulator + one temporary well inside the 2 MiB L2.
CHUNK_BYTES = 256 << 10
#: Below this many multiply-adds a call runs on one thread: handing chunks to the pool costs
#: ~50 us, about 1M multiply-adds at this loop's ~20 G/s rate.
PARALLEL_MIN_MACS = 1 << 20


def _lo(length: int, kernel: int, stride: int, dilation: int) -> int:
    return (length - dilation * (kernel - 1) - 1) // stride + 1


def _tap(a: np.ndarray, k: int, t0: int, t1: int, stride: int, dilation: int) -> np.ndarray:
    """Samples tap ``k`` multiplies for outputs ``t0 <= t < t1``: ``a[..., k*d + s*t]``."""
    start = k * dilation + stride * t0
    return a[..., start : start + stride * (t1 - t0 - 1) + 1 : stride]


def _units(n: int, groups: int, og: int, lo: int, itemsize: int):
    """Work units ``(sample, g0, g1, tb)``: group blocks whose ``(gb, og, tb)`` rows fit a chunk."""
    row = og * lo * itemsize
    if row <= CHUNK_BYTES:
        gb, tb = max(1, min(groups, CHUNK_BYTES // row)), lo
    else:
        gb, tb = 1, max(1, CHUNK_BYTES // (og * itemsize))
    return [(i, g0, min(groups, g0 + gb), tb) for i in range(n) for g0 in range(0, groups, gb)]


def _run(units, fn, macs: int):
    """Apply ``fn`` to every unit, split into one contiguous share per worker thread."""
    shares = threads.workers if macs >= PARALLEL_MIN_MACS else 1
    size = -(-len(units) // max(shares, 1))
    parts = [units[i : i + size] for i in range(0, len(units), max(size, 1))]
    return threads.parallel_map(lambda part: [fn(u) for u in part], parts)


def forward(
    x: np.ndarray, w: np.ndarray, stride: int, dilation: int, groups: int,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    dtype = np.result_type(x, w)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    n, _, length = x.shape
    c_out, cg, kernel = w.shape
    og = c_out // groups
    lo = _lo(length, kernel, stride, dilation)
    y = np.empty((n, groups, og, lo), dtype)
    xg = x.reshape(n, groups, cg, length)
    wg = w.reshape(groups, og, cg, kernel)
    bg = None if bias is None else bias.astype(dtype, copy=False).reshape(groups, og, 1)

    def unit(u):
        i, g0, g1, tb = u
        tmp = np.empty((g1 - g0, og, min(tb, lo)), dtype)
        for t0 in range(0, lo, tb):
            t1 = min(lo, t0 + tb)
            acc, tm = y[i, g0:g1, :, t0:t1], tmp[..., : t1 - t0]
            for c in range(cg):
                for k in range(kernel):
                    # (gb, 1, tl) * (gb, og, 1) -> (gb, og, tl)
                    tap = _tap(xg[i, g0:g1, c : c + 1], k, t0, t1, stride, dilation)
                    if c == 0 and k == 0:
                        np.multiply(tap, wg[g0:g1, :, 0, 0, None], out=acc)
                    else:
                        acc += np.multiply(tap, wg[g0:g1, :, c, k, None], out=tm)
            if bg is not None:  # while the chunk is in cache
                acc += bg[g0:g1]

    _run(_units(n, groups, og, lo, dtype.itemsize), unit, n * c_out * cg * kernel * lo)
    return y.reshape(n, c_out, lo)


def grad_input(
    gy: np.ndarray, w: np.ndarray, length: int, stride: int, dilation: int, groups: int
) -> np.ndarray:
    dtype = np.result_type(gy, w)
    gy, w = gy.astype(dtype, copy=False), w.astype(dtype, copy=False)
    n, c_out, lo = gy.shape
    _, cg, kernel = w.shape
    og = c_out // groups
    gx = np.zeros((n, groups, cg, length), dtype)
    gyg = gy.reshape(n, groups, og, lo)
    wg = w.reshape(groups, og, cg, kernel)

    def unit(u):
        # Units own disjoint (sample, group) rows of gx: no two threads add to the same sample.
        i, g0, g1, tb = u
        tmp = np.empty((g1 - g0, 1, min(tb, lo)), dtype)
        for t0 in range(0, lo, tb):
            t1 = min(lo, t0 + tb)
            g, tm = gyg[i, g0:g1, :, t0:t1], tmp[..., : t1 - t0]
            for c in range(cg):
                dst = gx[i, g0:g1, c : c + 1]
                for k in range(kernel):
                    if og == 1:
                        np.multiply(g, wg[g0:g1, :, c, k, None], out=tm)
                    else:  # (gb, 1, og) @ (gb, og, tl) -> (gb, 1, tl): sum over outputs
                        np.matmul(wg[g0:g1, None, :, c, k], g, out=tm)
                    _tap(dst, k, t0, t1, stride, dilation)[...] += tm

    _run(_units(n, groups, og, lo, dtype.itemsize), unit, n * c_out * cg * kernel * lo)
    return gx.reshape(n, groups * cg, length)


def grad_weight(
    gy: np.ndarray, x: np.ndarray, kernel: int, stride: int, dilation: int, groups: int
) -> np.ndarray:
    dtype = np.result_type(gy, x)
    gy, x = gy.astype(dtype, copy=False), x.astype(dtype, copy=False)
    n, c_out, lo = gy.shape
    _, c_in, length = x.shape
    cg, og = c_in // groups, c_out // groups
    gyg = gy.reshape(n, groups, og, lo)
    xg = x.reshape(n, groups, cg, length)

    def unit(u):
        i, g0, g1, tb = u
        part = np.zeros((g1 - g0, og, cg, kernel), dtype)
        for t0 in range(0, lo, tb):
            t1 = min(lo, t0 + tb)
            g = gyg[i, g0:g1, :, t0:t1]
            for c in range(cg):
                for k in range(kernel):
                    tap = _tap(xg[i, g0:g1, c : c + 1], k, t0, t1, stride, dilation)
                    # (gb, og, tl) @ (gb, tl, 1) -> (gb, og, 1): sum over positions
                    part[:, :, c, k] += np.matmul(g, tap.transpose(0, 2, 1))[..., 0]
        return g0, g1, part

    def share(part_units):
        acc = np.zeros((groups, og, cg, kernel), dtype)
        for g0, g1, part in map(unit, part_units):
            acc[g0:g1] += part
        return acc

    units = _units(n, groups, og, lo, dtype.itemsize)
    macs = n * c_out * cg * kernel * lo
    shares = threads.workers if macs >= PARALLEL_MIN_MACS else 1
    size = -(-len(units) // max(shares, 1))
    parts = [units[i : i + size] for i in range(0, len(units), max(size, 1))]
    gw = np.zeros((groups, og, cg, kernel), dtype)
    for acc in threads.parallel_map(share, parts):
        gw += acc
    return gw.reshape(c_out, cg, kernel)


# ----------------------------------------------------------------------- cost model
# Measured on the 2-core dev machine, float32; re-measure each one on another machine with:
# python benchmarks/calibrate.py

#: Main-memory bytes per second for one read of the input and one write of a fresh output
#: (filling a new 67 MB array: 6.6 ms; the same value as the GEMM algorithm's).
BANDWIDTH = 12e9
#: Seconds per element of one in-cache multiply or add pass: depthwise_k4's 134 M element
#: passes (K=4: 4 multiplies + 3 adds on 16.8 M outputs) take ~10 ms beyond the memory time.
S_PER_ELEMENT_PASS = 0.08e-9
#: Python and dispatch cost of one NumPy ufunc call on a chunk: 20 samples x 48 taps x 2 calls
#: of the seed example take 2.9 ms, ~1.5 us each.
UFUNC_CALL_S = 1.5e-6
#: Per-call overhead (units, thread hand-off): ~30 us on a (1, 4, 20) input.
CALL_OVERHEAD_S = 30e-6
#: float64: twice the bytes per element.
FLOAT64_FACTOR = 2.0


def cost(problem: Problem) -> float:
    """Estimated seconds for the forward pass of ``problem``.

    One read of the input and one write of the output at memory speed, ``2 * C_in/g * K``
    in-cache passes over every output chunk (multiply, add), and a ufunc call per pass.

    Examples
    --------
    >>> from conv1d.algorithms import Problem
    >>> cost(Problem(8, 512, 512, kernel_size=4, length=4102, groups=512)) < 0.05
    True
    """
    p = problem
    og, cg = p.out_channels // p.groups, p.in_channels // p.groups
    lo = max(p.output_length, 0)
    item = 8 if p.dtype == "float64" else 4
    units = _units(p.batch, p.groups, og, lo, item)
    blocks = sum(-(-lo // u[3]) for u in units[:1]) * len(units)
    passes = 2 * cg * p.kernel_size
    out = p.batch * p.out_channels * lo
    io_bytes = p.batch * item * (p.in_channels * p.length) + out * item
    t = io_bytes / BANDWIDTH + passes * out * S_PER_ELEMENT_PASS
    if p.dtype == "float64":
        t *= FLOAT64_FACTOR
    return CALL_OVERHEAD_S + blocks * passes * UFUNC_CALL_S + t


#: Most products summed per output (C_in/g * K). The loops add them one by one in the output's
#: dtype; beyond a few hundred terms float32 rounding drifts past 4x PyTorch's blocked sums
#: (measured at reduced suite sizes: 192 terms within, resnet1d_ecg's 896 at 4.03x). Those
#: shapes are GEMM's or the FFT's anyway.
MAX_TERMS = 256


def unsupported(problem: Problem) -> str | None:
    """A reason when an output sums more than :data:`MAX_TERMS` products, else ``None``."""
    terms = problem.in_channels // problem.groups * problem.kernel_size
    if terms > MAX_TERMS:
        return (f"direct sums C_in/groups * kernel_size = {terms} products per output one by one, "
                f"more than its {MAX_TERMS}-term accuracy limit; use 'gemm' or 'fft'")
    return None


ALGORITHM: Algorithm = Algorithm("direct", forward, grad_input, grad_weight, unsupported, cost,
                      fuses_bias=True)
