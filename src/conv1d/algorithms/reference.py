"""The reference algorithm: a sum over kernel taps, written to be obviously right.

Every other algorithm is tested against this one. Inputs are already padded; the layout is
``x: (N, C_in, L)``, ``w: (C_out, C_in/groups, K)``, ``y: (N, C_out, L_out)``.

The bias is not part of this contract: the caller adds it to the output
(:func:`conv1d.algorithms.forward_with_bias`). An algorithm registered with
``fuses_bias=True`` instead takes it as a sixth argument, ``forward(x, w, stride, dilation,
groups, bias)``, and adds it itself.
"""

from __future__ import annotations

import numpy as np


def _tap(x: np.ndarray, k: int, length_out: int, stride: int, dilation: int) -> np.ndarray:
    """Input samples that tap ``k`` multiplies: ``x[..., k*d + s*t]`` for ``t < L_out``."""
    start = k * dilation
    return x[..., start : start + stride * (length_out - 1) + 1 : stride]


def forward(x: np.ndarray, w: np.ndarray, stride: int, dilation: int, groups: int) -> np.ndarray:
    n, _, length = x.shape
    c_out, cg, kernel = w.shape
    lo = (length - dilation * (kernel - 1) - 1) // stride + 1
    xg = x.reshape(n, groups, cg, length)
    wg = w.reshape(groups, c_out // groups, cg, kernel)
    y = np.zeros((n, groups, c_out // groups, lo), dtype=np.result_type(x, w))
    for k in range(kernel):
        # y[n, g, o, t] += sum_c w[g, o, c, k] * x[n, g, c, k*d + s*t]
        y += np.einsum("goc,ngct->ngot", wg[..., k], _tap(xg, k, lo, stride, dilation))
    return y.reshape(n, c_out, lo)


def grad_input(
    gy: np.ndarray, w: np.ndarray, length: int, stride: int, dilation: int, groups: int
) -> np.ndarray:
    n, c_out, lo = gy.shape
    _, cg, kernel = w.shape
    gyg = gy.reshape(n, groups, c_out // groups, lo)
    wg = w.reshape(groups, c_out // groups, cg, kernel)
    gx = np.zeros((n, groups, cg, length), dtype=np.result_type(gy, w))
    for k in range(kernel):
        _tap(gx, k, lo, stride, dilation)[...] += np.einsum("goc,ngot->ngct", wg[..., k], gyg)
    return gx.reshape(n, groups * cg, length)


def grad_weight(
    gy: np.ndarray, x: np.ndarray, kernel: int, stride: int, dilation: int, groups: int
) -> np.ndarray:
    n, c_out, lo = gy.shape
    _, c_in, length = x.shape
    cg = c_in // groups
    gyg = gy.reshape(n, groups, c_out // groups, lo)
    xg = x.reshape(n, groups, cg, length)
    gw = np.zeros((groups, c_out // groups, cg, kernel), dtype=np.result_type(gy, x))
    for k in range(kernel):
        gw[..., k] = np.einsum("ngot,ngct->goc", gyg, _tap(xg, k, lo, stride, dilation))
    return gw.reshape(c_out, cg, kernel)
