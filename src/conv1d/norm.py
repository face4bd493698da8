"""Normalisation layers, as ``torch.nn``'s: :class:`BatchNorm1d` and :class:`GroupNorm`.

Both take ``(N, C)`` or ``(N, C, L)`` input (``(N, L, C)`` with ``data_format="channels_last"``,
a keyword of ours as on :class:`~conv1d.Conv1d`), compute in their own dtype (float16 and
bfloat16 stored in half, computed in float32) and check the gradient's shape in ``backward``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import functional as F
from ._layer import (
    as_bool,
    as_input,
    as_real,
    channels_first,
    check_grad,
    compute_dtype_of,
    remembered,
    row_squares,
    row_sums,
)
from .conv import as_param_dtype
from .module import Module, Parameter
from .spec import as_int, check_data_format

__all__ = ["BatchNorm1d", "GroupNorm"]


def _check_eps(eps: Any) -> Any:
    as_real("eps", eps, low=0)
    return eps


#: Most elements of each ``(C, L)`` array a layer keeps for :meth:`_Norm._rows` (1 MiB in
#: float32).
_ROWS_MAX = 1 << 18


def _per_channel(x: np.ndarray, scale: np.ndarray, shift: np.ndarray | None,
                 out: np.ndarray | None = None) -> np.ndarray:
    """``x * scale + shift`` with ``(C,)`` or ``(N, C)`` factors on ``(N, C, L)`` ``x``: two passes.

    For ``L = 1`` (a 2-D input) on ``(N, C)`` itself, where broadcasting along ``L`` would run
    NumPy's inner loop once per element.
    """
    if x.shape[2] == 1:
        y = np.multiply(x[:, :, 0], scale, out=None if out is None else out[:, :, 0])
        if shift is not None:
            y += shift
        return y[:, :, None]
    y = np.multiply(x, scale[..., None], out=out)
    if shift is not None:
        y += shift[..., None]
    return y


class _Norm(Module):
    """Shared by both: affine parameters, input layout and the gradient check."""

    _transient: tuple[str, ...] = ("_cache", "_out_shape", "_repeated")

    def _setup(self, channels: int, affine: Any, bias: Any, dtype: Any, data_format: Any) -> None:
        affine = as_bool("affine", affine)
        bias = as_bool("bias", bias)
        dt = as_param_dtype(dtype)
        self.data_format = check_data_format(data_format)
        self.affine = affine
        self._cache: Any = None
        self._out_shape: tuple[int, ...] = ()
        self.weight = Parameter(np.ones(channels, dt)) if affine else None
        self.bias = Parameter(np.zeros(channels, dt)) if affine and bias else None
        self._dtype = dt

    def _input(self, input: Any, channels: int, what: str) -> tuple[np.ndarray, tuple[int, ...]]:
        """The input as ``(N, C, L)`` (``(N, C, 1)`` for ``(N, C)``) in the computation's dtype,
        and its shape as given."""
        x = as_input(input, self._dtype)
        x3 = channels_first(self, x, self.data_format)
        if x3.shape[1] != channels:
            axis = "last" if x.ndim == 3 and self.data_format == "channels_last" else "second"
            raise ValueError(
                f"{type(self).__name__} expects input with {what}={channels} channels on its "
                f"{axis} axis, got shape {x.shape}"
            )
        x3 = x3[:, :, None] if x3.ndim == 2 else x3
        return x3.astype(compute_dtype_of(x3.dtype), copy=False), x.shape

    def _output(self, y: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """``(N, C, L)`` back to the input's layout (``shape``) and the layer's dtype."""
        y = y[:, :, 0] if len(shape) == 2 else F.to_format(y, self.data_format)
        return y.astype(self._dtype, copy=False)

    def _grad(self, grad_output: Any) -> np.ndarray:
        gy = check_grad(self, grad_output, self._out_shape, compute_dtype_of(self._dtype))
        return gy[:, :, None] if gy.ndim == 2 else F.to_format(gy, self.data_format)

    def _affine(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        w, b = F.upcast(None if self.weight is None else np.asarray(self.weight),
                        None if self.bias is None else np.asarray(self.bias))
        return w, b

    def _accumulate(self, gw: np.ndarray, gb: np.ndarray) -> None:
        if self.weight is not None:
            self.weight.accumulate(gw.astype(self._dtype))
        if self.bias is not None:
            self.bias.accumulate(gb.astype(self._dtype))

    def _format_repr(self) -> str:
        return "" if self.data_format == "channels_first" else f", data_format={self.data_format}"

    def _rows(self, factors: tuple[np.ndarray | None, ...], length: int
              ) -> tuple[np.ndarray | None, ...] | None:
        """The per-channel ``(C,)`` ``factors`` repeated along the length, ``(C, L)`` each
        (``None`` stays ``None``), or ``None`` for ``L = 1`` or ``C * L > _ROWS_MAX``.

        ``x * scale[:, None]`` on ``(N, C, L)`` runs NumPy's inner loop once per channel, with
        a stride-0 operand: 9.4 us for ``(64, 1000)`` float32 against 4.0 us with a
        ``(64, 1000)`` operand, which takes the contiguous loop in one call (NumPy 2.4,
        x86-64). So the layer keeps the repeated arrays while the factors (recomputed by the
        caller on each call, compared here byte for byte) and ``L`` stay the same.
        """
        c = self.weight.shape[0] if self.weight is not None else None
        c = next(len(f) for f in factors if f is not None) if c is None else c
        if length == 1 or c * length > _ROWS_MAX:
            return None
        key = (*(None if f is None else f.tobytes() for f in factors), length)
        cached = self.__dict__.get("_repeated")
        if cached is None or cached[0] != key:
            rows = tuple(None if f is None else np.repeat(f[:, None], length, axis=1)
                         for f in factors)
            cached = (key, rows)
            self.__dict__["_repeated"] = cached
        return cached[1]


class BatchNorm1d(_Norm):
    r"""Batch normalisation over ``(N, L)`` per channel, as ``torch.nn.BatchNorm1d``.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, with the batch's mean and biased
    variance in training (or when there are no running statistics) and the running ones in
    eval mode. Each training forward updates ``running = (1 - f) * running + f * batch``
    (the variance unbiased, ``* n / (n - 1)``), ``f = momentum``, or ``1 / num_batches_tracked``
    when ``momentum`` is ``None`` (the cumulative average).

    Parameters
    ----------
    num_features : int
        Channels ``C``.
    eps : float, default 1e-5
        Added to the variance.
    momentum : float in [0, 1] or None, default 0.1
    affine : bool, default True
        Learn ``weight`` (ones at first) and ``bias`` (zeros).
    track_running_stats : bool, default True
        Keep the buffers ``running_mean``, ``running_var`` and ``num_batches_tracked``
        (int64); without them, batch statistics are used in eval mode too.
    bias : bool, keyword-only, default True
        With ``affine``, whether to learn ``bias`` (PyTorch 2.6+'s keyword).
    dtype : float16, bfloat16, float32 or float64, keyword-only, default float32
        Dtype of the parameters, buffers, output and gradients: input is cast to it.
    data_format : {"channels_first", "channels_last"}, keyword-only

    Shape
    -----
    ``(N, C)`` or ``(N, C, L)`` (``(N, L, C)`` channels last), output the same.

    Notes
    -----
    ``backward`` is exact in both modes: in training the batch statistics depend on the input
    (PyTorch's ``batch_norm_backward``), in eval mode the running ones are constants.

    Examples
    --------
    >>> import numpy as np
    >>> m = BatchNorm1d(4)
    >>> m
    BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    >>> list(m.state_dict())
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    >>> x = np.random.default_rng(0).standard_normal((8, 4, 32))
    >>> y = m(x)
    >>> bool(np.allclose(y.mean(axis=(0, 2)), 0, atol=1e-6)), int(m.num_batches_tracked)
    (True, 1)
    >>> m.backward(np.ones_like(y)).shape
    (8, 4, 32)
    """

    running_mean: np.ndarray | None
    running_var: np.ndarray | None
    num_batches_tracked: np.ndarray | None

    _transient = (*_Norm._transient, "_factors")

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        bias: bool = True,
        dtype: Any = np.float32,
        data_format: str = "channels_first",
    ) -> None:
        c = as_int("num_features", num_features, minimum=1)
        eps = _check_eps(eps)
        if momentum is not None:
            as_real("momentum", momentum, low=0, high=1)
        track = as_bool("track_running_stats", track_running_stats)
        super().__init__()
        self.num_features, self.eps, self.momentum = c, eps, momentum
        self.track_running_stats = track
        self._setup(c, affine, bias, dtype, data_format)
        if track:
            self.register_buffer("running_mean", np.zeros(c, self._dtype))
            self.register_buffer("running_var", np.ones(c, self._dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked.

        Examples
        --------
        >>> import numpy as np
        >>> m = BatchNorm1d(2)
        >>> _ = m(np.arange(8.0).reshape(4, 2))
        >>> m.reset_running_stats()
        >>> m.running_mean.tolist(), int(m.num_batches_tracked)
        ([0.0, 0.0], 0)
        """
        for buffer, value in ((self.running_mean, 0), (self.running_var, 1),
                              (self.num_batches_tracked, 0)):
            if buffer is not None:
                buffer[...] = value

    def reset_parameters(self) -> None:
        """The running statistics reset, ``weight`` ones and ``bias`` zeros (PyTorch's start).

        Examples
        --------
        >>> m = BatchNorm1d(2)
        >>> m.weight[...] = 3
        >>> m.reset_parameters()
        >>> m.weight.tolist()
        [1.0, 1.0]
        """
        self.reset_running_stats()
        if self.weight is not None:
            self.weight[...] = 1
        if self.bias is not None:
            self.bias[...] = 0

    def _uses_batch_stats(self) -> bool:
        return self.training or self.running_mean is None

    def forward(self, input: Any) -> np.ndarray:
        """Normalise ``input``; in training, update the running statistics.

        Examples
        --------
        >>> import numpy as np
        >>> m = BatchNorm1d(2, momentum=None)
        >>> y = m(np.array([[0.0, 1.0], [2.0, 5.0]]))
        >>> np.round(y, 4).tolist(), m.running_mean.tolist()
        ([[-1.0, -1.0], [1.0, 1.0]], [1.0, 3.0])
        """
        x, shape = self._input(input, self.num_features, "num_features")
        n = x.shape[0] * x.shape[2]
        batch = self._uses_batch_stats()
        eps = x.dtype.type(self.eps)
        w, b = self._affine()
        if batch:
            if self.training and n <= 1:
                raise ValueError(
                    f"BatchNorm1d needs more than 1 value per channel when training, got input "
                    f"of shape {shape}"
                )
            mean = row_sums(x).sum(axis=0) / n  # (N, C, L) -> (N, C) -> (C,)
            centred = x - mean[:, None]
            var = row_squares(centred).sum(axis=0) / n  # biased: what normalises
            if self.training and self.running_mean is not None:
                self._update_running(mean, var, n)
            invstd = 1 / np.sqrt(var + eps)
            # (x - mean) * (invstd * weight) + bias, into the centred copy.
            y = _per_channel(centred, invstd if w is None else invstd * w, b, out=centred)
        else:
            mean, invstd, scale, shift = self._eval_factors(x.dtype, eps, w, b)
            rows = self._rows((scale, shift), x.shape[2]) if x.flags.c_contiguous else None
            if rows is None:
                y = _per_channel(x, scale, shift)
            else:
                scale_rows, shift_rows = rows
                assert scale_rows is not None and shift_rows is not None  # (both factors given)
                y = np.multiply(x, scale_rows)
                y += shift_rows
        # Straight into __dict__: Module.__setattr__'s checks never apply to these caches.
        self.__dict__.update(_cache=(x, mean, invstd, batch), _out_shape=shape)
        return self._output(y, shape)

    def _eval_factors(self, dtype: np.dtype, eps: Any, w: np.ndarray | None, b: np.ndarray | None
                      ) -> tuple[np.ndarray, ...]:
        """Eval mode's ``mean``, ``invstd`` and per-channel ``scale`` and ``shift``, kept while
        the running statistics and parameters are byte for byte the same (six small NumPy
        calls, ~3 us, saved on each call after the first)."""
        state = (self.running_mean, self.running_var, w, b)
        key = (*(None if a is None else a.tobytes() for a in state), dtype.str, eps)
        cached = self.__dict__.get("_factors")
        if cached is None or cached[0] != key:
            mean = np.asarray(self.running_mean, dtype)
            invstd = 1 / np.sqrt(np.asarray(self.running_var, dtype) + eps)
            # One scale and shift per channel, as PyTorch's batch_norm_cpu_transform_input.
            scale = invstd if w is None else invstd * w
            shift = -mean * scale if b is None else b - mean * scale
            cached = (key, mean, invstd, scale, shift)
            self.__dict__["_factors"] = cached
        return cached[1:]

    def _update_running(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        running_mean, running_var = self.running_mean, self.running_var
        count = self.num_batches_tracked
        assert running_mean is not None and running_var is not None and count is not None
        count[...] += 1
        f = 1.0 / float(count) if self.momentum is None else float(self.momentum)
        unbiased = var * (n / (n - 1))
        running_mean[...] = f * mean + (1 - f) * running_mean.astype(mean.dtype)
        running_var[...] = f * unbiased + (1 - f) * running_var.astype(mean.dtype)

    def backward(self, grad_output: Any) -> np.ndarray:
        """Gradient w.r.t. the last input; adds into ``weight.grad`` and ``bias.grad``.

        Examples
        --------
        >>> import numpy as np
        >>> m = BatchNorm1d(2)
        >>> y = m(np.array([[0.0, 1.0], [2.0, 5.0]]))
        >>> m.backward(np.ones_like(y)).tolist(), m.bias.grad.tolist()
        ([[0.0, 0.0], [0.0, 0.0]], [2.0, 2.0])
        """
        x, mean, invstd, batch = remembered(self, self._cache)
        gy = self._grad(grad_output)
        n = x.shape[0] * x.shape[2]
        centred = x - mean[:, None]
        gsum = gy.sum(axis=(0, 2))
        dotp = (centred * gy).sum(axis=(0, 2))
        w, _ = self._affine()
        scale = invstd if w is None else invstd * w
        if batch:  # the statistics depend on x: PyTorch's batch_norm_backward_cpu
            k = dotp * invstd * invstd / n
            gx = (gy - (gsum / n)[:, None] - centred * k[:, None]) * scale[:, None]
        else:
            gx = gy * scale[:, None]
        self._accumulate(dotp * invstd, gsum)
        return self._output(gx, self._out_shape)

    def stream(self) -> Any:
        """In eval mode (with running statistics) it is pointwise in time, so it streams with
        no delay; with batch statistics it cannot.

        Examples
        --------
        >>> BatchNorm1d(4).eval().stream().delay
        0
        """
        if self._uses_batch_stats():
            raise ValueError(
                "BatchNorm1d streams in eval mode with running statistics only (call .eval() "
                "first): batch statistics need the whole signal"
            )
        from .stream import ElementwiseStream

        return ElementwiseStream(self)

    def extra_repr(self) -> str:
        """The arguments ``repr`` shows, as PyTorch's (``data_format`` when not the default).

        Examples
        --------
        >>> BatchNorm1d(4, momentum=None).extra_repr()
        '4, eps=1e-05, momentum=None, affine=True, bias=True, track_running_stats=True'
        """
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}" + self._format_repr())


class GroupNorm(_Norm):
    """Normalisation over each sample's channel groups, as ``torch.nn.GroupNorm``.

    The ``C`` channels split into ``num_groups`` groups; each sample's group is normalised by
    its own mean and biased variance over its channels and time steps, then each channel is
    scaled and shifted. The same in training and eval mode.

    Parameters
    ----------
    num_groups : int
        Divides ``num_channels``.
    num_channels : int
    eps : float, default 1e-5
    affine : bool, default True
        Learn per-channel ``weight`` (ones at first) and ``bias`` (zeros).
    bias : bool, keyword-only, default True
        With ``affine``, whether to learn ``bias``.
    dtype : float16, bfloat16, float32 or float64, keyword-only, default float32
    data_format : {"channels_first", "channels_last"}, keyword-only

    Shape
    -----
    ``(N, C)`` or ``(N, C, L)`` (``(N, L, C)`` channels last), output the same.

    Examples
    --------
    >>> import numpy as np
    >>> m = GroupNorm(2, 4)
    >>> m
    GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)
    >>> y = m(np.random.default_rng(0).standard_normal((3, 4, 10)))
    >>> y.shape, m.backward(np.ones_like(y)).shape
    ((3, 4, 10), (3, 4, 10))
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        *,
        bias: bool = True,
        dtype: Any = np.float32,
        data_format: str = "channels_first",
    ) -> None:
        g = as_int("num_groups", num_groups, minimum=1)
        c = as_int("num_channels", num_channels, minimum=1)
        if c % g:
            raise ValueError(
                f"num_channels must be divisible by num_groups, got num_channels={num_channels!r} "
                f"and num_groups={num_groups!r}"
            )
        eps = _check_eps(eps)
        super().__init__()
        self.num_groups, self.num_channels, self.eps = g, c, eps
        self._setup(c, affine, bias, dtype, data_format)

    def reset_parameters(self) -> None:
        """``weight`` ones and ``bias`` zeros (PyTorch's start).

        Examples
        --------
        >>> m = GroupNorm(1, 2)
        >>> m.bias[...] = 3
        >>> m.reset_parameters()
        >>> m.bias.tolist()
        [0.0, 0.0]
        """
        if self.weight is not None:
            self.weight[...] = 1
        if self.bias is not None:
            self.bias[...] = 0

    def forward(self, input: Any) -> np.ndarray:
        """Normalise each sample's groups.

        Examples
        --------
        >>> import numpy as np
        >>> np.round(GroupNorm(1, 2)(np.array([[1.0, 3.0]])), 4).tolist()
        [[-1.0, 1.0]]
        """
        x, shape = self._input(input, self.num_channels, "num_channels")
        n, c, length = x.shape
        g = self.num_groups
        xg = x.reshape(n, g, -1)  # (N, C, L) -> (N, G, C/G * L)
        m = xg.shape[2]
        mean = row_sums(xg) / m
        centred = xg - mean[:, :, None]
        rstd = 1 / np.sqrt(row_squares(centred) / m + x.dtype.type(self.eps))
        w, b = self._affine()
        rows = self._rows((w, b), length) if w is not None or b is not None else None
        if rows is None and w is not None:
            # (x - mean) * (rstd * weight) + bias, per sample and channel, into the centred copy.
            scale = (rstd[:, :, None] * w.reshape(g, c // g)).reshape(n, c)
            centred3 = centred.reshape(n, c, length)
            y = _per_channel(centred3, scale, b, out=centred3)
        else:  # (x - mean) * rstd per group (rows of C/G * L), then weight and bias per channel
            centred *= rstd[:, :, None]
            y = centred.reshape(n, c, length)
            if rows is not None:
                if rows[0] is not None:
                    y *= rows[0]
                if rows[1] is not None:
                    y += rows[1]
            elif b is not None:
                y += b[:, None]
        # Backward's normalised input is recomputed from these (no copy kept).
        self.__dict__.update(_cache=(x, mean, rstd), _out_shape=shape)
        return self._output(y, shape)

    def backward(self, grad_output: Any) -> np.ndarray:
        """Gradient w.r.t. the last input; adds into ``weight.grad`` and ``bias.grad``.

        Examples
        --------
        >>> import numpy as np
        >>> m = GroupNorm(1, 2)
        >>> y = m(np.array([[1.0, 3.0]]))
        >>> m.backward(np.ones_like(y)).tolist(), m.bias.grad.tolist()
        ([[0.0, 0.0]], [1.0, 1.0])
        """
        x, mean, rstd = remembered(self, self._cache)
        gy = self._grad(grad_output)
        n, c, length = x.shape
        xhat = ((x.reshape(n, self.num_groups, -1) - mean[:, :, None]) * rstd[:, :, None]
                ).reshape(n, c, length)
        w, _ = self._affine()
        g = gy if w is None else gy * w[:, None]
        # Per group: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight.
        gg = g.reshape(n, self.num_groups, -1)
        hg = xhat.reshape(n, self.num_groups, -1)
        gx = rstd[:, :, None] * (gg - gg.mean(axis=2, keepdims=True)
                                 - hg * (gg * hg).mean(axis=2, keepdims=True))
        self._accumulate((gy * xhat).sum(axis=(0, 2)), gy.sum(axis=(0, 2)))
        return self._output(gx.reshape(n, c, length), self._out_shape)

    def extra_repr(self) -> str:
        """The arguments ``repr`` shows, as PyTorch's (``data_format`` when not the default).

        Examples
        --------
        >>> GroupNorm(2, 4, affine=False).extra_repr()
        '2, 4, eps=1e-05, affine=False, bias=False'
        """
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}" + self._format_repr())
