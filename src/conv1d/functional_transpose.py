"""Stateless transposed convolution: ``conv_transpose1d`` and ``conv_transpose1d_backward``.

A transposed convolution is the adjoint of a convolution, so it needs no algorithm of its own:
with the weight ``(C_in, C_out/groups, K)`` read as the weight of the *equivalent
convolution* (``C_out_conv = C_in``, ``C_in_conv = C_out``), every registered algorithm's

* ``grad_input`` is this layer's forward, on the full length ``(L - 1)*stride + span``,
  which is then cropped by ``padding`` and extended by ``output_padding`` zeros;
* ``forward`` is this layer's input gradient, on the output gradient zero-padded back to the
  full length (the adjoint of the crop);
* ``grad_weight``, with the roles of its two arrays swapped, is this layer's weight gradient.

So the data path is the same straight line as :mod:`conv1d.functional`'s: validate once
(:class:`ConvTransposeSpec`) -> the algorithm (``"auto"`` chooses for the equivalent
convolution's :class:`~conv1d.algorithms.Problem`, as for ``Conv1d``) -> crop -> bias.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from . import functional as F
from .algorithms import Problem, forward_with_bias, get_algorithm, grad_input_with_bias
from .functional import Gradients
from .padding import pad
from .spec import as_groups, as_int, check_data_format, layer_ints

if TYPE_CHECKING:
    import dask.array

__all__ = ["ConvTransposeSpec", "conv_transpose1d", "conv_transpose1d_backward"]

#: :func:`conv1d.dask_transpose.conv_transpose1d`, which takes a Dask ``input`` off
#: :func:`conv_transpose1d`'s hands. A slot that conv1d.dask_transpose fills when imported (the
#: package's ``__init__`` imports it), not an import of it, because conv1d.dask_transpose
#: builds on this module; imports stay a tree.
dask_conv_transpose1d: Callable[..., Any] | None = None


def up(a: np.ndarray) -> np.ndarray:
    """``a`` in its computation dtype: float16/bfloat16 as float32, others as they are."""
    return a.astype(np.float32) if F.is_half(a.dtype) else a


def _as_padding(padding: Any) -> tuple[int, int]:
    """``padding`` (an int, a 1-tuple or a ``(left, right)`` pair) as ``(left, right)``."""
    if isinstance(padding, str):
        raise ValueError(
            f"padding must be an int, a 1-tuple or a (left, right) pair for a transposed "
            f"convolution (PyTorch takes no padding string there), got {padding!r}"
        )
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        left, right = (as_int("padding", p, minimum=0) for p in padding)
        return left, right
    p = as_int("padding", padding, minimum=0)
    return p, p


@dataclass(frozen=True)
class ConvTransposeSpec:
    """A validated 1D transposed convolution (what the data path, streams and Dask rely on).

    ``pad_left``/``pad_right`` are the samples cropped off each end of the full output;
    ``output_padding`` the samples added back on the right.

    Examples
    --------
    >>> spec = ConvTransposeSpec.from_args(512, 256, 16, stride=8, padding=4)
    >>> spec.full_length(256), spec.output_length(256)
    (2056, 2048)
    """

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    dilation: int = 1
    groups: int = 1
    pad_left: int = 0
    pad_right: int = 0
    output_padding: int = 0

    @classmethod
    def from_args(
        cls,
        in_channels: Any,
        out_channels: Any,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: Any = 1,
        dilation: Any = 1,
        padding_mode: Any = "zeros",
    ) -> ConvTransposeSpec:
        """Validate ``torch.nn.ConvTranspose1d``'s arguments (in its order) into a spec.

        Raises
        ------
        TypeError, ValueError
            Naming the argument, the value given and what is allowed.

        Examples
        --------
        >>> spec = ConvTransposeSpec.from_args(4, 6, 3, stride=2, padding=(2, 0))
        >>> spec.pad_left, spec.pad_right, spec.output_padding
        (2, 0, 0)
        >>> ConvTransposeSpec.from_args(4, 6, 3, groups=3)
        Traceback (most recent call last):
        ...
        ValueError: in_channels must be divisible by groups, got 4 and groups=3
        """
        cin, cout, k, s, d, g = layer_ints(in_channels, out_channels, kernel_size, stride,
                                           dilation, groups)
        left, right = _as_padding(padding)
        op = as_int("output_padding", output_padding, minimum=0)
        if op >= s and op >= d:
            raise ValueError(
                f"output_padding must be smaller than either stride or dilation, got "
                f"output_padding={op} with stride={s} and dilation={d}"
            )
        if padding_mode != "zeros":
            raise ValueError(
                f"padding_mode must be 'zeros' for a transposed convolution (PyTorch supports "
                f"no other there), got {padding_mode!r}"
            )
        return cls(cin, cout, k, s, d, g, left, right, op)

    @property
    def span(self) -> int:
        """Output samples one input sample reaches: ``dilation*(kernel_size-1) + 1``."""
        return self.dilation * (self.kernel_size - 1) + 1

    def full_length(self, length: int) -> int:
        """Length before the crop: ``(L - 1)*stride + dilation*(kernel_size-1) + 1``.

        Examples
        --------
        >>> ConvTransposeSpec.from_args(1, 1, 4, stride=2).full_length(10)
        22
        """
        return (length - 1) * self.stride + self.span

    def output_length(self, length: int) -> int:
        """``L_out = (L - 1)*stride - left - right + dilation*(K-1) + output_padding + 1``.

        Examples
        --------
        >>> ConvTransposeSpec.from_args(1, 1, 4, stride=2, padding=1).output_length(10)
        20
        """
        return self.full_length(length) - self.pad_left - self.pad_right + self.output_padding

    def check_length(self, length: int) -> None:
        """Raise ``ValueError`` unless ``length >= 1`` and ``L_out >= 1``.

        Examples
        --------
        >>> spec = ConvTransposeSpec.from_args(1, 1, 3)
        >>> spec.check_length(1)
        >>> spec.check_length(0)
        Traceback (most recent call last):
        ...
        ValueError: a transposed convolution needs an input of length >= 1, got length 0
        """
        if length < 1:
            raise ValueError(
                f"a transposed convolution needs an input of length >= 1, got length {length}"
            )
        if self.output_length(length) < 1:
            # PyTorch's rule too ("Output size is too small"; some of its batched paths let
            # an empty output through, its others refuse it).
            raise ValueError(
                f"padding ({self.pad_left}, {self.pad_right}) crops all of the output: input "
                f"length {length} gives {self.full_length(length)} samples before the crop "
                f"(+ output_padding {self.output_padding}), so L_out would be "
                f"{self.output_length(length)}; L_out must be >= 1"
            )

    def problem(self, batch: int, length: int, dtype: np.dtype) -> Problem:
        """The equivalent convolution's :class:`~conv1d.algorithms.Problem` for ``length`` inputs.

        Its input is this layer's full-length output, its output this layer's input.

        Examples
        --------
        >>> p = ConvTransposeSpec.from_args(4, 6, 3, stride=2).problem(8, 10, np.float32)
        >>> p.in_channels, p.out_channels, p.length, p.dtype
        (6, 4, 21, 'float32')
        """
        name = "float32" if F.is_half(dtype) else np.dtype(dtype).name
        return Problem(batch, self.out_channels, self.in_channels, self.kernel_size,
                       self.full_length(length), self.stride, self.dilation, self.groups, name)

    def output_padding_for(self, length: int, output_size: Any, ndim: int = 3) -> int:
        """The ``output_padding`` that gives ``output_size`` (``torch.nn.ConvTranspose1d``'s rule).

        ``output_size`` is an int or a sequence whose last element is the length (1 element,
        or ``ndim`` as the whole output shape). It must lie in ``[L_min, L_min + stride - 1]``,
        ``L_min`` the length with no output padding; the layer's own ``output_padding`` is
        then ignored, as PyTorch ignores it.

        Examples
        --------
        >>> ConvTransposeSpec.from_args(4, 6, 3, stride=2).output_padding_for(5, [12])
        1
        """
        if output_size is None:
            return self.output_padding
        size = output_size
        if isinstance(size, (tuple, list)) or (isinstance(size, np.ndarray) and size.ndim == 1):
            if len(size) not in (1, ndim):
                raise ValueError(
                    f"output_size must have 1 or {ndim} elements for a {ndim}-D input, got "
                    f"{tuple(output_size)}"
                )
            size = size[-1]
        size = as_int("output_size", size, minimum=0)
        low = self.full_length(length) - self.pad_left - self.pad_right
        high = low + self.stride - 1
        if not low <= size <= high:
            raise ValueError(
                f"output_size: requested an output length of {size}, but valid lengths range "
                f"from {low} to {high} (for an input of length {length})"
            )
        return size - low


def check_weights(input_dtype: np.dtype, weight: Any, bias: Any, stride: Any, padding: Any,
                  output_padding: Any, groups: Any, dilation: Any,
                  ) -> tuple[np.ndarray, np.ndarray | None, ConvTransposeSpec]:
    """Validate ``weight``, ``bias`` and the arguments; cast both to the computation's dtype.

    Shared by the in-memory path and :mod:`conv1d.dask_transpose`.
    """
    w = F.as_real_array("weight", weight)
    b = None if bias is None else F.as_real_array("bias", bias)
    if w.ndim != 3:
        raise ValueError(
            f"weight must be 3-D (in_channels, out_channels/groups, kernel_size), "
            f"got shape {w.shape}"
        )
    dtype = F.compute_dtype(np.empty(0, input_dtype), w, *([] if b is None else [b]))
    c_in, og, kernel = w.shape
    g = as_groups(groups)
    spec = ConvTransposeSpec.from_args(c_in, og * g, kernel, stride, padding, output_padding, g,
                                       dilation)
    F.check_bias(b, spec.out_channels)
    return w.astype(dtype, copy=False), None if b is None else b.astype(dtype, copy=False), spec


def as_batch(x: np.ndarray, spec: ConvTransposeSpec,
             data_format: str = "channels_first") -> tuple[np.ndarray, bool]:
    """Check an input against ``spec``; return it as ``(N, C_in, L)`` and whether it was 2-D."""
    if x.ndim not in (2, 3):
        layout = "(L, C_in) or (N, L, C_in)" if data_format == "channels_last" else \
            "(C_in, L) or (N, C_in, L)"
        raise ValueError(f"expected a 2-D or 3-D input {layout}, got shape {x.shape}")
    unbatched = x.ndim == 2
    x3 = F.to_format(x[None] if unbatched else x, data_format)
    if x3.shape[1] != spec.in_channels:
        raise ValueError(
            f"expected input with {spec.in_channels} channels (in_channels={spec.in_channels}, "
            f"data_format={data_format!r}), got input of shape {x.shape}"
        )
    spec.check_length(x3.shape[2])
    return x3, unbatched


def crop(full: np.ndarray, left: int, length: int) -> np.ndarray:
    """``full[..., left : left + length]``, with zeros where that runs past either end.

    A view when it lies inside ``full``.
    """
    stop = left + length
    if 0 <= left and stop <= full.shape[-1]:
        return full[..., left:stop]
    out = np.zeros((*full.shape[:-1], length), full.dtype)
    a, b = max(left, 0), min(stop, full.shape[-1])
    if a < b:
        out[..., a - left : b - left] = full[..., a:b]
    return out


def uncrop(g: np.ndarray, left: int, full_length: int) -> np.ndarray:
    """Adjoint of :func:`crop`: ``g`` placed at ``left`` in zeros of ``full_length`` samples."""
    length = g.shape[-1]
    if left + length <= full_length:
        return pad(g, left, full_length - left - length, "zeros")
    out = np.zeros((*g.shape[:-1], full_length), g.dtype)
    inside = max(full_length - left, 0)
    out[..., left : left + inside] = g[..., :inside]
    return out


def full(x: np.ndarray, w: np.ndarray, spec: ConvTransposeSpec, algorithm: str = "auto") -> np.ndarray:
    """The uncropped transposed convolution of a validated float32/float64 ``(N, C_in, L)``.

    ``(N, C_in, L) -> (N, C_out, (L - 1)*stride + span)``: the registered algorithm's
    ``grad_input`` of the equivalent convolution. Streams and Dask blocks end here.
    """
    n, _, length = x.shape
    algo = get_algorithm(algorithm, spec.problem(n, length, np.result_type(x, w)))
    return algo.grad_input(x, w, spec.full_length(length), spec.stride, spec.dilation, spec.groups)


def _window(spec: ConvTransposeSpec, length: int) -> tuple[int, int] | None:
    """``(samples, pad_right)`` of the equivalent convolution's input that the output shows.

    The output is the full output from ``pad_left`` on, so an algorithm that takes zero
    padding itself (``zero_pads``) computes it straight, as the gradient of an input of
    ``samples`` with ``pad_left`` and ``pad_right`` zeros around it: no full-length array, no
    crop. Outputs past the full length (``output_padding`` beyond the right crop) are zeros
    added after. ``None`` when the output holds no full sample at all.
    """
    full_length = spec.full_length(length)
    samples = min(spec.output_length(length), full_length - spec.pad_left)
    if samples < 1:
        return None
    return samples, full_length - spec.pad_left - samples


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: ConvTransposeSpec,
            algorithm: str = "auto") -> np.ndarray:
    """Transposed convolution of a validated ``(N, C_in, L)`` input (layer and function end here).

    Half-precision operands are computed in float32 and the output rounded once to ``x``'s
    dtype, as in :func:`conv1d.functional.forward`. The result is C-contiguous.
    """
    out_dtype = x.dtype
    x, w, b = up(x), up(w), None if b is None else up(b)
    n, _, length = x.shape
    length_out = spec.output_length(length)
    algo = get_algorithm(algorithm, spec.problem(n, length, np.result_type(x, w)))
    window = _window(spec, length)
    if algo.zero_pads and window is not None:
        samples, pad_right = window
        args = (spec.stride, spec.dilation, spec.groups, spec.pad_left, pad_right)
        y = grad_input_with_bias(algo, x, w, b, samples, *args)
        if samples < length_out:  # output_padding past the full length: zeros plus bias
            y = crop(y, 0, length_out)
            if b is not None:
                y[..., samples:] = b[:, None]
    else:
        yf = full(x, w, spec, algorithm)
        y = crop(yf, spec.pad_left, length_out)
        if b is not None:
            if y is yf:
                y += b[:, None]
            else:
                y = y + b[:, None]  # a fresh contiguous array, in the one pass the bias needs
    return np.ascontiguousarray(y.astype(out_dtype, copy=False))


def backward(gy: np.ndarray, x: np.ndarray, w: np.ndarray, has_bias: bool, spec: ConvTransposeSpec,
             algorithm: str = "auto") -> Gradients:
    """Gradients for a validated input: :func:`forward` in reverse (half computed in float32)."""
    x_dtype, w_dtype = x.dtype, w.dtype
    gy, x, w = up(gy), up(x), up(w)
    n, _, length = x.shape
    args = (spec.stride, spec.dilation, spec.groups)
    algo = get_algorithm(algorithm, spec.problem(n, length, np.result_type(gy, w)))
    window = _window(spec, length)
    if algo.zero_pads and window is not None:
        # gy's samples past the full length meet no product; the rest is the equivalent
        # convolution's input, padded by the algorithm itself (the crop's adjoint).
        samples, pad_right = window
        pads = (spec.pad_left, pad_right)
        g = np.ascontiguousarray(gy[..., :samples])
        gx = forward_with_bias(algo, g, w, None, *args, *pads)  # (N, C_out, .) -> (N, C_in, L)
        gw = algo.grad_weight(x, g, spec.kernel_size, *args, *pads)  # (C_in, C_out/g, K)
    else:
        # (N, C_out, L_out) -> (N, C_out, L_full): the crop's adjoint
        gfull = uncrop(gy, spec.pad_left, spec.full_length(length))
        gx = algo.forward(gfull, w, *args)  # (N, C_out, L_full) -> (N, C_in, L)
        # The equivalent convolution's weight gradient, its output gradient being our input.
        gw = algo.grad_weight(x, gfull, spec.kernel_size, *args)  # (C_in, C_out/g, K)
    gb = gy.sum(axis=(0, 2)).astype(w_dtype, copy=False) if has_bias else None
    return Gradients(gx.astype(x_dtype, copy=False), gw.astype(w_dtype, copy=False), gb)


def _prepare(input, weight, bias, stride, padding, output_padding, groups, dilation, data_format):
    check_data_format(data_format)
    x = F.as_real_array("input", input)
    w, b, spec = check_weights(x.dtype, weight, bias, stride, padding, output_padding, groups,
                               dilation)
    x3, unbatched = as_batch(x, spec, data_format)
    return x3.astype(w.dtype, copy=False), w, b, spec, unbatched


def grad_output_batch(grad_output: Any, x: np.ndarray, spec: ConvTransposeSpec, unbatched: bool,
                      data_format: str, what: str = "the output's shape") -> np.ndarray:
    """Check ``grad_output`` against the output for ``x`` (N, C_in, L); return (N, C_out, L_out)."""
    gy = F.as_real_array("grad_output", grad_output)
    c_out, l_out = spec.out_channels, spec.output_length(x.shape[2])
    expected: tuple[int, ...] = (c_out, l_out) if data_format == "channels_first" else (l_out, c_out)
    expected = expected if unbatched else (x.shape[0], *expected)
    if gy.shape != expected:
        raise ValueError(f"grad_output must have {what} {expected}, got {gy.shape}")
    return F.to_format(gy[None] if unbatched else gy, data_format).astype(x.dtype, copy=False)


# NumPy in, NumPy out; dask in, dask out. The ndarray overload comes first so that it holds
# where dask is not installed (its Array is then unknown to the type checker).
@overload
def conv_transpose1d(
    input: np.ndarray | Sequence[Any],
    weight: Any,
    bias: Any = ...,
    stride: int | tuple[int] = ...,
    padding: int | tuple[int] | tuple[int, int] = ...,
    output_padding: int | tuple[int] = ...,
    groups: int = ...,
    dilation: int | tuple[int] = ...,
    *,
    algorithm: str = ...,
    data_format: str = ...,
) -> np.ndarray: ...
@overload
def conv_transpose1d(
    input: dask.array.Array,
    weight: Any,
    bias: Any = ...,
    stride: int | tuple[int] = ...,
    padding: int | tuple[int] | tuple[int, int] = ...,
    output_padding: int | tuple[int] = ...,
    groups: int = ...,
    dilation: int | tuple[int] = ...,
    *,
    algorithm: str = ...,
    data_format: str = ...,
) -> dask.array.Array: ...


def conv_transpose1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | tuple[int, int] = 0,
    output_padding: int | tuple[int] = 0,
    groups: int = 1,
    dilation: int | tuple[int] = 1,
    *,
    algorithm: str = "auto",
    data_format: str = "channels_first",
) -> np.ndarray | dask.array.Array:
    """1D transposed convolution, as ``torch.nn.functional.conv_transpose1d``.

    Parameters
    ----------
    input : array_like, shape (N, C_in, L) or (C_in, L)
        The signal (``(N, L, C_in)`` or ``(L, C_in)`` for ``data_format="channels_last"``);
        ``L >= 1``. A ``dask.array.Array`` gives a lazy ``dask.array.Array``.
    weight : array_like, shape (C_in, C_out / groups, K)
        PyTorch's layout for transposed convolutions.
    bias : array_like, shape (C_out,), optional
    stride, dilation : int or 1-tuple
        Output samples each input sample adds; spacing between kernel taps.
    padding : int, 1-tuple or (left, right) pair
        Samples cropped off each end of the full output (the pair is our addition).
    output_padding : int or 1-tuple
        Samples added on the right (zeros plus bias beyond the full output); smaller than
        ``stride`` or than ``dilation``.
    groups : int
        Blocked connections; divides ``C_in`` and ``C_out``.
    algorithm : str
        ``"auto"`` or a name from ``conv1d.algorithms.ALGORITHMS``; the algorithm runs the
        equivalent convolution's gradients (see the module notes).
    data_format : {"channels_first", "channels_last"}
        Layout of ``input`` and of the result; ``weight`` keeps PyTorch's layout.

    Returns
    -------
    ndarray, shape (N, C_out, L_out) or (C_out, L_out)
        ``L_out = (L - 1)*stride - left - right + dilation*(K - 1) + output_padding + 1``, in
        the promoted dtype (float16 and bfloat16 computed in float32, rounded once).

    Examples
    --------
    >>> import numpy as np
    >>> x, w = np.ones((2, 4, 10), np.float32), np.ones((4, 3, 5), np.float32)
    >>> y = conv_transpose1d(x, w, stride=2, padding=1, output_padding=1)
    >>> y.shape, y.dtype, float(y[0, 0, 3])
    ((2, 3, 22), dtype('float32'), 12.0)
    >>> conv_transpose1d(x.transpose(0, 2, 1), w, stride=2, data_format="channels_last").shape
    (2, 23, 3)
    """
    if F.is_dask_array(input) and dask_conv_transpose1d is not None:  # lazy, block by block
        return dask_conv_transpose1d(input, weight, bias, stride, padding, output_padding,
                                     groups, dilation, algorithm=algorithm,
                                     data_format=data_format)
    x, w, b, spec, unbatched = _prepare(input, weight, bias, stride, padding, output_padding,
                                        groups, dilation, data_format)
    y = F.to_format(forward(x, w, b, spec, algorithm), data_format)
    return y[0] if unbatched else y


def conv_transpose1d_backward(
    grad_output: Any,
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | tuple[int, int] = 0,
    output_padding: int | tuple[int] = 0,
    groups: int = 1,
    dilation: int | tuple[int] = 1,
    *,
    algorithm: str = "auto",
    data_format: str = "channels_first",
) -> Gradients:
    """Gradients of a loss through :func:`conv_transpose1d`, given ``grad_output = dloss/dy``.

    Takes :func:`conv_transpose1d`'s arguments after ``grad_output`` (shaped like its output).

    Returns
    -------
    Gradients
        Named tuple ``(input, weight, bias)``, each shaped like its argument (``input``'s in
        ``data_format``'s layout); ``bias`` is ``None`` when ``bias`` is ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> x, w = np.ones((2, 4, 10)), np.ones((4, 3, 5))
    >>> g = conv_transpose1d_backward(np.ones((2, 3, 23)), x, w, np.zeros(3), stride=2)
    >>> g.input.shape, g.weight.shape, g.bias.shape, float(g.input[0, 0, 0])
    ((2, 4, 10), (4, 3, 5), (3,), 15.0)
    """
    if any(F.is_dask_array(a) for a in (grad_output, input, weight, bias)):
        raise TypeError(
            "conv_transpose1d_backward needs in-memory arrays, got a dask array: compute it "
            "first (e.g. x.compute())"
        )
    x, w, b, spec, unbatched = _prepare(input, weight, bias, stride, padding, output_padding,
                                        groups, dilation, data_format)
    gy = grad_output_batch(grad_output, x, spec, unbatched, data_format)
    grads = backward(gy, x, w, b is not None, spec, algorithm)
    gx = F.to_format(grads.input, data_format)
    return grads._replace(input=gx[0] if unbatched else gx)


# conv1d.functional offers these two, as torch.nn.functional does; it cannot import them
# (this module builds on it), so they are put there from here.
F.conv_transpose1d = conv_transpose1d
F.conv_transpose1d_backward = conv_transpose1d_backward
