"""What the layers besides Conv1d share: argument checks, dtypes, layouts, gradient checks.

Private: the layers (:mod:`conv1d.activation`, :mod:`conv1d.linear`, :mod:`conv1d.norm`,
:mod:`conv1d.pooling`) import from here, so that none of them imports another.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import functional as F
from .module import Module
from .spec import _is_int, check_data_format

__all__ = [
    "as_bool",
    "as_dim",
    "as_input",
    "as_real",
    "channels_first",
    "check_data_format",
    "check_grad",
    "compute_dtype_of",
    "remembered",
    "row_squares",
    "row_sums",
    "select",
]


def remembered(module: Module, value: Any) -> Any:
    """``value`` (what the last forward kept), or the error for a backward before any forward."""
    if value is None:
        raise RuntimeError(f"{type(module).__name__}.backward called before forward")
    return value


def as_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (NumPy's bools too), else ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def as_real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
            low_open: bool = False) -> float:
    """``value`` as a finite float in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                      np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    too_low = low is not None and (v <= low if low_open else v < low)
    if not math.isfinite(v) or too_low or (high is not None and v > high):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        allowed = f"{'(' if low_open or low is None else '['}{lo}, {hi}{']' if high is not None else ')'}"
        raise ValueError(f"{name} must be a finite number in {allowed}, got {value!r}")
    return v


def as_dim(name: str, value: Any) -> int:
    """An axis number (negative counts from the end), as PyTorch's ``dim`` arguments."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r}")
    return int(value)


def compute_dtype_of(dtype: np.dtype) -> np.dtype:
    """The dtype arithmetic runs in: float32 for the half types, else ``dtype`` itself."""
    return np.dtype(np.float32) if F.is_half(dtype) else np.dtype(dtype)


def as_input(x: Any, dtype: Any = None) -> np.ndarray:
    """The input as a floating array: cast to ``dtype`` when given (a layer's own dtype),
    else kept in its dtype, integers becoming float64 (the functional form's promotion)."""
    arr = F.as_real_array("input", x)
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype.kind in "iu":
        return arr.astype(np.float64)
    return arr


def check_grad(module: Module, grad_output: Any, shape: tuple[int, ...],
               dtype: np.dtype) -> np.ndarray:
    """``grad_output`` as an array of the last output's ``shape`` in ``dtype``, else ``ValueError``.

    A gradient of another shape would broadcast silently into a wrong result.
    """
    gy = F.as_real_array("grad_output", grad_output)
    if gy.shape != tuple(shape):
        raise ValueError(
            f"{type(module).__name__}.backward: grad_output must have the last output's shape "
            f"{tuple(shape)}, got {gy.shape}"
        )
    return gy.astype(dtype, copy=False)


def channels_first(module: Module, x: np.ndarray, data_format: str,
                   ndims: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """Check ``x``'s rank and return it as ``(N, C, L)`` (or ``(N, C)``) views.

    ``"channels_last"`` input ``(N, L, C)`` comes back as a transposed view; 2-D input is
    ``(N, C)`` or ``(C, L)`` as the caller's ``ndims`` and layer say, and is left as it is.
    """
    if x.ndim not in ndims:
        names = {2: "2-D", 3: "3-D"}
        allowed = " or ".join(names[n] for n in ndims)
        layout = "(N, L, C)" if data_format == "channels_last" else "(N, C, L)"
        raise ValueError(
            f"{type(module).__name__} expects a {allowed} input ({layout} when 3-D, "
            f"data_format={data_format!r}), got shape {x.shape}"
        )
    return F.to_format(x, data_format) if x.ndim == 3 else x


def select(cond: np.ndarray, a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """``np.where(cond, a, b)`` for float arrays, by arithmetic where that is exact.

    ``np.where`` branches per element: on a random mask (the sign of a signal) it takes about
    10 ns an element, against 1 ns for a multiply, measured with NumPy 2.4 on x86-64. For
    finite ``a`` and ``b``, ``a * cond + b * ~cond`` is exact (a product with 1 or 0, then a sum
    with zero); with infinities or NaN (``inf * 0`` is NaN) it falls back to ``np.where``.

    Examples
    --------
    >>> select(np.array([True, False]), np.array([1.0, 2.0]), 0.5)
    array([1. , 0.5])
    """
    a = np.asarray(a)
    b = a.dtype.type(b) if np.isscalar(b) else np.asarray(b)
    if np.isfinite(a).all() and np.isfinite(b).all():
        return a * cond + b * ~cond
    return np.where(cond, a, b)


#: Rows at least this long are summed through BLAS (``matmul`` with ones, ``vecdot``): for
#: 64,000 float32 in rows of 1,000 that takes 3 us against 10 us for NumPy's pairwise
#: ``add.reduce``, each row accumulated in float32 over BLAS's 16-64 partial sums. Shorter rows
#: cost a BLAS call each for little work.
_BLAS_ROW = 64


def row_sums(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=-1)``: ``(..., K) -> (...)``.

    Examples
    --------
    >>> row_sums(np.ones((2, 100), np.float32)).tolist()
    [100.0, 100.0]
    """
    if a.shape[-1] >= _BLAS_ROW:
        return a @ np.ones(a.shape[-1], a.dtype)
    return a.sum(axis=-1)


def row_squares(a: np.ndarray) -> np.ndarray:
    """``(a * a).sum(axis=-1)``: ``(..., K) -> (...)``.

    Examples
    --------
    >>> row_squares(np.full((1, 3), 2.0)).tolist()
    [12.0]
    """
    if a.shape[-1] >= _BLAS_ROW:
        return np.vecdot(a, a)
    return np.square(a).sum(axis=-1)
