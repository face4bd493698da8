"""GEMM correlation: im2col in bounded chunks, one BLAS matrix product per chunk.

Same contract as :mod:`conv1d.algorithms.reference`: already padded input, ``x: (N, C_in, L)``,
``w: (C_out, C_in/groups, K)``, ``y: (N, C_out, L_out)``.

How it works
------------
* **Forward.** For a chunk of samples and output positions, the columns
  ``cols[n, g, (c, k), t] = x[n, g*C_in/g + c, k*d + s*t]`` are copied out of ``x``
  (one slice copy per tap), then one ``np.matmul`` per chunk, batched over samples and
  groups, computes ``y[n, g] = W[g] @ cols[n, g]`` with inner dimension ``C_in/g * K`` straight
  into the output (Chellapilla, Puri & Simard, "High Performance Convolutional Neural Networks
  for Document Processing", 2006). A chunk's columns take about :data:`CHUNK_BYTES`, so the
  K-times-larger im2col matrix never exists in full, and the chunk stays in cache between the
  copy and the product. A bias rides in the same product: a last weight column against a
  row of ones in the columns.
* **grad_input** is the adjoint: ``gcols = W[g]^T @ gy[n, g]`` per chunk, then col2im, one
  strided add per tap (``gx[..., k*d + s*t] += gcols[..., k, t]``).
* **grad_weight** is ``sum_n gy[n, g] @ cols[n, g]^T``, chunk by chunk.
* 1x1 kernels at stride 1 skip the copy: the input is already the column matrix (forward and
  grad_weight), and grad_input is the forward's product with the transposed weight.

A NaN or Inf reaches only the outputs whose products include it, exactly as in the reference.
"""

from __future__ import annotations

import numpy as np

from . import Algorithm, Problem

__all__ = ["ALGORITHM", "cost", "forward", "grad_input", "grad_weight"]

#: Target size in bytes of one chunk's column buffer. Measured on reflect_pad and
#: wavenet_dilated forward (float32, 2 threads, timed at 1-16 MiB chunks): 1 MiB chunks lose
#: ~10% to per-call overhead, 2-16 MiB are within noise, and a whole 8192-column sample of
#: reflect_pad (15 MiB) already spills the 2 MiB L2 between the copy and the product.
CHUNK_BYTES = 4 << 20
#: Fewest output positions per chunk when one sample's columns exceed CHUNK_BYTES: narrower
#: column blocks make OpenBLAS's packing dominate (measured: 64-column GEMMs run at ~40% of the
#: rate of 1024-column ones on (64 x 448) weights).
MIN_COLUMNS = 256


def _lo(length: int, kernel: int, stride: int, dilation: int) -> int:
    return (length - dilation * (kernel - 1) - 1) // stride + 1


def _plan(n: int, lo: int, bytes_per_column: int) -> tuple[int, int]:
    """Samples ``nb`` and output positions ``tb`` per chunk for ~:data:`CHUNK_BYTES` of columns."""
    per_column = max(bytes_per_column, 1)
    tb = max(min(lo, MIN_COLUMNS), CHUNK_BYTES // per_column)
    if tb >= lo:
        return max(1, min(n, CHUNK_BYTES // (per_column * max(lo, 1)))), max(lo, 1)
    return 1, tb


def _chunks(n: int, lo: int, nb: int, tb: int):
    for n0 in range(0, n, nb):
        for t0 in range(0, lo, tb):
            yield n0, min(n, n0 + nb), t0, min(lo, t0 + tb)


def _columns(x, n0, n1, t0, t1, kernel, stride, dilation, groups, buf, ones=False):
    """im2col of one chunk into ``buf``: ``(m, G, C_in/g * K, t1 - t0)``, plus a last row of
    ones per group, ``(m, G, C_in/g * K + 1, t1 - t0)``, when ``ones`` (the bias's column)."""
    m, c_in, tl = n1 - n0, x.shape[1], t1 - t0
    cg = c_in // groups
    rows = cg * kernel + ones
    padded = buf[: m * groups * rows * tl].reshape(m, groups, rows, tl)
    if ones:
        padded[:, :, -1] = 1
    cols = padded[:, :, : cg * kernel].reshape(m, groups, cg, kernel, tl)
    xs = x[n0:n1].reshape(m, groups, cg, x.shape[2])
    # (m, C_in, L) -> (m, G, C_in/g, K, tl): tap k, position t reads x[..., k*d + s*(t0 + t)].
    # One slice copy per tap: as cheap per element as one copy of an as_strided view, and
    # ~10 us less per call (as_strided's Python set-up), which counts on small layers.
    for k in range(kernel):
        start = k * dilation + stride * t0
        np.copyto(cols[:, :, :, k], xs[..., start : start + stride * (tl - 1) + 1 : stride])
    return padded


def _blasable(a: np.ndarray) -> np.ndarray:
    """``a`` itself if its rows are contiguous (what BLAS takes), else a contiguous copy."""
    if a.strides[-1] == a.itemsize or a.shape[-1] <= 1:
        return a
    return np.ascontiguousarray(a)


def forward(
    x: np.ndarray, w: np.ndarray, stride: int, dilation: int, groups: int,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    dtype = np.result_type(x, w)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    n, c_in, length = x.shape
    c_out, cg, kernel = w.shape
    og = c_out // groups
    lo = _lo(length, kernel, stride, dilation)
    y = np.empty((n, c_out, lo), dtype)
    wg = np.ascontiguousarray(w).reshape(groups, og, cg * kernel)
    bg = None if bias is None else bias.astype(dtype, copy=False).reshape(groups, og, 1)
    nb, tb = _plan(n, lo, c_in * kernel * dtype.itemsize)
    if kernel == 1 and stride == 1 and x.strides[-1] == dtype.itemsize:
        # A 1x1 kernel at stride 1: the input already is the column matrix.
        for n0, n1, t0, t1 in _chunks(n, lo, nb, tb):
            xs = x[n0:n1, :, t0:t1].reshape(n1 - n0, groups, cg, t1 - t0)
            yc = np.matmul(wg, xs, out=y[n0:n1, :, t0:t1].reshape(n1 - n0, groups, og, t1 - t0))
            if bg is not None:  # right after the chunk's product, while it is in cache
                yc += bg
        return y
    if bg is not None:
        # The bias rides in the product: one more weight column, (G, og, cg*K + 1), against a
        # row of ones in the columns. It saves a pass over the output, which costs more than
        # the extra row on small layers (har_small: 1 of 3.9 ms).
        wg = np.concatenate([wg, bg], axis=2)
    rows = groups * (cg * kernel + (bg is not None))
    buf = np.empty(nb * rows * tb, dtype)
    for n0, n1, t0, t1 in _chunks(n, lo, nb, tb):
        cols = _columns(x, n0, n1, t0, t1, kernel, stride, dilation, groups, buf, bg is not None)
        # (G, og, cg*K [+1]) @ (m, G, cg*K [+1], tl) -> (m, G, og, tl), written into y
        np.matmul(wg, cols, out=y[n0:n1, :, t0:t1].reshape(n1 - n0, groups, og, t1 - t0))
    return y


def grad_input(
    gy: np.ndarray, w: np.ndarray, length: int, stride: int, dilation: int, groups: int
) -> np.ndarray:
    dtype = np.result_type(gy, w)
    gy, w = gy.astype(dtype, copy=False), w.astype(dtype, copy=False)
    n, c_out, lo = gy.shape
    _, cg, kernel = w.shape
    og, c_in = c_out // groups, cg * groups
    if kernel == 1 and stride == 1:
        # A 1x1 kernel at stride 1: gx = W^T @ gy, the forward's 1x1 product with the
        # transposed weight, written straight into gx (no zero fill, no col2im add): pointwise
        # grad_input 70 -> 58 ms. (Larger kernels through the forward, on a zero-padded gy,
        # measured 5-45% slower than the col2im below: resnet1d_ecg, reflect_pad, wavenet.)
        wt1 = w.reshape(groups, og, cg).transpose(0, 2, 1).reshape(c_in, og, 1)
        return forward(gy, np.ascontiguousarray(wt1), 1, 1, groups)
    gx = np.zeros((n, c_in, length), dtype)
    # (G, og, cg*K) -> (G, cg*K, og)
    wt = np.ascontiguousarray(w).reshape(groups, og, cg * kernel).transpose(0, 2, 1)
    nb, tb = _plan(n, lo, c_in * kernel * dtype.itemsize)
    buf = np.empty(nb * c_in * kernel * tb, dtype)
    for n0, n1, t0, t1 in _chunks(n, lo, nb, tb):
        m, tl = n1 - n0, t1 - t0
        gys = _blasable(gy[n0:n1, :, t0:t1]).reshape(m, groups, og, tl)
        gcols = np.matmul(wt, gys, out=buf[: m * c_in * kernel * tl].reshape(m, groups, cg * kernel, tl))
        gcols = gcols.reshape(m, c_in, kernel, tl)
        for k in range(kernel):
            start = k * dilation + stride * t0
            gx[n0:n1, :, start : start + stride * (tl - 1) + 1 : stride] += gcols[:, :, k]
    return gx


def grad_weight(
    gy: np.ndarray, x: np.ndarray, kernel: int, stride: int, dilation: int, groups: int
) -> np.ndarray:
    dtype = np.result_type(gy, x)
    gy, x = gy.astype(dtype, copy=False), x.astype(dtype, copy=False)
    n, c_out, lo = gy.shape
    c_in = x.shape[1]
    cg, og = c_in // groups, c_out // groups
    gw = np.zeros((groups, og, cg * kernel), dtype)
    nb, tb = _plan(n, lo, c_in * kernel * dtype.itemsize)
    # The per-sample products (nb, G, og, cg*K) are summed over the chunk's samples: keep them
    # within the chunk budget too.
    nb = max(1, min(nb, CHUNK_BYTES // max(c_out * cg * kernel * dtype.itemsize, 1)))
    # A 1x1 kernel at stride 1 reads the input as it is (as the forward does).
    direct_cols = kernel == 1 and stride == 1 and x.strides[-1] == dtype.itemsize
    buf = None if direct_cols else np.empty(nb * c_in * kernel * tb, dtype)
    for n0, n1, t0, t1 in _chunks(n, lo, nb, tb):
        m, tl = n1 - n0, t1 - t0
        if direct_cols:
            cols = x[n0:n1, :, t0:t1].reshape(m, groups, cg, tl)
        else:
            cols = _columns(x, n0, n1, t0, t1, kernel, stride, dilation, groups, buf)
        gys = _blasable(gy[n0:n1, :, t0:t1]).reshape(m, groups, og, tl)
        # (m, G, og, tl) @ (m, G, tl, cg*K) -> (m, G, og, cg*K), summed over the samples
        prod = np.matmul(gys, cols.transpose(0, 1, 3, 2))
        gw += prod[0] if m == 1 else prod.sum(axis=0)
    return gw.reshape(c_out, cg, kernel)


# ----------------------------------------------------------------------- cost model
# All measured on the 2-core dev machine, float32, 2 BLAS threads; re-measure each one on
# another machine with: python benchmarks/calibrate.py

#: Peak float32 rate of np.matmul on conv-shaped products with many rows: 178-195 GFLOP/s for
#: (128 x 896) @ (896 x 1000) and (512 x 256) @ (512 x 2048) (square 2048: 205).
GEMM_FLOPS = 180e9
#: OpenBLAS loses efficiency when the weight has few rows (C_out/g): measured 58-70 GFLOP/s at
#: 8 rows, 109-132 at 16, 130-139 at 32, 140-155 at 64, 178-189 at 128. The rate is modelled
#: as GEMM_FLOPS * rows / (rows + GEMM_HALF_ROWS), which gives 0.4, 0.57, 0.73, 0.84, 0.91.
GEMM_HALF_ROWS = 12
#: Main-memory bytes per second for reading the input and writing a fresh output (first touch
#: included): filling a new 67 MB array takes 6.6 ms, a 64 MiB copy 5.6 ms (read + write).
BANDWIDTH = 12e9
#: The im2col copy runs in cache: reflect_pad's 117 MB of columns take 3.2-4.5 ms.
IM2COL_BANDWIDTH = 30e9
#: Cost of one sgemm call inside a batched np.matmul: depthwise_k4 through this algorithm is
#: 36,864 tiny (1 x 4) @ (4 x 512) products and takes ~31 ms, ~20 ms of it memory traffic.
GEMM_CALL_S = 0.4e-6
#: Python overhead of one call (planning, allocation, one chunk): 9 us on a (1, 4, 20) input.
CALL_OVERHEAD_S = 10e-6
#: float64 halves the SIMD width and doubles the bytes.
FLOAT64_FACTOR = 2.0


def cost(problem: Problem) -> float:
    """Estimated seconds for the forward pass of ``problem``.

    The GEMM's FLOPs at the rate its row count allows, plus reading the input and writing the
    output at memory speed, the im2col copy in cache, and per-call and per-product overheads.

    Examples
    --------
    >>> from conv1d.algorithms import Problem
    >>> dense = Problem(32, 128, 128, kernel_size=7, length=1006)
    >>> 0.02 < cost(dense) < 0.1  # 7.3 GFLOP near the GEMM rate
    True
    """
    p = problem
    g, og = p.groups, p.out_channels // p.groups
    lo = max(p.output_length, 0)
    item = 8 if p.dtype == "float64" else 4
    nb, tb = _plan(p.batch, lo, p.in_channels * p.kernel_size * item)
    chunks = -(-p.batch // nb) * -(-lo // tb) if p.batch else 0
    products = chunks * min(nb, p.batch) * g
    rate = GEMM_FLOPS * og / (og + GEMM_HALF_ROWS)
    io_bytes = p.batch * item * (p.in_channels * p.length + p.out_channels * lo)
    cols_bytes = p.batch * item * p.in_channels * p.kernel_size * lo
    t = p.flops / rate + io_bytes / BANDWIDTH + cols_bytes / IM2COL_BANDWIDTH
    if p.dtype == "float64":
        t *= FLOAT64_FACTOR
    return CALL_OVERHEAD_S + products * GEMM_CALL_S + t


def unsupported(problem: Problem) -> str | None:
    """GEMM runs every configuration: ``None``."""
    return None


ALGORITHM: Algorithm = Algorithm("gemm", forward, grad_input, grad_weight, unsupported, cost,
                                 fuses_bias=True)
