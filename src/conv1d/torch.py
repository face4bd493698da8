"""``conv1d`` inside PyTorch models: a drop-in ``torch.nn.Conv1d`` and a model converter.

:class:`Conv1d` is ``torch.nn.Conv1d`` (same constructor, same parameters, same state dict)
whose forward and backward run ``conv1d``'s algorithms through a ``torch.autograd.Function``.
On CPU tensors the data crosses between the libraries without a copy (``Tensor.numpy()`` and
``torch.from_numpy`` share memory). :func:`convert` swaps the ``torch.nn.Conv1d`` layers of an
existing model for it, keeping their parameters (the same ``Parameter`` objects, so an
optimizer built before the swap keeps working).

This module imports PyTorch; ``import conv1d`` does not import it (nor this module).

>>> import torch, conv1d.torch
>>> m = conv1d.torch.Conv1d(16, 33, 3, stride=2)
>>> m(torch.zeros(20, 16, 50)).shape
torch.Size([20, 33, 24])
"""

from __future__ import annotations

import copy
import time
from typing import Any, Literal, cast, overload

import numpy as np
import torch

from . import functional as F
from .algorithms import ALGORITHMS

__all__ = ["Conv1d", "ConvTranspose1d", "bench_torch_layer", "conv1d", "conv_transpose1d", "convert"]

#: The tensor dtypes the layer takes; each crosses to NumPy without a copy (bfloat16 as its
#: bits, viewed as ml_dtypes' bfloat16). float16/bfloat16 are computed in float32.
DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)

#: ``torch.nn.Conv1d``'s padding modes (its constructor's type).
PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


def _check_tensor(name: str, t: Any) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(
            f"conv1d.torch runs on CPU tensors only, got {name} on device {t.device}; "
            f"keep torch.nn.Conv1d for {t.device.type} (or move the model to the CPU)"
        )
    if t.dtype not in DTYPES:
        raise TypeError(
            f"{name} must have dtype float32, float64, float16 or bfloat16, got {t.dtype}"
        )
    if t.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor, got layout {t.layout}")


@overload
def _to_numpy(t: torch.Tensor) -> np.ndarray: ...
@overload
def _to_numpy(t: torch.Tensor | None) -> np.ndarray | None: ...


def _to_numpy(t: torch.Tensor | None) -> np.ndarray | None:
    """A NumPy view of ``t``'s memory (a copy only where ``t`` is not contiguous)."""
    if t is None:
        return None
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(F.bfloat16())
    return t.numpy()


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    """A tensor sharing ``a``'s memory (copied only when read-only or negatively strided)."""
    if not a.flags.writeable or any(s < 0 for s in a.strides):
        a = a.copy()
    if a.dtype.name == "bfloat16":
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def _to_tensor_or_none(a: np.ndarray | None) -> torch.Tensor | None:
    return None if a is None else _to_tensor(a)


class _ConvFunction(torch.autograd.Function):
    """Forward ``ops[0]`` (NumPy in, NumPy out), backward ``ops[1]`` (its ``*_backward``).

    ``ops`` is ``(F.conv1d, F.conv1d_backward)`` or the ``conv_transpose1d`` pair; ``conf`` is
    the keyword arguments both take.
    """

    @staticmethod
    def forward(ctx: Any, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                ops: tuple[Any, Any], conf: dict[str, Any]) -> torch.Tensor:
        y = ops[0](_to_numpy(input), _to_numpy(weight), _to_numpy(bias), **conf)
        ctx.save_for_backward(input, weight, bias)
        ctx.backward_op, ctx.conf = ops[1], conf
        return _to_tensor(y)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):  # pyright: ignore[reportIncompatibleMethodOverride]
        input, weight, bias = ctx.saved_tensors
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if need_input or need_weight:
            # The backward op computes all three; autograd wants None where none is needed.
            grads = ctx.backward_op(_to_numpy(grad_output), _to_numpy(input), _to_numpy(weight),
                                    _to_numpy(bias), **ctx.conf)
            gx = _to_tensor_or_none(grads.input) if need_input else None
            gw = _to_tensor(grads.weight) if need_weight else None
            gb = _to_tensor_or_none(grads.bias) if need_bias else None
        elif need_bias:
            # (N, C_out, L_out) -> (C_out,), or (C_out, L_out) -> (C_out,) unbatched.
            gb = grad_output.sum(dim=(0, 2) if grad_output.dim() == 3 else 1)
        return gx, gw, gb, None, None


def _check_tensors(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                   layer: str) -> None:
    """Raise unless all are CPU tensors of a supported dtype, ``weight``'s and ``bias``'s
    ``input``'s (as ``torch.nn.<layer>`` requires)."""
    for name, t in (("input", input), ("weight", weight), ("bias", bias)):
        if t is not None:
            _check_tensor(name, t)
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != input.dtype:
            raise TypeError(
                f"input and {name} must have the same dtype (as torch.nn.{layer} requires), "
                f"got input {input.dtype} and {name} {t.dtype}"
            )


def conv1d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | tuple[int, int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    *,
    algorithm: str = "auto",
) -> torch.Tensor:
    """``torch.nn.functional.conv1d`` computed by ``conv1d``, differentiable by autograd.

    Takes :func:`conv1d.functional.conv1d`'s arguments, as CPU tensors: ``padding`` may also be
    a ``(left, right)`` pair or ``"causal"``, and ``padding_mode`` is
    ``torch.nn.Conv1d``'s.

    Parameters
    ----------
    input : Tensor, shape (N, C_in, L) or (C_in, L)
    weight : Tensor, shape (C_out, C_in / groups, K)
    bias : Tensor, shape (C_out,), optional
        All three on the CPU, of one dtype: float32, float64, float16 or bfloat16.
    stride, padding, dilation, groups, padding_mode, algorithm
        As :func:`conv1d.functional.conv1d`.

    Returns
    -------
    Tensor, shape (N, C_out, L_out) or (C_out, L_out)
        In the input's dtype, sharing memory with the NumPy result.

    Raises
    ------
    TypeError
        For a non-tensor, an unsupported dtype, or tensors of different dtypes.
    ValueError
        For a tensor that is not on the CPU, or the arguments ``conv1d.functional.conv1d``
        refuses.

    Examples
    --------
    >>> x = torch.randn(2, 4, 10, dtype=torch.float64, requires_grad=True)
    >>> w = torch.randn(3, 4, 3, dtype=torch.float64, requires_grad=True)
    >>> y = conv1d(x, w, padding="same", padding_mode="circular")
    >>> y.sum().backward()
    >>> y.shape, x.grad.shape, w.grad.shape
    (torch.Size([2, 3, 10]), torch.Size([2, 4, 10]), torch.Size([3, 4, 3]))
    """
    _check_tensors(input, weight, bias, "Conv1d")
    conf = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                padding_mode=padding_mode, algorithm=algorithm)
    return _ConvFunction.apply(input, weight, bias, (F.conv1d, F.conv1d_backward), conf)


def _check_algorithm(algorithm: Any) -> str:
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {tuple(ALGORITHMS)}, got {algorithm!r}")
    return algorithm


class Conv1d(torch.nn.Conv1d):
    """``torch.nn.Conv1d`` whose forward and backward run ``conv1d``'s algorithms.

    Same constructor, attributes, initialisation and state dict as ``torch.nn.Conv1d`` (it is
    a subclass that overrides ``forward`` only), plus the keyword-only ``algorithm``. CPU
    tensors only; float32, float64, float16 and bfloat16.

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
    padding_mode, device, dtype
        As ``torch.nn.Conv1d``.
    algorithm : str, keyword-only, default "auto"
        ``"auto"`` or a name from ``conv1d.algorithms.ALGORITHMS``.

    Shape
    -----
    Input ``(N, C_in, L)`` or ``(C_in, L)``; output ``(N, C_out, L_out)`` or ``(C_out, L_out)``
    with ``L_out = floor((L + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1``.

    Examples
    --------
    >>> m = Conv1d(4, 8, 255, padding="same", groups=4, padding_mode="reflect", algorithm="auto")
    >>> x = torch.randn(2, 4, 1000, requires_grad=True)
    >>> y = m(x)
    >>> y.sum().backward()
    >>> y.shape, m.weight.grad.shape, list(m.state_dict())
    (torch.Size([2, 8, 1000]), torch.Size([8, 1, 255]), ['weight', 'bias'])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: str | int | tuple[int] = 0,
        dilation: int | tuple[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: PaddingMode = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        algorithm: str = "auto",
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device=device, dtype=dtype)
        self.algorithm = _check_algorithm(algorithm)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """``torch.nn.Conv1d``'s forward, computed by :func:`conv1d` (autograd runs its backward).

        Examples
        --------
        >>> m = Conv1d(2, 3, 5, padding=2, dtype=torch.float64)
        >>> x = torch.randn(1, 2, 16, dtype=torch.float64)
        >>> y = m(x)
        >>> y.shape, bool(torch.allclose(y, torch.nn.Conv1d.forward(m, x)))
        (torch.Size([1, 3, 16]), True)
        """
        # torch types these as tuple[int, ...]; a Conv1d's are 1-tuples (padding: or a string).
        stride, dilation = cast("tuple[int]", self.stride), cast("tuple[int]", self.dilation)
        padding = cast("str | tuple[int]", self.padding)
        return conv1d(input, self.weight, self.bias, stride, padding, dilation, self.groups,
                      self.padding_mode, algorithm=self.algorithm)

    def extra_repr(self) -> str:
        """``torch.nn.Conv1d``'s, with ``algorithm`` when it is not ``"auto"``.

        Examples
        --------
        >>> Conv1d(2, 3, 5, algorithm="direct")
        Conv1d(2, 3, kernel_size=(5,), stride=(1,), algorithm='direct')
        """
        s = super().extra_repr()
        return s if self.algorithm == "auto" else f"{s}, algorithm={self.algorithm!r}"


def convert(model: torch.nn.Module, *, algorithm: str = "auto") -> torch.nn.Module:
    """Replace every ``torch.nn.Conv1d`` in ``model`` (recursively) by :class:`Conv1d`, in place.

    ``torch.nn.ConvTranspose1d`` layers are replaced by :class:`ConvTranspose1d` the same way.

    Each replacement takes over the replaced layer's whole state: the same ``Parameter``
    objects (an optimizer built on ``model.parameters()`` keeps working, tied weights stay
    tied), buffers, hooks and train/eval mode. A layer held in several places is replaced by
    one layer. Only layers whose type is exactly ``torch.nn.Conv1d`` are swapped: subclasses
    (with their own ``forward``), ``LazyConv1d`` and parametrized layers
    (``torch.nn.utils.parametrize``) are left as they are.

    Parameters
    ----------
    model : torch.nn.Module
        On the CPU (its ``Conv1d`` layers' parameters at least).
    algorithm : str, keyword-only, default "auto"
        Given to every new layer.

    Returns
    -------
    torch.nn.Module
        ``model``; only when ``model`` is itself a ``torch.nn.Conv1d``, its replacement.

    Raises
    ------
    ValueError
        If a ``Conv1d`` layer's parameters are not on the CPU, or ``algorithm`` is unknown
        (before anything is replaced).

    Examples
    --------
    >>> import conv1d.torch
    >>> net = torch.nn.Sequential(torch.nn.Conv1d(1, 8, 5), torch.nn.ReLU(), torch.nn.Conv1d(8, 2, 3))
    >>> before = net(torch.ones(1, 1, 32))
    >>> conv1d.torch.convert(net) is net, type(net[0]).__module__
    (True, 'conv1d.torch')
    >>> bool(torch.allclose(net(torch.ones(1, 1, 32)), before, atol=1e-6))
    True
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_algorithm(algorithm)
    layers = [m for m in model.modules() if type(m) in _REPLACEMENTS]
    for m in layers:
        for name, p in m.named_parameters(recurse=False):
            if p.device.type != "cpu":
                kind = type(m).__name__
                raise ValueError(
                    f"convert: conv1d.torch.{kind} runs on the CPU only, got a {kind} with "
                    f"{name} on {p.device}"
                )
    new = {id(m): _swap(m, algorithm) for m in layers}
    if id(model) in new:
        return new[id(model)]
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if id(child) in new:
                setattr(parent, name, new[id(child)])
    return model


def _swap(layer: torch.nn.Module, algorithm: str) -> torch.nn.Module:
    """Its replacement, with ``layer``'s state (its attribute dicts copied, their values shared)."""
    cls = _REPLACEMENTS[type(layer)]
    new = cls.__new__(cls)
    new.__dict__.update({k: copy.copy(v) if isinstance(v, dict) else v for k, v in vars(layer).items()})
    new.algorithm = algorithm
    return new


# ----------------------------------------------------------------------------------------------
# conv1d bench --torch-layer


def _bench_model(channels: int, classes: int, dtype: torch.dtype) -> torch.nn.Module:
    """A small 1D CNN: stem, a long-kernel depthwise layer, pointwise, dilated, strided, head."""
    c = channels
    return torch.nn.Sequential(
        torch.nn.Conv1d(8, c, 7, padding=3), torch.nn.ReLU(),
        torch.nn.Conv1d(c, c, 255, padding="same", groups=c), torch.nn.ReLU(),  # long depthwise
        torch.nn.Conv1d(c, c, 1), torch.nn.ReLU(),
        torch.nn.Conv1d(c, c, 3, padding=4, dilation=4), torch.nn.ReLU(),
        torch.nn.Conv1d(c, c, 4, stride=4), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(), torch.nn.Linear(c, classes),
    ).to(dtype)


def bench_torch_layer(context: Any = None, *, steps: int | None = None, batch: int = 8,
                      length: int = 4096, channels: int = 64) -> list[str]:
    """Train one small PyTorch model with ``torch.nn.Conv1d`` and with :class:`Conv1d`.

    Two copies of :func:`_bench_model` (the same initial weights; one converted by
    :func:`convert`) train with Adam on the same random batch, float32, their steps
    interleaved (torch, conv1d, conv1d, torch, ...) in one process after one untimed
    warm-up step each. Reports the median and minimum step time and the total of each, and the
    ratio ``torch / conv1d`` of the medians (above 1: ``conv1d`` is faster) and of the minima.

    Parameters
    ----------
    context : conv1d.bench.Context, optional
        Given by ``conv1d bench --torch-layer``; its ``quick`` gives 5 steps instead of 20.
    steps : int, optional
        Timed training steps per model (default 20, or 5 when quick).
    batch, length, channels : int
        The batch's size and length, and the model's width (default 8, 4096, 64).

    Returns
    -------
    list of str
        Markdown lines, starting with a ``##`` heading.

    Examples
    --------
    A section of ``conv1d bench``, after the suite's cases (``--quick``: three small
    cases and short runs)::

        conv1d bench --quick --torch-layer

    Alone, in Python: ``bench_torch_layer(steps=5)`` prints the rows and returns the
    markdown.
    """
    from .bench.report import markdown_table, sig
    from .bench.suite import time_interleaved

    steps = steps or (5 if getattr(context, "quick", False) else 20)
    torch.manual_seed(0)
    classes = 10
    models = {"torch.nn.Conv1d": _bench_model(channels, classes, torch.float32)}
    models["conv1d.torch.Conv1d"] = convert(copy.deepcopy(models["torch.nn.Conv1d"]))
    optims = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    x = torch.randn(batch, 8, length)
    target = torch.randint(0, classes, (batch,))
    losses: dict[str, list[float]] = {k: [] for k in models}

    def step(name: str):
        def run() -> None:
            optims[name].zero_grad()
            loss = torch.nn.functional.cross_entropy(models[name](x), target)
            loss.backward()
            optims[name].step()
            losses[name].append(loss.item())
        return run

    t0 = time.perf_counter()
    timings = time_interleaved({k: step(k) for k in models}, steps)
    wall = time.perf_counter() - t0
    ours, theirs = timings["conv1d.torch.Conv1d"], timings["torch.nn.Conv1d"]
    # Same weights, same data: the losses agree up to float32 rounding that Adam amplifies.
    drift = max(abs(a - b) for a, b in zip(*losses.values(), strict=True))
    rows = [[name, sig(t.median * 1e3), sig(t.minimum * 1e3), sig(sum(t.times))]
            for name, t in timings.items()]
    table = markdown_table(["layer", "median ms/step", "min ms/step", f"total s ({steps} steps)"], rows)
    ratio = theirs.median / ours.median
    print(table)
    print(f"ratio torch / conv1d: {ratio:.2f} (median step), "
          f"{theirs.minimum / ours.minimum:.2f} (fastest step)")
    layers = ", ".join(
        f"Conv1d({m.in_channels}, {m.out_channels}, {m.kernel_size[0]}"
        + "".join(f", {k}={v}" for k, v in (("stride", m.stride[0]), ("dilation", m.dilation[0]),
                                            ("groups", m.groups)) if v != 1)
        + (", padding='same'" if m.padding == "same" else "") + ")"
        for m in models["torch.nn.Conv1d"].modules() if isinstance(m, torch.nn.Conv1d)
    )
    return [
        "## PyTorch layer: training with conv1d.torch.Conv1d",
        "",
        f"One model, trained {steps} steps (Adam, cross-entropy) on a random float32 batch of "
        f"{batch} x 8 x {length}, once with `torch.nn.Conv1d` and once converted by "
        f"`conv1d.torch.convert`, steps interleaved in one process ({wall:.1f} s in all, "
        f"{torch.get_num_threads()} torch threads). Layers: {layers}, ReLU between, then "
        "average pool and a linear head.",
        "",
        *table.splitlines(),
        "",
        f"Ratio torch / conv1d of the median step: **{ratio:.2f}** (above 1: conv1d is faster; "
        f"of the fastest steps: {theirs.minimum / ours.minimum:.2f}). "
        f"Largest difference between the two runs' losses: {drift:.2g}.",
    ]


# ----------------------------------------------------------------------------------------------
# ConvTranspose1d


def conv_transpose1d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | tuple[int, int] = 0,
    output_padding: int | tuple[int] = 0,
    groups: int = 1,
    dilation: int | tuple[int] = 1,
    *,
    algorithm: str = "auto",
) -> torch.Tensor:
    """``torch.nn.functional.conv_transpose1d`` computed by ``conv1d``, differentiable.

    Takes :func:`conv1d.functional.conv_transpose1d`'s arguments as CPU tensors of one dtype
    (float32, float64, float16 or bfloat16).

    Examples
    --------
    >>> x = torch.randn(2, 4, 10, dtype=torch.float64, requires_grad=True)
    >>> w = torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True)
    >>> y = conv_transpose1d(x, w, stride=2, padding=1, output_padding=1)
    >>> y.sum().backward()
    >>> y.shape, x.grad.shape, w.grad.shape
    (torch.Size([2, 3, 22]), torch.Size([2, 4, 10]), torch.Size([4, 3, 5]))
    """
    _check_tensors(input, weight, bias, "ConvTranspose1d")
    conf = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                dilation=dilation, algorithm=algorithm)
    return _ConvFunction.apply(input, weight, bias,
                               (F.conv_transpose1d, F.conv_transpose1d_backward), conf)


class ConvTranspose1d(torch.nn.ConvTranspose1d):
    """``torch.nn.ConvTranspose1d`` whose forward and backward run ``conv1d``'s algorithms.

    Same constructor, attributes, initialisation, state dict and ``forward(input,
    output_size=None)`` as ``torch.nn.ConvTranspose1d`` (a subclass overriding ``forward``),
    plus the keyword-only ``algorithm``. CPU tensors only.

    Examples
    --------
    >>> m = ConvTranspose1d(8, 4, 16, stride=8, padding=4)
    >>> x = torch.randn(2, 8, 25, requires_grad=True)
    >>> y = m(x)
    >>> y.sum().backward()
    >>> y.shape, m.weight.grad.shape, m(x, output_size=[205]).shape
    (torch.Size([2, 4, 200]), torch.Size([8, 4, 16]), torch.Size([2, 4, 205]))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] = 0,
        output_padding: int | tuple[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int] = 1,
        padding_mode: PaddingMode = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        algorithm: str = "auto",
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding,
                         groups, bias, dilation, padding_mode, device=device, dtype=dtype)
        self.algorithm = _check_algorithm(algorithm)

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        """``torch.nn.ConvTranspose1d``'s forward, computed by :func:`conv_transpose1d`.

        Examples
        --------
        >>> m = ConvTranspose1d(2, 3, 4, stride=2, dtype=torch.float64)
        >>> x = torch.randn(1, 2, 8, dtype=torch.float64)
        >>> y = m(x)
        >>> y.shape, bool(torch.allclose(y, torch.nn.ConvTranspose1d.forward(m, x)))
        (torch.Size([1, 3, 18]), True)
        """
        # torch types these as tuple[int, ...] and its helper as list[int]; all are 1-long.
        stride, dilation = cast("tuple[int]", self.stride), cast("tuple[int]", self.dilation)
        padding = cast("tuple[int]", self.padding)
        output_padding = self._output_padding(input, output_size, list(stride), list(padding),
                                              list(self.kernel_size), 1, list(dilation))
        return conv_transpose1d(input, self.weight, self.bias, stride, padding,
                                cast("tuple[int]", tuple(output_padding)), self.groups, dilation,
                                algorithm=self.algorithm)

    def extra_repr(self) -> str:
        """``torch.nn.ConvTranspose1d``'s, with ``algorithm`` when it is not ``"auto"``.

        Examples
        --------
        >>> ConvTranspose1d(2, 3, 5, algorithm="direct")
        ConvTranspose1d(2, 3, kernel_size=(5,), stride=(1,), algorithm='direct')
        """
        s = super().extra_repr()
        return s if self.algorithm == "auto" else f"{s}, algorithm={self.algorithm!r}"


#: What :func:`convert` replaces, by exact type.
_REPLACEMENTS: dict[type[torch.nn.Module], type[Conv1d] | type[ConvTranspose1d]] = {
    torch.nn.Conv1d: Conv1d, torch.nn.ConvTranspose1d: ConvTranspose1d,
}
