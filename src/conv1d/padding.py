"""Padding and its adjoint.

Every padding mode is described by the same thing: for each padded sample outside the
signal, the index of the input sample it copies (``reflect``/``replicate``/``circular``), or
nothing (``zeros``). Padding gathers through those indices; the adjoint scatters the
padded gradient back onto the same samples, so a sample copied twice gets both gradients.
"""

from __future__ import annotations

import numpy as np


def edge_indices(length: int, left: int, right: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Source indices of the ``left`` and ``right`` padded samples (empty for ``zeros``).

    Examples
    --------
    >>> [i.tolist() for i in edge_indices(5, 2, 3, "reflect")]
    [[2, 1], [3, 2, 1]]
    """
    if mode == "zeros":
        return np.empty(0, np.intp), np.empty(0, np.intp)
    lpos = np.arange(-left, 0)
    rpos = np.arange(length, length + right)
    if mode == "reflect":
        # x[-j] = x[j], x[L-1+j] = x[L-1-j]
        return -lpos, 2 * (length - 1) - rpos
    if mode == "replicate":
        return np.zeros(left, np.intp), np.full(right, length - 1, np.intp)
    if mode == "circular":
        return lpos % length, rpos % length
    raise ValueError(f"unknown padding_mode {mode!r}")


def pad(x: np.ndarray, left: int, right: int, mode: str) -> np.ndarray:
    """Pad the last axis of ``x`` by ``left``/``right`` samples in ``mode``.

    Returns ``x`` itself when there is nothing to pad.
    """
    if left == 0 and right == 0:
        return x
    length = x.shape[-1]
    out = np.zeros((*x.shape[:-1], left + length + right), dtype=x.dtype)
    out[..., left : left + length] = x
    if mode != "zeros":
        li, ri = edge_indices(length, left, right, mode)
        out[..., :left] = x[..., li]
        out[..., left + length :] = x[..., ri]
    return out


def pad_backward(gp: np.ndarray, left: int, right: int, mode: str) -> np.ndarray:
    """Adjoint of :func:`pad`: fold the gradient of the padded signal onto the signal."""
    if left == 0 and right == 0:
        return gp
    length = gp.shape[-1] - left - right
    g = gp[..., left : left + length].copy()
    if mode != "zeros":
        li, ri = edge_indices(length, left, right, mode)
        # A loop, not fancy-index `+=`: one source sample can be copied many times
        # (replicate, or circular with padding == length), and each copy adds its gradient.
        for j, src in enumerate(li):
            g[..., src] += gp[..., j]
        for j, src in enumerate(ri):
            g[..., src] += gp[..., left + length + j]
    return g
