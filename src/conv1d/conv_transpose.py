"""The layer :class:`ConvTranspose1d` (PyTorch's ``torch.nn.ConvTranspose1d``) and its stream.

The arithmetic is :mod:`conv1d.functional_transpose`'s: every registered algorithm serves it
through the gradients of the equivalent convolution.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from . import functional as F
from . import functional_transpose as FT
from .conv import as_param_dtype, as_rng, init_uniform
from .module import Module, Parameter
from .spec import check_data_format
from .stream import Stream

if TYPE_CHECKING:
    import dask.array

__all__ = ["ConvTranspose1d", "ConvTransposeStream"]


class ConvTranspose1d(Module):
    r"""1D transposed convolution: the adjoint of :class:`~conv1d.Conv1d`, an upsampling layer.

    The same layer as ``torch.nn.ConvTranspose1d``: each input sample ``x[n, i, t]`` adds
    ``x[n, i, t] * weight[i, j, k]`` to output ``j`` (of ``i``'s group) at position
    ``t*stride + k*dilation - padding``, for every tap ``k``.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output; both divisible by ``groups``.
    kernel_size : int or 1-tuple
    stride : int or 1-tuple, default 1
        Output samples each input sample adds (the upsampling factor).
    padding : int, 1-tuple or (left, right) pair, default 0
        Samples cropped off each end of the full output (``dilation*(kernel_size-1) -
        padding`` zeros padding the equivalent convolution's input); the pair is ours.
    output_padding : int or 1-tuple, default 0
        Samples added on the right, smaller than ``stride`` or than ``dilation``: it picks one
        of the ``stride`` input lengths a strided ``Conv1d`` maps to the same output length.
    groups : int, default 1
    bias : bool, default True
    dilation : int or 1-tuple, default 1
    padding_mode : {"zeros"}, default "zeros"
        The only mode PyTorch supports for transposed convolutions; others are refused.
    dtype : float16, bfloat16, float32 or float64, keyword-only, default float32
        Dtype of the parameters, the output and the gradients; half types compute in float32.
    rng : None, int or numpy.random.Generator, keyword-only
        Source of the initial weights.
    algorithm : str, keyword-only, default "auto"
        Algorithm of the equivalent convolution (see ``conv1d.algorithms``).
    data_format : {"channels_first", "channels_last"}, keyword-only, default "channels_first"
        Layout of the input, the output and the input's gradient.

    Attributes
    ----------
    weight : Parameter, shape (in_channels, out_channels / groups, kernel_size)
        PyTorch's layout for transposed convolutions.
    bias : Parameter, shape (out_channels,), or None

    Shape
    -----
    Input ``(N, C_in, L)`` or ``(C_in, L)`` with ``L >= 1``; output ``(N, C_out, L_out)`` or
    ``(C_out, L_out)`` with
    ``L_out = (L - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1``
    (``left + right`` for a pair). Channels-last: ``(N, L, C)`` both ways.

    Examples
    --------
    >>> import numpy as np
    >>> m = ConvTranspose1d(16, 33, 3, stride=2, padding=1, output_padding=1, rng=0)
    >>> m
    ConvTranspose1d(16, 33, kernel_size=(3,), stride=(2,), padding=(1,), output_padding=(1,))
    >>> x = np.random.default_rng(0).standard_normal((20, 16, 50), dtype=np.float32)
    >>> y = m(x)
    >>> y.shape, m.weight.shape
    ((20, 33, 100), (16, 33, 3))
    >>> m(x, output_size=[99]).shape
    (20, 33, 99)
    >>> gx = m.backward(np.ones((20, 33, 99), np.float32))
    >>> gx.shape, m.weight.grad.shape, m.bias.grad.shape
    ((20, 16, 50), (16, 33, 3), (33,))
    """

    _transient = ("_input",)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] | tuple[int, int] = 0,
        output_padding: int | tuple[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int] = 1,
        padding_mode: str = "zeros",
        *,
        dtype: Any = np.float32,
        rng: Any = None,
        algorithm: str = "auto",
        data_format: str = "channels_first",
    ) -> None:
        spec = FT.ConvTransposeSpec.from_args(in_channels, out_channels, kernel_size, stride,
                                              padding, output_padding, groups, dilation,
                                              padding_mode)
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
        self._spec_used = spec  # the spec of the last forward (output_size may change it)
        self.weight = Parameter(np.empty((spec.in_channels, spec.out_channels // spec.groups,
                                          spec.kernel_size), dt))
        self.bias = Parameter(np.empty(spec.out_channels, dt)) if bias else None
        self.reset_parameters(gen)

    in_channels = property(lambda self: self.spec.in_channels, doc="Input channels (int).")
    out_channels = property(lambda self: self.spec.out_channels, doc="Output channels (int).")
    kernel_size = property(lambda self: (self.spec.kernel_size,),
                           doc="Taps per kernel, PyTorch's 1-tuple ``(K,)``.")
    stride = property(lambda self: (self.spec.stride,),
                      doc="Upsampling factor, PyTorch's 1-tuple ``(s,)``.")
    dilation = property(lambda self: (self.spec.dilation,),
                        doc="Spacing between taps, PyTorch's 1-tuple ``(d,)``.")
    output_padding = property(lambda self: (self.spec.output_padding,),
                              doc="Samples added on the right, PyTorch's 1-tuple ``(p,)``.")
    groups = property(lambda self: self.spec.groups, doc="Blocked connections (int).")
    padding_mode = property(lambda self: "zeros", doc='Always ``"zeros"`` (as PyTorch).')

    @property
    def padding(self) -> tuple[int] | tuple[int, int]:
        """PyTorch's form: ``(p,)``, or ``(left, right)`` when they differ."""
        left, right = self.spec.pad_left, self.spec.pad_right
        return (left,) if left == right else (left, right)

    def output_length(self, length: int, output_size: Any = None) -> int:
        """``L_out`` for an input of ``length`` samples (the "Shape" formula).

        Examples
        --------
        >>> ConvTranspose1d(512, 256, 16, stride=8, padding=4).output_length(256)
        2048
        """
        from .spec import as_int

        n = as_int("length", length, minimum=0)
        spec = dataclasses.replace(self.spec, output_padding=self.spec.output_padding_for(
            n, output_size))
        spec.check_length(n)
        return spec.output_length(n)

    def reset_parameters(self, rng: Any = None) -> None:
        """Draw weight and bias from U(-sqrt(k), sqrt(k)), ``k = groups / (C_out * K)``.

        PyTorch's default: Kaiming-uniform with ``a = sqrt(5)`` reduces to the bound
        ``1 / sqrt(fan_in)``, and ``torch.nn.init._calculate_fan_in_and_fan_out`` takes
        ``fan_in = weight.size(1) * K``, which for this layout is ``C_out / groups * K``.

        Parameters
        ----------
        rng : None, int or numpy.random.Generator
            Source of the draw (a seed gives the same weights each time).

        Examples
        --------
        >>> m = ConvTranspose1d(4, 2, 8, rng=0)
        >>> before = m.weight.copy()
        >>> m.reset_parameters(rng=0)
        >>> bool((m.weight == before).all()), bool(abs(m.weight).max() <= 1 / np.sqrt(2 * 8))
        (True, True)
        """
        fan_in = self.weight.shape[1] * self.spec.kernel_size
        init_uniform(self.weight, self.bias, 1.0 / math.sqrt(fan_in), rng)

    def _spec_for(self, shape: tuple[int, ...], output_size: Any) -> FT.ConvTransposeSpec:
        """The spec for an input of ``shape`` (already checked) and ``output_size``."""
        if output_size is None:
            return self.spec
        length = shape[-1] if self.data_format == "channels_first" else shape[-2]
        op = self.spec.output_padding_for(length, output_size, len(shape))
        return dataclasses.replace(self.spec, output_padding=op)

    # NumPy in, NumPy out; dask in, dask out (see functional_transpose.conv_transpose1d).
    @overload
    def forward(self, input: np.ndarray | Sequence[Any], output_size: Any = ...) -> np.ndarray: ...
    @overload
    def forward(self, input: dask.array.Array, output_size: Any = ...) -> dask.array.Array: ...

    def forward(self, input: Any, output_size: Any = None) -> np.ndarray | dask.array.Array:
        """Transposed-convolve ``input``, remembering it for :meth:`backward`.

        ``output_size`` (an int, or a sequence ending with the length: 1 element, or the
        whole output shape) chooses the output padding as ``torch.nn.ConvTranspose1d`` does.
        A ``dask.array.Array`` input gives a lazy ``dask.array.Array`` and is not remembered.

        Examples
        --------
        >>> m = ConvTranspose1d(4, 2, 4, stride=2, rng=0)
        >>> x = np.ones((3, 4, 10), np.float32)
        >>> m(x).shape, m(x, output_size=23).shape, m(x[0]).shape
        ((3, 2, 22), (3, 2, 23), (2, 22))
        """
        if F.is_dask_array(input):
            from .dask_transpose import forward as dask_forward

            b = None if self.bias is None else np.asarray(self.bias)
            spec = self.spec if input.ndim not in (2, 3) else self._spec_for(input.shape, output_size)
            lazy = dask_forward(input, np.asarray(self.weight), b, spec, self.algorithm,
                                self.data_format)
            self._input = None
            return lazy
        x = F.as_real_array("input", input).astype(self.weight.dtype, copy=False)
        spec = self.spec if x.ndim not in (2, 3) else self._spec_for(x.shape, output_size)
        x3, unbatched = FT.as_batch(x, spec, self.data_format)
        b = None if self.bias is None else np.asarray(self.bias)
        y = FT.forward(x3, np.asarray(self.weight), b, spec, self.algorithm)
        self._input, self._unbatched, self._spec_used = x3, unbatched, spec
        y = F.to_format(y, self.data_format)
        return y[0] if unbatched else y

    def backward(self, grad_output: Any) -> np.ndarray:
        """Gradient w.r.t. the last forward's input; adds into ``weight.grad``/``bias.grad``.

        Raises
        ------
        RuntimeError
            Before any forward (or after a forward on a dask array).
        ValueError
            If ``grad_output``'s shape is not the last output's.

        Examples
        --------
        >>> m = ConvTranspose1d(4, 2, 4, stride=2, rng=0)
        >>> y = m(np.ones((3, 4, 10), np.float32))
        >>> gx = m.backward(np.ones_like(y))
        >>> gx.shape, m.weight.grad.shape, m.bias.grad.tolist()
        ((3, 4, 10), (4, 2, 4), [66.0, 66.0])
        """
        if self._input is None:
            raise RuntimeError(
                "ConvTranspose1d.backward called before forward (a forward on a dask array "
                "keeps no input)"
            )
        x, spec = self._input, self._spec_used
        gy = FT.grad_output_batch(grad_output, x, spec, self._unbatched, self.data_format,
                                  what="the last output's shape")
        grads = FT.backward(gy, x, np.asarray(self.weight), self.bias is not None, spec,
                            self.algorithm)
        self.weight.accumulate(grads.weight)
        if self.bias is not None and grads.bias is not None:
            self.bias.accumulate(grads.bias)
        gx = F.to_format(grads.input, self.data_format)
        return gx[0] if self._unbatched else gx

    def stream(self) -> ConvTransposeStream:
        """Chunk-by-chunk inference equal to ``forward``: a :class:`ConvTransposeStream`.

        Examples
        --------
        >>> m = ConvTranspose1d(1, 1, 4, stride=2, rng=0)
        >>> s = m.stream()
        >>> x = np.arange(6, dtype=np.float32).reshape(1, 1, 6)
        >>> y = np.concatenate([s(x[..., :2]), s(x[..., 2:]), s.flush()], axis=-1)
        >>> y.shape, np.allclose(y, m(x))
        ((1, 1, 14), True)
        """
        return ConvTransposeStream(self)

    def extra_repr(self) -> str:
        """The arguments that differ from their defaults, in PyTorch's order and format.

        Examples
        --------
        >>> ConvTranspose1d(4, 2, 3, stride=2, bias=False).extra_repr()
        '4, 2, kernel_size=(3,), stride=(2,), bias=False'
        """
        # PyTorch's order: padding, dilation, output_padding, groups, bias, padding_mode.
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if self.padding not in ((0,), (0, 0)):
            s += f", padding={self.padding}"
        if self.dilation != (1,):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.data_format != "channels_first":
            s += f", data_format={self.data_format}"
        return s


class ConvTransposeStream(Stream):
    """Streaming state of one :class:`ConvTranspose1d`; made by ``layer.stream()``.

    Input sample ``t`` reaches the full (uncropped) outputs ``[t*stride, t*stride + span)``,
    so once ``T`` samples have come, the full outputs before ``T*stride`` are final: each
    input sample completes ``stride`` outputs. The state is the partial sums of the
    ``span - stride`` full outputs the last samples still reach (none when ``span <=
    stride``). Each chunk runs the layer's algorithm on the chunk alone
    (:func:`conv1d.functional_transpose.full`) and adds it to those sums; the crop of
    ``padding`` and the ``output_padding`` zeros are applied on the way out, and
    :meth:`flush` returns the last outputs.

    Attributes
    ----------
    stride : int
        Output samples each input sample adds (the layer's stride; note that this is the
        inverse of a :class:`~conv1d.stream.ConvStream`'s input samples per output, so a
        :class:`~conv1d.stream.SequentialStream` holding this stream streams exactly but its
        composed ``delay`` and ``stride`` do not describe it).
    delay : int
        Output ``j`` is returned by the call that brings input sample
        ``floor((j + delay) / stride)`` (by :meth:`flush` when that is past the end), with
        ``delay = left + max(0, stride - (span - right + output_padding))``: the left crop,
        plus the outputs held back until it is known that the signal does not end (only when
        ``span - right + output_padding < stride``).

    Examples
    --------
    >>> import numpy as np
    >>> m = ConvTranspose1d(2, 3, 5, stride=2, padding=1, output_padding=1, dtype=np.float64,
    ...                     rng=0)
    >>> s = m.stream()
    >>> s.stride, s.delay
    (2, 1)
    >>> x = np.random.default_rng(0).standard_normal((2, 40))
    >>> parts = [s(x[:, :3]), s(x[:, 3:4]), s(x[:, 4:]), s.flush()]
    >>> [p.shape[-1] for p in parts]
    [5, 2, 72, 3]
    >>> np.allclose(np.concatenate(parts, axis=-1), m(x), rtol=1e-12, atol=1e-12)
    True
    """

    def __init__(self, layer: ConvTranspose1d) -> None:
        spec = layer.spec
        self._layer = layer
        self._spec = spec
        self._last = layer.data_format == "channels_last"
        self.stride = spec.stride
        # Full outputs past (T-1)*stride that exist whatever comes next: span - right + op.
        self._room = spec.span - spec.pad_right + spec.output_padding
        self.delay = spec.pad_left + max(0, spec.stride - self._room)
        self.reset()

    def reset(self) -> None:
        """Forget the signal: the next chunk starts a new one (and may change batch size).

        Examples
        --------
        >>> s = ConvTranspose1d(1, 1, 4, stride=2).stream()
        >>> _ = s(np.ones((2, 1, 3), np.float32))
        >>> s.samples, (s.reset(), s.samples)[1]
        (3, None)
        """
        self._rank: int | None = None
        self._batch = 0
        self._acc: np.ndarray | None = None  # partial sums of full outputs [_base, ...)
        self._base = 0
        self._length = 0
        self._done = False

    @property
    def buffered(self) -> int:
        """Partial sums held between calls (output time steps, per batch row and channel)."""
        return 0 if self._acc is None else self._acc.shape[-1]

    @property
    def samples(self) -> int | None:
        """Input samples of the current signal seen so far (``None`` before the first chunk)."""
        return None if self._rank is None else self._length

    def output_length(self, length: int) -> int:
        """Outputs a whole signal of ``length`` samples gives; ``ValueError`` if too short.

        Examples
        --------
        >>> ConvTranspose1d(1, 1, 4, stride=2, padding=1).stream().output_length(10)
        20
        """
        self._spec.check_length(length)
        return self._spec.output_length(length)

    def _chunk(self, chunk: Any) -> tuple[np.ndarray, int]:
        x = F.as_real_array("chunk", chunk)
        if x.ndim not in (2, 3):
            layout = "(T, C_in) or (N, T, C_in)" if self._last else "(C_in, T) or (N, C_in, T)"
            raise ValueError(f"chunk must be 2-D or 3-D, {layout}, got shape {x.shape}")
        x3 = F.to_format(x[None] if x.ndim == 2 else x, "channels_last" if self._last else
                         "channels_first")
        if x3.shape[1] != self._spec.in_channels:
            raise ValueError(
                f"chunk must have {self._spec.in_channels} channels (in_channels), got shape "
                f"{x.shape}"
            )
        if self._rank is not None and (x.ndim, x3.shape[0]) != (self._rank, self._batch):
            first = "unbatched (2-D)" if self._rank == 2 else f"batch size {self._batch}"
            raise ValueError(
                f"chunk must match the first chunk of the signal ({first}), got shape "
                f"{x.shape}; call reset() to start a signal of another shape"
            )
        return x3.astype(self._layer.weight.dtype, copy=False), x.ndim

    def __call__(self, chunk: Any) -> np.ndarray:
        """The outputs ``chunk`` completes: ``(N, C_out, n)`` or ``(C_out, n)``, ``n >= 0``.

        Raises
        ------
        ValueError
            For a chunk of the wrong rank or channels, or of another batch size than the
            signal's first chunk.
        RuntimeError
            After :meth:`flush` (until :meth:`reset`).

        Examples
        --------
        >>> s = ConvTranspose1d(1, 1, 4, stride=2).stream()  # each sample completes 2 outputs
        >>> [s(np.ones((1, 1, n), np.float32)).shape[-1] for n in (3, 0, 1)]
        [6, 0, 2]
        """
        if self._done:
            raise RuntimeError("ConvTransposeStream: this stream was flushed (the signal has "
                               "ended); call reset() to start a new signal")
        x, ndim = self._chunk(chunk)
        if self._rank is None:
            self._rank, self._batch = ndim, x.shape[0]
        t0, n = self._length, x.shape[-1]
        if n:
            w = FT.up(np.asarray(self._layer.weight))
            # (N, C_in, n) -> (N, C_out, (n-1)*stride + span): full outputs from t0*stride on
            self._add(FT.full(FT.up(x), w, self._spec, self._layer.algorithm), t0 * self._spec.stride)
            self._length += n
        end = (min(self._length * self.stride, (self._length - 1) * self.stride + self._room)
               if self._length else 0)
        return self._out(self._emit(end, x))

    def flush(self) -> np.ndarray:
        """End the signal: return the remaining outputs.

        Raises
        ------
        ValueError
            If no sample came, or the signal is too short for the layer; the stream is left
            as it was.
        RuntimeError
            If the stream was already flushed.

        Examples
        --------
        >>> s = ConvTranspose1d(1, 1, 4, stride=2).stream()
        >>> _ = s(np.ones((1, 1, 3), np.float32))
        >>> s.flush().shape  # L_out = (3 - 1)*2 + 4 = 8, of which 6 came with the chunk
        (1, 1, 2)
        """
        if self._done:
            raise RuntimeError("ConvTransposeStream: this stream was flushed (the signal has "
                               "ended); call reset() to start a new signal")
        if self._rank is None:
            raise ValueError("ConvTransposeStream.flush() before any chunk: feed at least one "
                             "sample first")
        self._spec.check_length(self._length)
        like = np.empty((self._batch, self._spec.in_channels, 0), self._layer.weight.dtype)
        y = self._emit((self._length - 1) * self.stride + self._room, like)
        self._acc, self._done = None, True
        return self._out(y)

    def _add(self, part: np.ndarray, start: int) -> None:
        """Add full outputs ``part`` (starting at full index ``start``) into the sums."""
        if self._acc is None:
            self._acc, self._base = part, start
            return
        stop = start + part.shape[-1]
        if stop > self._base + self._acc.shape[-1]:
            grown = np.zeros((*part.shape[:2], stop - self._base), part.dtype)
            grown[..., : self._acc.shape[-1]] = self._acc
            self._acc = grown
        self._acc[..., start - self._base : stop - self._base] += part

    def _emit(self, end: int, like: np.ndarray) -> np.ndarray:
        """Outputs for full indices ``[_base, end)`` minus the left crop, plus bias; drop them."""
        spec, layer = self._spec, self._layer
        dtype = like.dtype
        if self._acc is None or end <= self._base:
            return np.empty((like.shape[0], spec.out_channels, 0), dtype)
        lo = max(spec.pad_left, self._base)
        y = FT.crop(self._acc, lo - self._base, max(end - lo, 0))
        keep = self._acc[..., end - self._base :]
        self._acc, self._base = keep.copy(), end
        if layer.bias is not None:
            y = y + FT.up(np.asarray(layer.bias))[:, None]
        return y.astype(dtype, copy=False)

    def _out(self, y: np.ndarray) -> np.ndarray:
        if self._last:
            y = y.swapaxes(1, 2)
        return y[0] if self._rank == 2 else y
