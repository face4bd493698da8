"""The layer: :class:`Conv1d`, PyTorch's ``torch.nn.Conv1d`` on NumPy arrays."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from . import functional as F
from .module import Module, Parameter
from .plan import MAX_LAYER_PLANS, ConvPlan
from .spec import ConvSpec, check_data_format

if TYPE_CHECKING:
    import dask.array

    from .stream import ConvStream


def as_rng(rng: Any) -> np.random.Generator:
    """A ``Generator`` from ``None``, an int seed or a ``Generator``."""
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        if rng is not None and rng < 0:
            raise ValueError(f"rng must be a non-negative int seed, None or a Generator, got {rng}")
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator, got {rng!r}")


def init_uniform(weight: np.ndarray, bias: np.ndarray | None, bound: float, rng: Any) -> None:
    """Fill ``weight`` and ``bias`` (in place) from U(-bound, bound), weight first.

    ``rng``: ``None``, an int seed or a ``numpy.random.Generator``. Half-precision parameters
    get the float32 draws, rounded: the same seed gives the float32 layer's start.

    Examples
    --------
    >>> w, b = np.empty((2, 3), np.float16), np.empty(2, np.float16)
    >>> init_uniform(w, b, 0.5, rng=0)
    >>> w2 = np.empty((2, 3), np.float32)
    >>> init_uniform(w2, None, 0.5, rng=0)
    >>> bool((w == w2.astype(np.float16)).all()), bool(np.abs(b).max() <= 0.5)
    (True, True)
    """
    gen = as_rng(rng)
    draw_dtype = np.float64 if weight.dtype == np.float64 else np.float32
    weight[...] = gen.uniform(-bound, bound, weight.shape).astype(draw_dtype)
    if bias is not None:
        bias[...] = gen.uniform(-bound, bound, bias.shape).astype(draw_dtype)


def as_param_dtype(dtype: Any) -> np.dtype:
    """The parameters' dtype; the string ``"bfloat16"`` imports ml_dtypes for it."""
    if isinstance(dtype, str) and dtype == "bfloat16":
        return F.bfloat16()
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a NumPy floating dtype, got {dtype!r}") from None
    if dt not in F.COMPUTE_DTYPES and not F.is_half(dt):
        raise ValueError(f"dtype must be {F.SUPPORTED_DTYPES}, got {dt}")
    return dt


class Conv1d(Module):
    r"""1D convolution (cross-correlation) over an input of several channels.

    The same layer as ``torch.nn.Conv1d`` (R torch's ``nn_conv1d``):
    ``out[n, j] = bias[j] + sum_k weight[j, k] \star input[n, k]`` over the ``k`` in
    output channel ``j``'s group.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output; both divisible by ``groups``.
    kernel_size : int or 1-tuple
        Taps per filter.
    stride : int or 1-tuple, default 1
        Step between outputs.
    padding : int, 1-tuple, (left, right) pair or {"valid", "same", "causal"}, default 0
        Samples added to each end; ``"same"`` keeps the length (stride 1 only), ``"causal"``
        puts ``dilation*(kernel_size-1)`` samples on the left only.
    dilation : int or 1-tuple, default 1
        Spacing between taps.
    groups : int, default 1
        Blocked connections between input and output channels.
    bias : bool, default True
        Whether to learn an additive bias.
    padding_mode : {"zeros", "reflect", "replicate", "circular"}, default "zeros"
    dtype : float16, bfloat16, float32 or float64, keyword-only, default float32
        Dtype of the parameters, of the output and of the gradients: input is cast to it.
        float16 and bfloat16 (``"bfloat16"`` or ``ml_dtypes.bfloat16``) are storage types:
        the computation upcasts to float32, accumulates in float32 and rounds each result once.
    rng : None, int or numpy.random.Generator, keyword-only
        Source of the initial weights, for reproducible initialisation.
    algorithm : str, keyword-only, default "auto"
        Correlation algorithm (see ``conv1d.algorithms``).
    data_format : {"channels_first", "channels_last"}, keyword-only, default "channels_first"
        Layout of the input, the output and the input's gradient: ``(N, C, L)`` as PyTorch,
        or ``(N, L, C)``. The weights keep PyTorch's layout either way.

    Attributes
    ----------
    weight : Parameter, shape (out_channels, in_channels / groups, kernel_size)
    bias : Parameter, shape (out_channels,), or None

    Shape
    -----
    Input ``(N, C_in, L)`` or ``(C_in, L)``; output ``(N, C_out, L_out)`` or ``(C_out, L_out)``
    with ``L_out = floor((L + left + right - dilation*(kernel_size-1) - 1) / stride) + 1``.
    With ``data_format="channels_last"``: input ``(N, L, C_in)`` or ``(L, C_in)``, output
    ``(N, L_out, C_out)`` or ``(L_out, C_out)``, as transposed views (see
    :func:`conv1d.functional.conv1d`).

    Examples
    --------
    >>> import numpy as np
    >>> m = Conv1d(16, 33, 3, stride=2, rng=0)
    >>> m
    Conv1d(16, 33, kernel_size=(3,), stride=(2,))
    >>> x = np.random.default_rng(0).standard_normal((20, 16, 50), dtype=np.float32)
    >>> y = m(x)
    >>> y.shape, y.dtype
    ((20, 33, 24), dtype('float32'))
    >>> gx = m.backward(np.ones_like(y))
    >>> gx.shape, m.weight.grad.shape
    ((20, 16, 50), (33, 16, 3))
    >>> m = Conv1d(16, 33, 3, dtype=np.float16, data_format="channels_last", rng=0)
    >>> m
    Conv1d(16, 33, kernel_size=(3,), stride=(1,), data_format=channels_last)
    >>> y = m(x.transpose(0, 2, 1))
    >>> y.shape, y.dtype, m.weight.dtype
    ((20, 48, 33), dtype('float16'), dtype('float16'))
    """

    # What the last forward remembered for backward, and the plans (rebuilt after unpickling).
    _transient = ("_input", "_plan", "_plans", "_cols")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] | tuple[int, int] | str = 0,
        dilation: int | tuple[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        dtype: Any = np.float32,
        rng: Any = None,
        algorithm: str = "auto",
        data_format: str = "channels_first",
    ) -> None:
        spec = ConvSpec.from_args(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, padding_mode
        )
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        dt = as_param_dtype(dtype)
        gen = as_rng(rng)
        if not isinstance(algorithm, str):
            raise TypeError(f"algorithm must be a string, got {algorithm!r}")
        self.data_format = check_data_format(data_format)
        self.spec = spec
        self.algorithm = algorithm
        self._input: np.ndarray | None = None
        self._plan: ConvPlan | None = None
        self._plans: dict[tuple, ConvPlan] | None = None
        self.weight = Parameter(np.empty((spec.out_channels, spec.in_channels // spec.groups,
                                          spec.kernel_size), dt))
        self.bias = Parameter(np.empty(spec.out_channels, dt)) if bias else None
        # PyTorch's attributes, in PyTorch's forms.
        self.padding = padding if isinstance(padding, str) else (
            (spec.pad_left,) if spec.pad_left == spec.pad_right else (spec.pad_left, spec.pad_right)
        )
        self.reset_parameters(gen)

    # PyTorch's attributes, read from the spec (tuples where PyTorch's are).
    @property
    def in_channels(self) -> int:
        """Channels of the input, ``C_in``."""
        return self.spec.in_channels

    @property
    def out_channels(self) -> int:
        """Channels of the output, ``C_out``."""
        return self.spec.out_channels

    @property
    def kernel_size(self) -> tuple[int]:
        """``(K,)``: taps per filter, as a 1-tuple like PyTorch's."""
        return (self.spec.kernel_size,)

    @property
    def stride(self) -> tuple[int]:
        """``(stride,)``: the step between outputs, as a 1-tuple like PyTorch's."""
        return (self.spec.stride,)

    @property
    def dilation(self) -> tuple[int]:
        """``(dilation,)``: the spacing between taps, as a 1-tuple like PyTorch's."""
        return (self.spec.dilation,)

    @property
    def groups(self) -> int:
        """Blocked connections: input and output channels split into this many groups."""
        return self.spec.groups

    @property
    def padding_mode(self) -> str:
        """What the padded samples hold: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``."""
        return self.spec.padding_mode

    @property
    def padding_amounts(self) -> tuple[int, int]:
        """``(left, right)``: the samples the padding actually adds at each end.

        >>> Conv1d(1, 1, 4, padding="same", dilation=3).padding_amounts
        (4, 5)
        >>> Conv1d(1, 1, 3, padding="causal", dilation=2).padding_amounts
        (4, 0)
        """
        return self.spec.pad_left, self.spec.pad_right

    @property
    def receptive_field(self) -> int:
        """Input samples one output depends on: ``dilation * (kernel_size - 1) + 1``.

        >>> Conv1d(1, 1, 3, dilation=4).receptive_field
        9
        """
        return self.spec.span

    def output_length(self, length: int) -> int:
        """``L_out`` for an input of ``length`` samples (the "Shape" formula).

        Raises
        ------
        ValueError
            If a signal of ``length`` samples is too short for the layer (the error ``forward``
            would give), or ``length`` is negative.

        Examples
        --------
        >>> Conv1d(16, 33, 3, stride=2).output_length(50)
        24
        """
        from .spec import as_int

        n = as_int("length", length, minimum=0)
        self.spec.check_length(n)
        return self.spec.output_length(n)

    def stream(self) -> ConvStream:
        """Chunk-by-chunk inference equal to ``forward``: a :class:`conv1d.stream.ConvStream`.

        Raises
        ------
        ValueError
            For ``padding_mode="circular"``, which needs the end of the signal at its start.

        Examples
        --------
        >>> m = Conv1d(2, 4, 3, padding="causal", rng=0)
        >>> s = m.stream()
        >>> x = np.random.default_rng(0).standard_normal((1, 2, 10)).astype(np.float32)
        >>> parts = [s(x[..., :3]), s(x[..., 3:4]), s(x[..., 4:]), s.flush()]
        >>> [p.shape[-1] for p in parts], s.delay  # each output comes with its last input
        ([3, 1, 6, 0], 0)
        >>> np.allclose(np.concatenate(parts, axis=-1), m(x), atol=1e-6)
        True
        """
        from .stream import ConvStream

        return ConvStream(self)

    def reset_parameters(self, rng: Any = None) -> None:
        """Draw weight and bias from U(-sqrt(k), sqrt(k)), ``k = groups / (C_in * K)``.

        This is PyTorch's default (Kaiming-uniform with ``a = sqrt(5)`` reduces to this bound,
        ``1 / sqrt(fan_in)``), so a layer starts with the output scale PyTorch's would.
        ``rng``: ``None``, an int seed or a ``numpy.random.Generator``.

        Examples
        --------
        >>> m = Conv1d(2, 3, 8, rng=0)  # k = 1 / (2 * 8): bound 0.25
        >>> m.reset_parameters(rng=1)
        >>> bool(np.abs(m.weight).max() <= 0.25), bool(np.abs(m.bias).max() <= 0.25)
        (True, True)
        >>> m.reset_parameters(rng=1); w = m.weight.copy(); m.reset_parameters(rng=1)
        >>> bool((m.weight == w).all())  # the same seed draws the same parameters
        True
        """
        fan_in = self.spec.in_channels // self.spec.groups * self.spec.kernel_size
        init_uniform(self.weight, self.bias, 1.0 / math.sqrt(fan_in), rng)

    def _check_parameter(self, name: str, value: Parameter) -> None:
        """A new ``weight`` or ``bias`` must have the layer's shape and a supported dtype."""
        spec = self.__dict__.get("spec")
        if spec is None or name not in ("weight", "bias"):
            return
        shape = ((spec.out_channels, spec.in_channels // spec.groups, spec.kernel_size)
                 if name == "weight" else (spec.out_channels,))
        if value.shape != shape:
            what = ("(out_channels, in_channels // groups, kernel_size)" if name == "weight"
                    else "(out_channels,)")
            raise ValueError(
                f"Conv1d.{name} must have shape {what} = {shape}, got a Parameter of shape "
                f"{value.shape} (build a new Conv1d for other channel counts or kernel sizes)"
            )
        try:
            as_param_dtype(value.dtype)
        except (TypeError, ValueError):
            raise TypeError(
                f"Conv1d.{name} must have dtype {F.SUPPORTED_DTYPES}, got {value.dtype}"
            ) from None

    def _input_batch(self, input: Any) -> tuple[np.ndarray, bool]:
        x = F.as_real_array("input", input).astype(self.weight.dtype, copy=False)
        return F.as_batch(x, self.spec, self.data_format)

    def _current(self, plan: ConvPlan) -> bool:
        """Whether ``plan`` was built for this layer as it is now (the same objects)."""
        return (plan.weight is self.weight and plan.bias is self.bias and plan.spec is self.spec
                and plan.algorithm is self.algorithm and plan.data_format is self.data_format
                and plan.current())

    def _plan_for(self, x: np.ndarray) -> ConvPlan:
        """The plan for inputs shaped, strided and typed like ``x``; built (after the full
        validation, which raises what it always did) on first use."""
        key = (x.shape, x.strides, x.dtype)
        plans = self._plans
        plan = None if plans is None else plans.get(key)
        if plan is not None and self._current(plan):
            return plan
        x3, unbatched = self._input_batch(x)
        w = np.asarray(self.weight)  # a view: in-place updates of the weight show through
        b = None if self.bias is None else np.asarray(self.bias)
        plan = F.make_plan(x, x3, w, b, self.spec, unbatched, self.algorithm, self.data_format)
        plan.weight, plan.bias, plan.w, plan.b = self.weight, self.bias, w, b
        if plans is None:
            plans = self._plans = {}
        elif key not in plans and len(plans) >= MAX_LAYER_PLANS:
            try:  # the oldest goes (another thread may be at it too)
                plans.pop(next(iter(plans)), None)
            except (RuntimeError, StopIteration):
                pass
        plans[key] = plan
        return plan

    def _drop_cols(self) -> None:
        """Give back the GEMM columns the last planned forward kept (no backward will use them)."""
        old = self.__dict__.pop("_cols", None)
        if old is not None:
            old[0].release(old[1])

    if not TYPE_CHECKING:  # type checkers see Module's: ``m(x)`` typed as ``m.forward(x)``
        def __call__(self, input: Any) -> np.ndarray:
            """:meth:`forward` (without :class:`~conv1d.Module`'s generic dispatch).

            Examples
            --------
            >>> Conv1d(2, 3, 3, rng=0)(np.zeros((2, 10), np.float32)).shape
            (3, 8)
            """
            return self.forward(input)

    # NumPy in, NumPy out; dask in, dask out (see functional.conv1d).
    @overload
    def forward(self, input: np.ndarray | Sequence[Any]) -> np.ndarray: ...
    @overload
    def forward(self, input: dask.array.Array) -> dask.array.Array: ...

    def forward(self, input: Any) -> np.ndarray | dask.array.Array:
        """Convolve ``input``, remembering it for :meth:`backward`.

        A NumPy input runs the layer's plan for its shape, strides and dtype (see
        :mod:`conv1d.plan`). A ``dask.array.Array`` input gives a lazy ``dask.array.Array``
        (see :mod:`conv1d.dask`); it is not remembered, and :meth:`backward` refuses to run
        after it.

        Examples
        --------
        >>> m = Conv1d(16, 33, 3, stride=2, rng=0)
        >>> y = m.forward(np.ones((20, 16, 50), np.float32))
        >>> y.shape, y.dtype
        ((20, 33, 24), dtype('float32'))
        >>> m.forward(np.ones((16, 50), np.float32)).shape  # unbatched in, unbatched out
        (33, 24)
        """
        if type(input) is np.ndarray:
            plan = self._plan_for(input)
            x = plan.batch(input)
            y, cols = plan.run_keep(x, plan.w, plan.b)
            # What backward needs (with the GEMM's columns of x, when it made them), stored
            # past any attribute hook (never a Parameter here).
            d = self.__dict__
            old = d.pop("_cols", None)  # one thread gets it; it goes back to its kernel
            d["_input"], d["_unbatched"], d["_plan"], d["_cols"] = x, plan.unbatched, plan, cols
            if old is not None:
                old[0].release(old[1])
            return plan.output(y)
        if F.is_dask_array(input):
            from .dask import forward as dask_forward

            b = None if self.bias is None else np.asarray(self.bias)
            lazy = dask_forward(input, np.asarray(self.weight), b, self.spec, self.algorithm,
                                self.data_format)
            self._input, self._plan = None, None
            self._drop_cols()
            return lazy
        x, unbatched = self._input_batch(input)  # lists, ndarray subclasses: no plan
        b = None if self.bias is None else np.asarray(self.bias)
        y = F.forward(x, np.asarray(self.weight), b, self.spec, self.algorithm)
        self._input, self._unbatched, self._plan = x, unbatched, None
        self._drop_cols()
        y = F.to_format(y, self.data_format)
        return y[0] if unbatched else y

    def backward(self, grad_output: Any) -> np.ndarray:
        """Gradient w.r.t. the last forward's input; adds into ``weight.grad``/``bias.grad``.

        ``grad_output`` (``dloss/doutput``) has the last output's shape; the gradients add up
        over calls until :meth:`~conv1d.Module.zero_grad`, as PyTorch's do.

        Raises
        ------
        RuntimeError
            Before any forward (or after a forward on a dask array).
        ValueError
            If ``grad_output``'s shape is not the last output's.

        Examples
        --------
        >>> m = Conv1d(4, 2, 3, rng=0)
        >>> y = m(np.ones((5, 4, 10), np.float32))
        >>> gx = m.backward(np.ones_like(y))
        >>> gx.shape, m.weight.grad.shape, m.bias.grad.tolist()  # the bias's: N * L_out ones
        ((5, 4, 10), (2, 4, 3), [40.0, 40.0])
        """
        x = self._input
        if x is None:
            raise RuntimeError(
                "Conv1d.backward called before forward (a forward on a dask array keeps no "
                "input: backward needs an in-memory forward, e.g. on x.compute())"
            )
        plan = self._plan
        gy = plan.grad_batch(grad_output) if plan is not None and self._current(plan) else None
        if plan is not None and gy is not None:
            grads = plan.run_backward(gy, x, plan.w, plan.has_bias,
                                      self.__dict__.pop("_cols", None))
            gx = plan.output(grads.input)
        else:  # no plan, or grad_output is not an array of the output's shape
            gy = F.grad_output_batch(grad_output, x, self.spec, self._unbatched,
                                     self.data_format, what="the last output's shape")
            b = self.bias is not None
            grads = F.backward(gy, x, np.asarray(self.weight), b, self.spec, self.algorithm)
            gx = F.to_format(grads.input, self.data_format)
            gx = gx[0] if self._unbatched else gx
        self.weight.accumulate(grads.weight)
        if self.bias is not None and grads.bias is not None:
            self.bias.accumulate(grads.bias)
        return gx

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if self.padding not in ((0,), (0, 0)):
            s += f", padding={self.padding}"
        if self.dilation != (1,):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        if self.data_format != "channels_first":
            s += f", data_format={self.data_format}"
        return s
