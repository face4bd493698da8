"""Stateless convolution: ``conv1d`` and its gradients, ``conv1d_backward``.

The data path is one line: validate once (:class:`~conv1d.spec.ConvSpec`) -> pad -> correlate
(the chosen algorithm) -> add the bias. The backward pass runs it in reverse: the
algorithm's gradients on the padded signal -> the adjoint of the padding.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .algorithms import Problem, get_algorithm
from .padding import pad, pad_backward
from .spec import ConvSpec, as_groups

__all__ = ["Gradients", "conv1d", "conv1d_backward"]

COMPUTE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class Gradients(NamedTuple):
    """Gradients of a convolution's loss; ``bias`` is ``None`` when there is no bias."""

    input: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None


def as_real_array(name: str, value: Any) -> np.ndarray:
    """``np.asarray(value)``, refusing what a convolution cannot take (bool, complex, text)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must be a real floating-point or integer array, got dtype {arr.dtype}"
        )
    return arr


def compute_dtype(*arrays: np.ndarray) -> np.dtype:
    """NumPy's promotion of the operands; integers alone promote to float64."""
    dt = np.result_type(*arrays)
    if dt.kind in "iu":
        return np.dtype(np.float64)
    if dt not in COMPUTE_DTYPES:
        raise TypeError(f"supported floating dtypes are float32 and float64, got {dt}")
    return dt


def as_batch(x: np.ndarray, spec: ConvSpec) -> tuple[np.ndarray, bool]:
    """Check an input against ``spec``; return it as ``(N, C_in, L)`` and whether it was 2-D."""
    if x.ndim not in (2, 3):
        raise ValueError(
            f"expected a 2-D (C_in, L) or 3-D (N, C_in, L) input, got shape {x.shape}"
        )
    unbatched = x.ndim == 2
    x3 = x[None] if unbatched else x
    if x3.shape[1] != spec.in_channels:
        raise ValueError(
            f"expected input with {spec.in_channels} channels (in_channels={spec.in_channels}, "
            f"groups={spec.groups}), got input of shape {x.shape}"
        )
    spec.check_length(x3.shape[2])
    return x3, unbatched


def check_bias(b: np.ndarray | None, out_channels: int) -> None:
    if b is not None and b.shape != (out_channels,):
        raise ValueError(f"bias must have shape ({out_channels},), got {b.shape}")


def forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: ConvSpec, algorithm: str = "auto"
) -> np.ndarray:
    """Convolve a validated ``(N, C_in, L)`` input (the layer and ``conv1d`` both end here)."""
    xp = pad(x, spec.pad_left, spec.pad_right, spec.padding_mode)
    args = (spec.stride, spec.dilation, spec.groups)
    algo = get_algorithm(algorithm, Problem.of(xp, w, *args))
    y = algo.forward(xp, w, *args)
    if b is not None:
        y += b[:, None]
    return y


def backward(
    gy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    has_bias: bool,
    spec: ConvSpec,
    algorithm: str = "auto",
) -> Gradients:
    """Gradients for a validated input: :func:`forward` in reverse."""
    xp = pad(x, spec.pad_left, spec.pad_right, spec.padding_mode)
    args = (spec.stride, spec.dilation, spec.groups)
    algo = get_algorithm(algorithm, Problem.of(xp, w, *args))
    gxp = algo.grad_input(gy, w, xp.shape[-1], *args)
    gx = pad_backward(gxp, spec.pad_left, spec.pad_right, spec.padding_mode)
    gw = algo.grad_weight(gy, xp, spec.kernel_size, *args)
    gb = gy.sum(axis=(0, 2)) if has_bias else None
    return Gradients(gx, gw, gb)


def _prepare(input, weight, bias, stride, padding, dilation, groups, padding_mode):
    x = as_real_array("input", input)
    w = as_real_array("weight", weight)
    b = None if bias is None else as_real_array("bias", bias)
    if w.ndim != 3:
        raise ValueError(
            f"weight must be 3-D (out_channels, in_channels/groups, kernel_size), "
            f"got shape {w.shape}"
        )
    dtype = compute_dtype(x, w, *([] if b is None else [b]))
    c_out, cg, kernel = w.shape
    g = as_groups(groups)
    spec = ConvSpec.from_args(cg * g, c_out, kernel, stride, padding, dilation, g, padding_mode)
    check_bias(b, spec.out_channels)
    x3, unbatched = as_batch(x, spec)
    cast = lambda a: None if a is None else a.astype(dtype, copy=False)  # noqa: E731
    return cast(x3), cast(w), cast(b), spec, unbatched


def conv1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | tuple[int, int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    *,
    algorithm: str = "auto",
) -> np.ndarray:
    """1D cross-correlation of ``input`` with ``weight``, as ``torch.nn.functional.conv1d``.

    Parameters
    ----------
    input : array_like, shape (N, C_in, L) or (C_in, L)
        The signal. Integer input is promoted like NumPy promotes it with ``weight``.
    weight : array_like, shape (C_out, C_in / groups, K)
        The filters.
    bias : array_like, shape (C_out,), optional
        Added to every output sample of each channel.
    stride, dilation : int or 1-tuple
        Step between outputs; spacing between kernel taps.
    padding : int, 1-tuple, (left, right) pair, or {"valid", "same", "causal"}
        Samples added to each end. ``"same"`` adds ``dilation*(K-1)`` in total, the odd one on
        the right (stride 1 only); ``"causal"`` adds all of it on the left.
    groups : int
        Blocked connections: ``C_in`` and ``C_out`` both split into ``groups`` parts.
    padding_mode : {"zeros", "reflect", "replicate", "circular"}
        What the padded samples hold.
    algorithm : str
        ``"auto"`` or a name from ``conv1d.algorithms.ALGORITHMS``.

    Returns
    -------
    ndarray, shape (N, C_out, L_out) or (C_out, L_out)
        ``L_out = floor((L + left + right - dilation*(K-1) - 1) / stride) + 1``, in the
        promoted dtype (float32 or float64).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((20, 16, 50), np.float32)
    >>> w = np.ones((33, 16, 3), np.float32)
    >>> y = conv1d(x, w, stride=2)
    >>> y.shape, y.dtype, float(y[0, 0, 0])
    ((20, 33, 24), dtype('float32'), 48.0)
    """
    x, w, b, spec, unbatched = _prepare(
        input, weight, bias, stride, padding, dilation, groups, padding_mode
    )
    y = forward(x, w, b, spec, algorithm)
    return y[0] if unbatched else y


def conv1d_backward(
    grad_output: Any,
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | tuple[int, int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    *,
    algorithm: str = "auto",
) -> Gradients:
    """Gradients of a loss through :func:`conv1d`, given ``grad_output = dloss/dy``.

    Takes :func:`conv1d`'s arguments after ``grad_output`` (shaped like its output).

    Returns
    -------
    Gradients
        Named tuple ``(input, weight, bias)``, each shaped like its argument; ``bias`` is
        ``None`` when ``bias`` is ``None``. Padded samples fold their gradient back onto the
        samples they copy (reflect, replicate, circular).

    Examples
    --------
    >>> import numpy as np
    >>> x, w = np.ones((2, 4, 10)), np.ones((3, 4, 3))
    >>> g = conv1d_backward(np.ones((2, 3, 8)), x, w, np.zeros(3))
    >>> g.input.shape, g.weight.shape, g.bias.shape
    ((2, 4, 10), (3, 4, 3), (3,))
    """
    x, w, b, spec, unbatched = _prepare(
        input, weight, bias, stride, padding, dilation, groups, padding_mode
    )
    gy = as_real_array("grad_output", grad_output)
    expected = (x.shape[0], spec.out_channels, spec.output_length(x.shape[2]))
    if gy.shape != (expected[1:] if unbatched else expected):
        raise ValueError(
            f"grad_output must have the output's shape "
            f"{expected[1:] if unbatched else expected}, got {gy.shape}"
        )
    gy = gy.astype(x.dtype, copy=False)
    grads = backward(gy[None] if unbatched else gy, x, w, b is not None, spec, algorithm)
    return grads._replace(input=grads.input[0]) if unbatched else grads
