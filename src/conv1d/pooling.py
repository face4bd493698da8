"""Pooling over time, as ``torch.nn``'s: ``MaxPool1d``, ``AvgPool1d``, ``AdaptiveAvgPool1d``,
and ``GlobalAvgPool1d`` (the mean over time, flattened).

Input ``(N, C, L)`` or unbatched ``(C, L)``; with ``data_format="channels_last"`` (a keyword of
ours, as on :class:`~conv1d.Conv1d`) ``(N, L, C)`` or ``(L, C)``, and the output in the same
layout. The output has the input's dtype (integers become float64); float16 and bfloat16 are
computed in float32 and rounded once. ``backward`` checks the gradient's shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import functional as F
from ._layer import as_bool, as_input, channels_first, check_grad, compute_dtype_of, remembered, row_sums
from .module import Module
from .spec import as_int, check_data_format

__all__ = ["AdaptiveAvgPool1d", "AvgPool1d", "GlobalAvgPool1d", "MaxPool1d", "pool_output_length"]


def pool_output_length(length: int, kernel_size: int, stride: int, padding: int,
                       dilation: int = 1, ceil_mode: bool = False) -> int:
    """``L_out`` of a pooling window, PyTorch's rule (``pooling_output_shape`` in ATen).

    ``floor`` (or ``ceil`` with ``ceil_mode``) of
    ``(L + 2 * padding - dilation * (kernel_size - 1) - 1) / stride``, plus one; with
    ``ceil_mode`` the last window must start inside the input or the left padding, else it is
    dropped. ``ValueError`` when that leaves no output.

    Examples
    --------
    >>> pool_output_length(10, 3, 2, 0), pool_output_length(10, 3, 2, 0, ceil_mode=True)
    (4, 5)
    """
    span = dilation * (kernel_size - 1) + 1
    num = length + 2 * padding - span + (stride - 1 if ceil_mode else 0)
    out = num // stride + 1
    if ceil_mode and (out - 1) * stride >= length + padding:
        out -= 1
    if out < 1:
        raise ValueError(
            f"input of length {length} is too short for a pooling window of {span} samples "
            f"(kernel_size={kernel_size}, dilation={dilation}) with padding={padding}: "
            f"the output would have length {out}"
        )
    return out


def _window(kernel_size: Any, stride: Any, padding: Any) -> tuple[int, int, int]:
    """A pooling window's ``(kernel_size, stride, padding)`` as ints, validated as PyTorch's
    (``stride`` ``None`` is ``kernel_size``; padding at most half the window)."""
    k = as_int("kernel_size", kernel_size, minimum=1)
    s = k if stride is None else as_int("stride", stride, minimum=1)
    p = as_int("padding", padding, minimum=0)
    if p > k // 2:
        raise ValueError(
            f"padding must be at most half of kernel_size ({k} // 2 = {k // 2}), got {padding!r}"
        )
    return k, s, p


def _batch(module: Module, input: Any, data_format: str) -> tuple[np.ndarray, bool, np.dtype]:
    """``(N, C, L)`` in the computation's dtype, whether the input was unbatched, its dtype."""
    x = channels_first(module, as_input(input), data_format)
    unbatched = x.ndim == 2
    if unbatched:  # (C, L), or (L, C) channels last: swap it the same way
        x = F.to_format(x, data_format)[None]
    return x.astype(compute_dtype_of(x.dtype), copy=False), unbatched, x.dtype


def _unbatch(y: np.ndarray, data_format: str, unbatched: bool, dtype: np.dtype) -> np.ndarray:
    y = F.to_format(y, data_format).astype(dtype, copy=False)
    return y[0] if unbatched else y


def _grad_batch(module: Any, grad_output: Any, unbatched: bool) -> np.ndarray:
    """``grad_output`` checked against the last output's shape, as ``(N, C, L_out)``."""
    gy = check_grad(module, grad_output, module._out_shape, compute_dtype_of(module._dtype))
    return F.to_format(gy[None] if unbatched else gy, module.data_format)


def _taps(xp: np.ndarray, start: int, stride: int, count: int) -> np.ndarray:
    """``xp[..., start + j * stride]`` for ``j < count``: one tap of every window (a view)."""
    return xp[..., start : start + (count - 1) * stride + 1 : stride]


def _window_max(flat: np.ndarray, k: int) -> np.ndarray:
    """``w[i] = max(flat[i : i + k])`` (NaN propagating) for ``i <= flat.size - k``, in an
    array of ``flat``'s size whose last ``k - 1`` entries are left unset.

    By doubling: the maxima over ``2 * a`` samples are those over ``a`` samples at ``i`` and
    ``i + a``, and over ``k`` (``a <= k < 2 * a``) those at ``i`` and ``i + k - a``.
    """
    size = flat.size
    w = np.empty_like(flat)
    if k == 1 or size < k:
        w[...] = flat
        return w
    np.maximum(flat[: size - 1], flat[1:], out=w[: size - 1])
    spare = np.empty_like(flat)  # the operands overlap: each pass writes into the other array
    a = 2
    while a < k:
        step = min(a, k - a)  # a -> 2a, or a -> k at the end
        m = size - (a + step) + 1
        np.maximum(w[:m], w[step : step + m], out=spare[:m])
        w, spare = spare, w
        a += step
    return w


def _padded(x: np.ndarray, left: int, needed: int, value: float) -> np.ndarray:
    """``x`` with ``left`` samples of ``value`` before it and enough after for ``needed`` in all."""
    right = max(0, needed - left - x.shape[-1])
    if left == 0 and right == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (left, right)), constant_values=value)


class _Pool(Module):
    _transient = ("_cache", "_out_shape", "_dtype")
    data_format = "channels_first"

    def __init__(self, data_format: str) -> None:
        super().__init__()
        self.data_format = check_data_format(data_format)
        self._cache: Any = None
        self._out_shape: tuple[int, ...] = ()
        self._dtype: np.dtype = np.dtype(np.float32)

    def _finish(self, y: np.ndarray, unbatched: bool, dtype: np.dtype) -> np.ndarray:
        out = _unbatch(y, self.data_format, unbatched, dtype)
        self._out_shape, self._dtype = out.shape, dtype
        return out

    def _format_repr(self) -> str:
        return "" if self.data_format == "channels_first" else f", data_format={self.data_format}"


class MaxPool1d(_Pool):
    """The maximum over each window, as ``torch.nn.MaxPool1d``.

    Parameters
    ----------
    kernel_size : int or 1-tuple
        Samples per window.
    stride : int or 1-tuple, default kernel_size
    padding : int or 1-tuple, default 0
        Implicit ``-inf`` samples at each end; at most ``kernel_size // 2``.
    dilation : int or 1-tuple, default 1
        Spacing between a window's samples.
    return_indices : bool, default False
        Also return the position (along the input's length) of each maximum, as int64.
    ceil_mode : bool, default False
        Round the output length up: the last window may run past the end (but must start
        inside the input or the left padding).
    data_format : {"channels_first", "channels_last"}, keyword-only

    Shape
    -----
    ``(N, C, L) -> (N, C, L_out)``, ``L_out = floor((L + 2*padding - dilation*(kernel_size-1)
    - 1) / stride) + 1`` (``ceil`` with ``ceil_mode``, see :func:`pool_output_length`).

    Notes
    -----
    Ties go to the first maximum and a NaN wins over any number, as in PyTorch; the gradient
    flows to that one sample.

    Examples
    --------
    >>> import numpy as np
    >>> m = MaxPool1d(2)
    >>> m
    MaxPool1d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> m(np.arange(6.0).reshape(1, 1, 6))
    array([[[1., 3., 5.]]])
    >>> m.backward(np.ones((1, 1, 3)))
    array([[[0., 1., 0., 1., 0., 1.]]])
    """

    def __init__(
        self,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] | None = None,
        padding: int | tuple[int] = 0,
        dilation: int | tuple[int] = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
        *,
        data_format: str = "channels_first",
    ) -> None:
        k, s, p = _window(kernel_size, stride, padding)
        d = as_int("dilation", dilation, minimum=1)
        return_indices = as_bool("return_indices", return_indices)
        ceil_mode = as_bool("ceil_mode", ceil_mode)
        super().__init__(data_format)
        # PyTorch's attributes, as given (its repr shows them so).
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        self._k, self._s, self._p, self._d = k, s, p, d

    def forward(self, input: Any) -> Any:
        """The window maxima (and their int64 positions when ``return_indices``).

        Examples
        --------
        >>> import numpy as np
        >>> y, idx = MaxPool1d(3, 2, padding=1, return_indices=True)(np.array([[4.0, 1, 2, 5, 3]]))
        >>> y, idx
        (array([[4., 5., 5.]]), array([[0, 3, 3]]))
        """
        x, unbatched, dtype = _batch(self, input, self.data_format)
        length = x.shape[-1]
        out = pool_output_length(length, self._k, self._s, self._p, self._d, self.ceil_mode)
        if self._d > 1:  # (undilated windows always hold an input sample: padding <= k // 2)
            _, first = self._starts(out)
            empty = np.flatnonzero(first >= length)
            if empty.size:  # a dilated window whose taps all fall in the padding or past the end
                raise ValueError(
                    f"MaxPool1d: window {int(empty[0])} of the output holds no input sample "
                    f"(input length {length}, kernel_size={self._k}, stride={self._s}, "
                    f"padding={self._p}, dilation={self._d}, ceil_mode={self.ceil_mode}); "
                    "PyTorch's result is undefined there"
                )
        y = self._max(x, out)
        # The input, not y: the caller owns y, and a following in-place layer may overwrite
        # it. Backward finds the maxima again (straight into __dict__: no checks apply).
        self.__dict__["_cache"] = (x, out, unbatched)
        out_y = self._finish(y, unbatched, dtype)
        if self.return_indices:
            idx = self._argmax(x, y)
            return out_y, _unbatch(idx, self.data_format, unbatched, np.dtype(np.int64))
        return out_y

    def _starts(self, out: int) -> tuple[np.ndarray, np.ndarray]:
        """Each window's first tap (in the padding when negative), and its first tap inside
        the input (PyTorch starts each window's search there, at -inf)."""
        d = self._d
        starts = np.arange(out) * self._s - self._p
        return starts, starts + np.maximum(0, -starts + d - 1) // d * d

    def _max(self, x: np.ndarray, out: int) -> np.ndarray:
        """The ``out`` window maxima of ``x`` ``(N, C, L)``, the padding taps left out."""
        if self._d == 1 and self._s <= self._k and x.flags.c_contiguous:
            return self._max_sliding(x, out)
        return self._max_taps(x, out)

    def _max_sliding(self, x: np.ndarray, out: int) -> np.ndarray:
        """:meth:`_max` for undilated windows that overlap or touch, from every window's maximum.

        NumPy runs ``np.maximum`` over a whole contiguous array in one SIMD loop (3 us for
        64,000 float32), but over row slices one loop per row (14 us for 64 rows of 1,000) and
        over strided views without SIMD (16 us for 32,000 pairs at stride 2), measured with
        NumPy 2.4 on x86-64. So the maximum of every ``kernel_size`` consecutive samples of
        the flattened input comes first (``log2(kernel_size) + 1`` whole-array passes), then
        one strided copy of the windows that lie inside their row; the few windows at the
        ends of rows, which reach into the padding, are taken one column at a time.
        """
        k, s, p = self._k, self._s, self._p
        n, c, length = x.shape
        flat = x.reshape(-1)
        wmax = _window_max(flat, k).reshape(n, c, length)  # [i]: max of flat[i : i + k]
        lo = -(-p // s)  # the windows lo <= j < hi lie inside the row
        hi = min(out, (length - k + p) // s + 1)
        y = np.empty((n, c, out), x.dtype)
        if hi > lo:
            y[..., lo:hi] = wmax[..., lo * s - p : (hi - 1) * s - p + 1 : s]
        for j in (*range(min(lo, out)), *range(max(hi, lo), out)):
            first = max(0, j * s - p)  # (never past the end: padding <= kernel_size // 2)
            column = y[..., j]
            column[...] = x[..., first]
            for i in range(first + 1, min(length, j * s - p + k)):
                np.maximum(column, x[..., i], out=column)
        return y

    def _max_taps(self, x: np.ndarray, out: int) -> np.ndarray:
        """:meth:`_max` for any window, tap by tap.

        Tap ``t`` of window ``j`` is ``x[j * stride + t * dilation - padding]``: for each tap,
        one strided view over the windows whose tap falls inside ``x``, and ``np.maximum``
        (NaN propagates) into the result. No padded copy of ``x``.
        """
        k, s, d, length = self._k, self._s, self._d, x.shape[-1]
        full: list[tuple[int, int, np.ndarray]] = []
        part: list[tuple[int, int, np.ndarray]] = []
        for t in range(k):
            o = t * d - self._p  # input position of tap t of window 0
            j0 = max(0, -(o // s))  # the first window whose tap t is inside x
            j1 = min(out, (length - 1 - o) // s + 1) if o < length else 0
            if j1 > j0:
                taps = x[..., j0 * s + o : (j1 - 1) * s + o + 1 : s]
                (full if (j0, j1) == (0, out) else part).append((j0, j1, taps))
        if len(full) >= 2:
            y = np.maximum(full[0][2], full[1][2])
            rest = full[2:] + part
        elif full:
            y = full[0][2].copy()
            rest = part
        else:
            y = np.full((*x.shape[:-1], out), -np.inf, x.dtype)
            rest = part
        for j0, j1, taps in rest:
            np.maximum(y[..., j0:j1], taps, out=y[..., j0:j1])
        return y

    def _argmax(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each maximum ``y`` 's position in the input ``x``, chosen as PyTorch's kernel chooses it.

        PyTorch scans a window's samples inside the input from ``first`` on, taking a sample
        when ``value > max or isnan(value)``: so the first maximum, or the last NaN.
        """
        k, s, p, d = self._k, self._s, self._p, self._d
        length, out = x.shape[-1], y.shape[-1]
        xp = _padded(x, p, (out - 1) * s + d * (k - 1) + 1, -np.inf)
        starts, first = self._starts(out)
        idx = np.broadcast_to(first, y.shape).copy()  # an all -inf window keeps its first sample
        found = np.zeros(y.shape, bool)
        nan = np.isnan(y)
        for t in range(k):
            pos = starts + t * d
            inside = (pos >= 0) & (pos < length)  # (L_out,): padded taps never count
            v = _taps(xp, t * d, s, out)
            hit = (v == y) & ~found & inside
            if nan.any():
                hit |= np.isnan(v) & inside
            idx += (pos - idx) * hit  # (np.copyto(where=) is slow on a random mask)
            found |= hit
        return idx

    def backward(self, grad_output: Any) -> np.ndarray:
        """Each output's gradient added to the input sample that was its maximum.

        Examples
        --------
        >>> import numpy as np
        >>> m = MaxPool1d(3, 1)
        >>> _ = m(np.array([[1.0, 5, 2, 0]]))
        >>> m.backward(np.ones((1, 2)))
        array([[0., 2., 0., 0.]])
        """
        x, out, unbatched = remembered(self, self._cache)
        gy = _grad_batch(self, grad_output, unbatched)
        idx = self._argmax(x, self._max(x, out))
        n, c, length = x.shape
        if self._s >= self._d * (self._k - 1) + 1:  # windows apart: each sample gets one value
            gx = np.zeros((n, c, length), gy.dtype)
            np.put_along_axis(gx, idx, gy, axis=-1)
        else:  # overlapping windows: bincount sums every contribution to a sample
            rows = np.arange(n * c).reshape(n, c, 1) * length
            gx = np.bincount((rows + idx).ravel(), weights=gy.ravel(), minlength=n * c * length)
            gx = gx.reshape(n, c, length)
        return _unbatch(gx, self.data_format, unbatched, self._dtype)

    def extra_repr(self) -> str:
        """The arguments ``repr`` shows, as PyTorch's (``data_format`` when not the default).

        Examples
        --------
        >>> MaxPool1d(3, data_format="channels_last").extra_repr()
        'kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False, data_format=channels_last'
        """
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}" + self._format_repr())


class AvgPool1d(_Pool):
    """The mean over each window, as ``torch.nn.AvgPool1d``.

    Parameters
    ----------
    kernel_size : int or 1-tuple
        Samples per window.
    stride : int or 1-tuple, default kernel_size
    padding : int or 1-tuple, default 0
        Implicit zeros at each end; at most ``kernel_size // 2``.
    ceil_mode : bool, default False
        Round the output length up (see :func:`pool_output_length`).
    count_include_pad : bool, default True
        Whether the padded zeros count in a window's divisor.
    data_format : {"channels_first", "channels_last"}, keyword-only

    Shape
    -----
    ``(N, C, L) -> (N, C, L_out)``, ``L_out = floor((L + 2*padding - kernel_size) / stride) + 1``
    (``ceil`` with ``ceil_mode``).

    Notes
    -----
    A window's divisor, as PyTorch: its samples inside ``[-padding, L + padding)`` with
    ``count_include_pad``, else those inside the input. So a ``ceil_mode`` window that runs
    past the right padding divides by fewer than ``kernel_size``.

    Examples
    --------
    >>> import numpy as np
    >>> m = AvgPool1d(2)
    >>> m
    AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,))
    >>> m(np.arange(6.0).reshape(1, 1, 6))
    array([[[0.5, 2.5, 4.5]]])
    >>> m.backward(np.ones((1, 1, 3)))
    array([[[0.5, 0.5, 0.5, 0.5, 0.5, 0.5]]])
    """

    def __init__(
        self,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] | None = None,
        padding: int | tuple[int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        *,
        data_format: str = "channels_first",
    ) -> None:
        k, s, p = _window(kernel_size, stride, padding)
        ceil_mode = as_bool("ceil_mode", ceil_mode)
        count_include_pad = as_bool("count_include_pad", count_include_pad)
        super().__init__(data_format)
        self.kernel_size, self.stride, self.padding = (k,), (s,), (p,)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def _divisor(self, length: int, out: int) -> np.ndarray:
        (k,), (s,), (p,) = self.kernel_size, self.stride, self.padding
        start = np.arange(out) * s - p
        end = np.minimum(start + k, length + p)
        if not self.count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, length)
        return (end - start).astype(np.float64)

    def forward(self, input: Any) -> np.ndarray:
        """The window means.

        Examples
        --------
        >>> import numpy as np
        >>> AvgPool1d(2, padding=1, count_include_pad=False)(np.array([[2.0, 4.0, 6.0]]))
        array([[2., 5.]])
        """
        x, unbatched, dtype = _batch(self, input, self.data_format)
        (k,), (s,), (p,) = self.kernel_size, self.stride, self.padding
        length = x.shape[-1]
        out = pool_output_length(length, k, s, p, 1, self.ceil_mode)
        xp = _padded(x, p, (out - 1) * s + k, 0.0)
        acc = _taps(xp, 0, s, out).copy()
        for t in range(1, k):  # in the window's order, as PyTorch sums
            acc += _taps(xp, t, s, out)
        div = self._divisor(length, out).astype(x.dtype)
        self._cache = (div, length, unbatched)
        return self._finish(acc / div, unbatched, dtype)

    def backward(self, grad_output: Any) -> np.ndarray:
        """Each output's gradient over its divisor, added to every input sample of its window.

        Examples
        --------
        >>> import numpy as np
        >>> m = AvgPool1d(2, 1)
        >>> _ = m(np.zeros((1, 3)))
        >>> m.backward(np.ones((1, 2)))
        array([[0.5, 1. , 0.5]])
        """
        div, length, unbatched = remembered(self, self._cache)
        gy = _grad_batch(self, grad_output, unbatched)
        (k,), (s,), (p,) = self.kernel_size, self.stride, self.padding
        out = gy.shape[-1]
        share = gy / div
        gxp = np.zeros((*gy.shape[:2], max((out - 1) * s + k, p + length)), gy.dtype)
        for t in range(k):
            _taps(gxp, t, s, out)[...] += share
        return _unbatch(gxp[..., p : p + length], self.data_format, unbatched, self._dtype)

    def extra_repr(self) -> str:
        """The arguments ``repr`` shows, as PyTorch's (``data_format`` when not the default).

        Examples
        --------
        >>> AvgPool1d(3, 1, 1).extra_repr()
        'kernel_size=(3,), stride=(1,), padding=(1,)'
        """
        s = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        return s + self._format_repr()


class AdaptiveAvgPool1d(_Pool):
    """The mean over ``output_size`` windows that cover the input, as ``torch.nn.AdaptiveAvgPool1d``.

    Window ``i`` of an input of length ``L`` covers ``floor(i * L / output_size)`` to
    ``ceil((i + 1) * L / output_size)`` (exclusive), so windows may overlap by one sample.

    Parameters
    ----------
    output_size : int or 1-tuple
        ``L_out``, whatever ``L``.
    data_format : {"channels_first", "channels_last"}, keyword-only

    Examples
    --------
    >>> import numpy as np
    >>> m = AdaptiveAvgPool1d(2)
    >>> m(np.arange(5.0).reshape(1, 1, 5))
    array([[[1., 3.]]])
    >>> m.backward(np.ones((1, 1, 2)))
    array([[[0.33333333, 0.33333333, 0.66666667, 0.33333333, 0.33333333]]])
    """

    def __init__(self, output_size: int | tuple[int], *,
                 data_format: str = "channels_first") -> None:
        size = as_int("output_size", output_size, minimum=0)
        super().__init__(data_format)
        self.output_size = output_size
        self._size = size

    def _windows(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        i = np.arange(self._size)
        start = i * length // self._size
        end = -(-(i + 1) * length // self._size)
        return start, end - start

    def forward(self, input: Any) -> np.ndarray:
        """The window means.

        Examples
        --------
        >>> import numpy as np
        >>> AdaptiveAvgPool1d(1)(np.ones((2, 3, 7))).shape
        (2, 3, 1)
        """
        x, unbatched, dtype = _batch(self, input, self.data_format)
        length = x.shape[-1]
        if length < 1:
            raise ValueError(f"AdaptiveAvgPool1d needs an input of length >= 1, got shape "
                             f"{np.shape(input)}")
        self.__dict__["_cache"] = (length, unbatched)
        if self._size == 1:  # global average pooling, the usual use
            return self._finish(row_sums(x)[..., None] / length, unbatched, dtype)
        start, count = self._windows(length)
        acc = np.empty((*x.shape[:2], self._size), x.dtype)
        if self._size <= int(count.max(initial=0)):  # few long windows: one sum each
            for i, (a, c) in enumerate(zip(start.tolist(), count.tolist(), strict=True)):
                acc[..., i] = x[..., a : a + c].sum(axis=-1)
        else:  # many short windows: one pass per position in the window
            acc[...] = 0
            for t in range(int(count.max(initial=0))):
                inside = t < count
                acc[..., inside] += x[..., start[inside] + t]
        return self._finish(acc / count.astype(x.dtype), unbatched, dtype)

    def backward(self, grad_output: Any) -> np.ndarray:
        """Each output's gradient over its window's length, added to the window's samples.

        Examples
        --------
        >>> import numpy as np
        >>> m = AdaptiveAvgPool1d(1)
        >>> _ = m(np.ones((1, 4)))
        >>> m.backward(np.ones((1, 1)))
        array([[0.25, 0.25, 0.25, 0.25]])
        """
        length, unbatched = remembered(self, self._cache)
        gy = _grad_batch(self, grad_output, unbatched)
        start, count = self._windows(length)
        share = gy / count.astype(gy.dtype)
        gx = np.zeros((*gy.shape[:2], length), gy.dtype)
        if self._size <= int(count.max(initial=0)):
            for i, (a, c) in enumerate(zip(start.tolist(), count.tolist(), strict=True)):
                gx[..., a : a + c] += share[..., i : i + 1]
        else:
            rows = gx.reshape(-1, length)
            for t in range(int(count.max(initial=0))):
                inside = t < count
                # Windows start at the same sample when output_size > L: add.at sums repeats.
                np.add.at(rows.T, start[inside] + t,
                          share[..., inside].reshape(len(rows), int(inside.sum())).T)
        return _unbatch(gx, self.data_format, unbatched, self._dtype)

    def extra_repr(self) -> str:
        """The arguments ``repr`` shows, as PyTorch's (``data_format`` when not the default).

        Examples
        --------
        >>> AdaptiveAvgPool1d(5).extra_repr()
        'output_size=5'
        """
        return f"output_size={self.output_size}" + self._format_repr()


class GlobalAvgPool1d(_Pool):
    """The mean over the length axis: ``(N, C, L) -> (N, C)``.

    ``torch.nn.AdaptiveAvgPool1d(1)`` followed by ``torch.nn.Flatten()``.

    Parameters
    ----------
    data_format : {"channels_first", "channels_last"}, keyword-only
        ``"channels_last"`` takes ``(N, L, C)`` input (as after a channels-last ``Conv1d``).

    Examples
    --------
    >>> import numpy as np
    >>> GlobalAvgPool1d()(np.ones((4, 8, 100))).shape
    (4, 8)
    >>> GlobalAvgPool1d(data_format="channels_last")(np.ones((4, 100, 8))).shape
    (4, 8)
    """

    def __init__(self, *, data_format: str = "channels_first") -> None:
        super().__init__(data_format)

    def forward(self, input: Any) -> np.ndarray:
        """The mean of each channel over time.

        Examples
        --------
        >>> import numpy as np
        >>> GlobalAvgPool1d()(np.arange(6.0).reshape(1, 2, 3))
        array([[1., 4.]])
        """
        x = as_input(input)
        dtype = x.dtype
        x = channels_first(self, x, self.data_format, ndims=(3,))
        y = row_sums(x.astype(compute_dtype_of(dtype), copy=False)) / x.shape[2]
        self._cache = (x.shape[2],)
        self._out_shape, self._dtype = y.shape, dtype
        return y.astype(dtype, copy=False)

    def backward(self, grad_output: Any) -> np.ndarray:
        """``grad_output / L`` spread over every time step.

        Examples
        --------
        >>> import numpy as np
        >>> m = GlobalAvgPool1d()
        >>> _ = m(np.zeros((1, 1, 4)))
        >>> m.backward(np.ones((1, 1)))
        array([[[0.25, 0.25, 0.25, 0.25]]])
        """
        (length,) = remembered(self, self._cache)
        gy = check_grad(self, grad_output, self._out_shape, compute_dtype_of(self._dtype))
        gx = np.repeat(gy[:, :, None] / length, length, axis=2)
        return F.to_format(gx, self.data_format).astype(self._dtype, copy=False)

    def extra_repr(self) -> str:
        """``data_format`` when not the default (PyTorch has no such layer).

        Examples
        --------
        >>> GlobalAvgPool1d(data_format="channels_last").extra_repr()
        'data_format=channels_last'
        """
        return "" if self.data_format == "channels_first" else f"data_format={self.data_format}"
