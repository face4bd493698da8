"""The oracle: PyTorch's CPU conv1d, and one checker every algorithm goes through.

``check(...)`` runs ``conv1d.functional.conv1d`` and ``conv1d_backward`` and compares the
output and all three gradients with ``torch.nn.Conv1d`` (or, for the paddings PyTorch does
not have, ``F.pad`` + ``F.conv1d``, which is how ``torch.nn.Conv1d`` pads anyway).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as TF

from conv1d import functional as F
from conv1d.spec import ConvSpec

TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
              "circular": "circular"}


def torch_conv(x, w, b, gy, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """Output and ``(grad_input, grad_weight, grad_bias)`` from PyTorch, as NumPy arrays."""
    spec = ConvSpec.from_args(w.shape[1] * groups, w.shape[0], w.shape[2], stride, padding,
                              dilation, groups, padding_mode)
    xt = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
    wt = torch.from_numpy(np.ascontiguousarray(w)).requires_grad_()
    bt = None if b is None else torch.from_numpy(np.ascontiguousarray(b)).requires_grad_()
    torch_takes_padding = (isinstance(padding, (int, str)) and padding != "causal") or (
        isinstance(padding, tuple) and len(padding) == 1
    )
    if torch_takes_padding:
        # Everything PyTorch accepts goes through torch.nn.Conv1d itself.
        m = torch.nn.Conv1d(spec.in_channels, spec.out_channels, spec.kernel_size, stride,
                            padding, dilation, groups, b is not None, padding_mode,
                            dtype=wt.dtype)
        with torch.no_grad():
            m.weight.copy_(wt)
            if b is not None:
                m.bias.copy_(bt)
        m.weight.grad = None
        y = m(xt)
        wt, bt = m.weight, m.bias
    else:
        xp = TF.pad(xt, (spec.pad_left, spec.pad_right), TORCH_MODE[padding_mode])
        y = TF.conv1d(xp, wt, bt, stride, 0, dilation, groups)
    y.backward(torch.from_numpy(np.ascontiguousarray(gy)))
    grads = (xt.grad.numpy(), wt.grad.numpy(), None if bt is None else bt.grad.numpy())
    return y.detach().numpy(), grads


def tolerance(dtype, n_terms: int, a: np.ndarray, b: np.ndarray) -> dict:
    """``assert_allclose`` tolerances for a sum of ``n_terms`` products of ``a`` and ``b``.

    Two summation orders of the same ``n`` products differ by at most
    ``2 * n * eps * max|a| * max|b|`` (the classic bound, Higham, "Accuracy and Stability of
    Numerical Algorithms", 2nd ed., eq. 3.5, for each of the two results). In float32 that
    bound is the test: blocked sums (BLAS, FFT) wander far from a naive loop's rounding but
    never past it. In float64 we ask for more than the bound: relative 1e-10.
    """
    scale = max(n_terms, 1) * float(np.max(np.abs(a), initial=0)) * float(np.max(np.abs(b), initial=0))
    if np.dtype(dtype) == np.float64:
        return {"rtol": 1e-10, "atol": 1e-10 * scale / max(n_terms, 1) + 1e-300}
    eps = float(np.finfo(np.float32).eps)
    # 8 = the bound's 2, times 4 for the FFT algorithms, whose error carries an extra
    # log2(n) factor (Schatzman, SIAM J. Sci. Comput. 17, 1996) at the sizes tests use.
    return {"rtol": 0, "atol": 8 * eps * scale + 1e-30}


def check(x, w, b=None, *, algorithm="auto", seed=0, **conv):
    """Compare forward and all gradients of one call with PyTorch."""
    y = F.conv1d(x, w, b, **conv, algorithm=algorithm)
    gy = np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)
    g = F.conv1d_backward(gy, x, w, b, **conv, algorithm=algorithm)
    y_t, (gx_t, gw_t, gb_t) = torch_conv(x, w, b, gy, **conv)
    assert y.dtype == y_t.dtype and y.shape == y_t.shape
    c_out, cg, k = w.shape
    spec = ConvSpec.from_args(cg * conv.get("groups", 1), c_out, k, conv.get("stride", 1),
                              conv.get("padding", 0), conv.get("dilation", 1),
                              conv.get("groups", 1), conv.get("padding_mode", "zeros"))
    bias_scale = 0 if b is None else float(np.max(np.abs(b), initial=0))
    tol = tolerance(y.dtype, cg * k + 1, x, w)
    tol["atol"] += 4 * float(np.finfo(y.dtype).eps) * bias_scale
    np.testing.assert_allclose(y, y_t, **tol, err_msg="output")
    n_lo = y.shape[0] * y.shape[-1] if y.ndim == 3 else y.shape[-1]
    # Padding folds up to (left + right + 1) gradients onto one edge sample.
    fold = 1 + spec.pad_left + spec.pad_right
    np.testing.assert_allclose(
        g.input, gx_t, **tolerance(y.dtype, fold * (c_out // spec.groups) * k, gy, w), err_msg="input"
    )
    np.testing.assert_allclose(g.weight, gw_t, **tolerance(y.dtype, n_lo, gy, x), err_msg="weight")
    if b is None:
        assert g.bias is None
    else:
        np.testing.assert_allclose(g.bias, gb_t, **tolerance(y.dtype, n_lo, gy, np.ones(1)),
                                   err_msg="bias")
    return y, g
