"""Streaming: chunk-by-chunk inference that equals the offline result exactly.

``s = m.stream()`` gives a state object for a layer or a stack; ``s(chunk)`` takes the next
``(N, C_in, T)`` or ``(C_in, T)`` samples (any ``T``, 0 included) and returns the outputs
that chunk completes; ``s.flush()`` ends the signal, applies the right padding and returns
the rest. Everything returned, concatenated along time, is ``m(x)`` on the whole signal.

How a convolution streams
-------------------------
The state is a run of *padded* samples (the left padding, then the signal) in a buffer
allocated once per signal shape and several chunks long, the padded index of its first
sample and the index of the next output. Each call copies the chunk in after the held
samples (one shape check for chunks like the last one; anything else is validated in full
before the state changes), correlates the window of the outputs now complete with no padding
(the layer's algorithm: the native kernels read the window where it lies in the buffer,
:func:`conv1d.algorithms.native.forward_window`, with the layer's packed weight kept while
its bytes do not change; a small GEMM window goes through a :class:`~conv1d.plan.GemmKernel`
reading the buffer by a strided view made once per window position), and drops what no later
output needs by moving an offset: it keeps the samples from the next window's start on, and the last
samples the right padding copies (``pad_right + 1`` for ``reflect``, one for ``replicate``).
So it holds at most ``max(span - 1, pad_left, pad_right + 1)`` samples per row, whatever the
signal's length; they move to the buffer's front only when its end is reached, once every
:data:`RING_CHUNKS` chunks or so, and nothing is concatenated per chunk. The left padding is
built once enough samples have arrived: at once for ``zeros``, with the first sample for
``replicate``, and with sample ``pad_left`` for ``reflect`` (which copies
``x[1 : pad_left + 1]``), holding those outputs until then. ``circular`` padding copies the
end of the signal into its start and cannot stream.

Each layer makes its own stream (``Conv1d.stream()``, ``ReLU.stream()``, ...): this module
imports none of them. In a stack, an elementwise layer that can work in place (``ReLU``)
right after a convolution writes into that convolution's fresh output instead of allocating
its own (see :class:`ElementwiseStream`'s ``into``); a chunk of the caller's is never written.

Cost per chunk (``conv1d bench --latency``: 4 causal ``Conv1d(64, 64, 3)``, ReLU between,
64-sample float32 chunks, 2-core machine): ~8.5 us per layer in the kernel, ~2 us comparing
the weight's bytes with the packed copy's, ~3 us of Python around it; ReLU in place ~1.5 us.

Latency
-------
``s.delay`` and ``s.stride`` say when each output comes: output ``j`` is returned by the
call that brings input sample ``j * stride + delay`` (0-based; by :meth:`flush` when that
sample is past the end). Two exceptions, both at the start: an output that needs no input
sample (its receptive field lies in zero padding) comes with the first call, and under
``reflect`` padding no output comes before sample ``pad_left`` (of that layer's input) has.
For one layer ``delay = dilation * (kernel_size - 1) - pad_left``: 0 for ``"causal"``,
``pad_right`` for ``"same"``, the span minus one for ``"valid"`` (negative when the left
padding is wider than the span). A stack's delay is ``d_1 + s_1 * d_2 + s_1 * s_2 * d_3 +
...`` and its stride the product of the strides.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from . import algorithms as _algorithms
from . import functional as F
from .algorithms import ALGORITHMS, Algorithm, Problem, forward_with_bias, gemm, get_algorithm
from .algorithms import native as _native
from .autotune import is_enabled as autotune_enabled
from .padding import edge_indices
from .plan import GemmKernel
from .spec import ConvSpec

__all__ = ["ConvStream", "ElementwiseStream", "SequentialStream", "Stream", "StreamableConv"]

#: Window widths whose algorithm and kernel a stream keeps (chunks are usually of one size,
#: giving one or, with a stride, a few widths; chunk sizes that keep changing start afresh).
MAX_CHOICES = 16
#: The state buffer's length in chunks: the held samples move to its front once per this
#: many chunks (instead of after every chunk).
RING_CHUNKS = 8
#: ... as long as those chunks take at most this many bytes (larger chunks get room for one
#: more chunk, and the held samples move after each: small beside a large chunk's work).
RING_BYTES = 1 << 20
#: Strided views of the buffer a stream keeps for its GEMM kernels (one per window position).
MAX_VIEWS = 4 * RING_CHUNKS
#: The window "kernel" of the native algorithm: its kernels read the state buffer in place.
_IN_PLACE = "native, in place"


class StreamableConv(Protocol):
    """What :class:`ConvStream` reads from its layer (``conv1d.Conv1d`` has all of it).

    Examples
    --------
    >>> from conv1d import Conv1d
    >>> m: StreamableConv = Conv1d(1, 1, 3)
    >>> m.spec.kernel_size, m.algorithm, m.data_format
    (3, 'auto', 'channels_first')
    """

    @property
    def spec(self) -> ConvSpec:
        """The validated convolution (padding included)."""
        ...

    @property
    def weight(self) -> np.ndarray:
        """``(C_out, C_in / groups, K)``, read at every chunk."""
        ...

    @property
    def bias(self) -> np.ndarray | None:
        """``(C_out,)`` or ``None``, read at every chunk."""
        ...

    @property
    def algorithm(self) -> str:
        """``"auto"`` or a registered algorithm's name."""
        ...

    @property
    def data_format(self) -> str:
        """``"channels_first"`` or ``"channels_last"``: the chunks' layout."""
        ...


class ElementwiseModule(Protocol):
    """What :class:`ElementwiseStream` needs of its module (``conv1d.ReLU`` has it)."""

    @property
    def _transient(self) -> tuple[str, ...]:
        """Attributes the forward rewrites (kept as they were around a streamed call)."""
        ...

    def forward(self, x: Any, /) -> Any: ...


class Streamable(Protocol):
    """Anything with a ``stream()`` (every layer that can stream)."""

    def stream(self) -> Any: ...


class Stream:
    """The interface every stream shares; see :mod:`conv1d.stream`.

    Attributes
    ----------
    delay : int
        Output ``j`` is returned by the call that brings input sample ``j * stride + delay``
        (see the module's "Latency" section for the two start-up exceptions).
    stride : int
        Input samples per output sample.

    Examples
    --------
    Every stream (of a layer, a stack, a module of your own) is used the same way:

    >>> from conv1d import Conv1d, ReLU, Sequential
    >>> net = Sequential(Conv1d(1, 2, 3, padding="same", rng=0), ReLU())
    >>> s = net.stream()
    >>> isinstance(s, Stream), s.delay, s.stride
    (True, 1, 1)
    >>> x = np.arange(6.0).reshape(1, 1, 6)
    >>> y = np.concatenate([s(x[..., :4]), s(x[..., 4:]), s.flush()], axis=-1)
    >>> y.shape, np.allclose(y, net(x))
    ((1, 2, 6), True)
    """

    delay: int = 0
    stride: int = 1

    def __call__(self, chunk: Any) -> np.ndarray:
        """Feed the signal's next ``chunk``; return the outputs it completes.

        ``chunk`` is ``(N, C_in, T)`` or ``(C_in, T)`` (``(N, T, C_in)`` or ``(T, C_in)`` for a
        channels-last layer), any ``T`` (0 included), with the first chunk's batch, channels
        and rank. The result has the layer's output layout and ``n >= 0`` time steps: the
        outputs whose last input sample (``j * stride + delay``) this chunk brought.

        Raises
        ------
        ValueError
            For a chunk of the wrong shape (the stream is left as it was).
        RuntimeError
            After :meth:`flush` (:meth:`reset` starts a new signal).

        Examples
        --------
        >>> from conv1d import Conv1d
        >>> s = Conv1d(1, 1, 3, rng=0).stream()  # "valid": output j needs inputs j .. j + 2
        >>> [s(np.zeros((1, 1, t))).shape[-1] for t in (1, 1, 1, 5, 0)]
        [0, 0, 1, 5, 0]
        """
        raise NotImplementedError

    def flush(self) -> np.ndarray:
        """End the signal: return the outputs still held (those the right padding completes).

        Raises
        ------
        ValueError
            If no chunk came, or the signal was too short for a layer (the stream is left as
            it was).
        RuntimeError
            If the stream was already flushed (:meth:`reset` starts a new signal).

        Examples
        --------
        >>> from conv1d import Conv1d
        >>> s = Conv1d(1, 1, 3, padding=1, rng=0).stream()  # delay 1
        >>> s(np.ones((1, 1, 4))).shape, s.flush().shape  # the last output needs the padding
        ((1, 1, 3), (1, 1, 1))
        """
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the signal (flushed or not): the next chunk starts a new one, of any batch size.

        Examples
        --------
        >>> from conv1d import Conv1d
        >>> s = Conv1d(1, 1, 3, rng=0).stream()
        >>> s(np.ones((2, 1, 5))).shape, s.flush().shape
        ((2, 1, 3), (2, 1, 0))
        >>> s.reset()
        >>> s(np.ones((1, 1, 4))).shape  # a new signal, with another batch size
        (1, 1, 2)
        """
        raise NotImplementedError

    @property
    def buffered(self) -> int:
        """Time steps held between calls (per batch row and channel; summed over a stack)."""
        return 0

    def output_length(self, length: int) -> int:
        """Outputs a whole signal of ``length`` samples gives; ``ValueError`` if too short.

        Examples
        --------
        >>> from conv1d import Conv1d, ReLU
        >>> Conv1d(1, 1, 5, stride=2, rng=0).stream().output_length(20)
        8
        >>> ReLU().stream().output_length(20)
        20
        """
        return length

    @property
    def samples(self) -> int | None:
        """Input samples of the current signal seen so far, where the stream counts them.

        ``None`` before the first chunk, and always for elementwise layers, which do not
        know their time axis (it is the last or, channels-last, the middle one).
        """
        return None


def _finished(stream: Stream) -> RuntimeError:
    return RuntimeError(
        f"{type(stream).__name__}: this stream was flushed (the signal has ended); "
        "call reset() to start a new signal"
    )


def _not_started(stream: Stream) -> ValueError:
    return ValueError(
        f"{type(stream).__name__}.flush() before any chunk: feed at least one chunk (an empty "
        "one, of shape (N, C_in, 0), will do) so that the stream knows the batch and channels"
    )


class ConvStream(Stream):
    """Streaming state of one :class:`~conv1d.Conv1d`; made by ``layer.stream()``.

    It reads the layer's weights at each call (updates to them apply from the next chunk on)
    and never touches what the layer remembers for ``backward``.

    Parameters
    ----------
    layer : Conv1d
        Any padding and ``padding_mode`` except ``circular`` with padding (any object with
        the attributes of :class:`StreamableConv`).

    Raises
    ------
    ValueError
        For ``padding_mode="circular"`` with nonzero padding.

    Examples
    --------
    >>> import numpy as np
    >>> from conv1d import Conv1d
    >>> m = Conv1d(2, 3, 5, padding="same", padding_mode="reflect", dtype=np.float64, rng=0)
    >>> s = m.stream()
    >>> s.delay, s.stride
    (2, 1)
    >>> x = np.random.default_rng(0).standard_normal((2, 100))
    >>> parts = [s(x[:, :3]), s(x[:, 3:4]), s(x[:, 4:60]), s(x[:, 60:]), s.flush()]
    >>> [p.shape[-1] for p in parts]
    [1, 1, 56, 40, 2]
    >>> np.allclose(np.concatenate(parts, axis=-1), m(x), rtol=1e-12, atol=1e-12)
    True
    """

    def __init__(self, layer: StreamableConv) -> None:
        spec = layer.spec
        left, right, mode = spec.pad_left, spec.pad_right, spec.padding_mode
        if mode == "circular" and (left or right):
            raise ValueError(
                f"padding_mode='circular' cannot stream: its left padding copies the end of the "
                f"signal, unknown until the signal ends (padding ({left}, {right})); allowed "
                "modes: 'zeros', 'reflect', 'replicate'"
            )
        self._layer = layer
        self._spec = spec
        self._inner = dataclasses.replace(spec, pad_left=0, pad_right=0)
        # Signal samples the left padding copies from (it is built once they have arrived)
        # and the last ones the right padding will copy from (kept until flush).
        self._need = 0 if left == 0 or mode == "zeros" else left + 1 if mode == "reflect" else 1
        self._tail = 0 if right == 0 or mode == "zeros" else right + 1 if mode == "reflect" else 1
        self._last = layer.data_format == "channels_last"
        # Per window width, algorithm name and bias-less-ness: (algorithm, GemmKernel, or
        # _IN_PLACE for the native kernels, or None).
        self._windows: dict[tuple[int, str, bool], tuple[Algorithm, Any]] = {}
        self._buf = np.empty((0, 0, 0))  # (N, C_in, capacity), made by the first chunk
        self._span, self._stride = spec.span, spec.stride  # (the public ones are for reading)
        self.delay = spec.span - 1 - left
        self.stride = spec.stride
        self.reset()

    def reset(self) -> None:
        self._rank: int | None = None  # ndim of the first chunk
        self._batch = 0
        self._fixed: tuple | None = None  # a chunk's shape without its time axis
        self._dtype: np.dtype | None = None  # the dtype of the chunks checked so far
        self._off = 0  # the held samples are _buf[..., _off : _off + _held]: padded indices
        self._held = 0  # _start, _start + 1, ... (a window never wraps: see _room)
        self._start = 0
        self._padded = False  # whether the left padding is built
        self._next = 0  # index of the next output
        self._length = 0  # signal samples seen
        self._done = False

    @property
    def buffered(self) -> int:
        """Padded samples held between calls (per batch row and channel)."""
        if self._rank is None:
            return 0
        return self._held if self._padded else self._held - self._spec.pad_left

    def output_length(self, length: int) -> int:
        self._spec.check_length(length)
        return self._spec.output_length(length)

    @property
    def samples(self) -> int | None:
        """Input samples of the current signal seen so far; ``None`` before the first chunk."""
        return None if self._rank is None else self._length

    # -- chunks in

    def _check(self, chunk: Any) -> np.ndarray:
        """``chunk`` checked against the layer and the first chunk, as it came (N-D array)."""
        x = F.as_real_array("chunk", chunk)
        if x.ndim not in (2, 3):
            layout = "(T, C_in) or (N, T, C_in)" if self._last else "(C_in, T) or (N, C_in, T)"
            raise ValueError(f"chunk must be 2-D {layout}, got shape {x.shape}")
        x3 = x[None] if x.ndim == 2 else x
        if self._last:
            x3 = x3.swapaxes(1, 2)
        if x3.shape[1] != self._spec.in_channels:
            raise ValueError(
                f"chunk must have {self._spec.in_channels} channels (in_channels), "
                f"got shape {x.shape}"
            )
        if self._rank is not None and (x.ndim, x3.shape[0]) != (self._rank, self._batch):
            first = "unbatched (2-D)" if self._rank == 2 else f"batch size {self._batch}"
            raise ValueError(
                f"chunk must match the first chunk of the signal ({first}), got shape "
                f"{x.shape}; call reset() to start a signal of another shape"
            )
        return x

    def _fixed_shape(self, shape: tuple) -> tuple:
        return shape[:-2] + shape[-1:] if self._last else shape[:-1]

    def _start_signal(self, x: np.ndarray) -> None:
        """The first chunk: the batch, the buffer (kept from the last signal if it fits)."""
        self._rank, self._fixed = x.ndim, self._fixed_shape(x.shape)
        self._batch = 1 if x.ndim == 2 else x.shape[0]
        wdt = np.dtype(self._layer.weight.dtype)
        self._wdtype = wdt
        self._half = F.is_half(wdt)
        self._cdtype = np.dtype(np.float32) if self._half else wdt
        left = self._spec.pad_left
        buf = self._buf
        if buf.shape[:2] != (self._batch, self._spec.in_channels) or buf.dtype != self._cdtype:
            self._buf = np.empty((0, 0, 0))
            self._grow(left, x.shape[1 if self._last else -1])
            self._windows.clear()  # for another batch size
        elif left:
            self._buf[..., :left] = 0
        self._held = left  # the left padding's place (zeros, or built when its samples come)
        self._padded = self._need == 0

    def _room(self, t: int) -> None:
        """Make room for ``t`` more samples after the held ones.

        The buffer is several chunks long: samples are appended and dropped by moving the
        offset, and the few held samples move to the front only when the end is reached (once
        every ~:data:`RING_CHUNKS` chunks), so a window is always contiguous.
        """
        off, held, cap = self._off, self._held, self._buf.shape[2]
        if off + held + t <= cap:
            return
        if held + t <= cap:
            if held:
                self._buf[..., :held] = self._buf[..., off : off + held]
            self._off = 0
        else:
            self._grow(held + t, t)

    def _grow(self, size: int, chunk: int) -> None:
        """A new buffer for ``size`` samples and ~:data:`RING_CHUNKS` chunks more (the held
        samples copied to its front)."""
        sp = self._spec
        row = self._batch * sp.in_channels * self._cdtype.itemsize  # bytes per time step
        ring = RING_CHUNKS if RING_CHUNKS * chunk * row <= RING_BYTES else 1  # big chunks: 1
        cap = size + max(ring * chunk, 64) + max(sp.span, sp.pad_left + 1, sp.pad_right + 1)
        buf = np.zeros((self._batch, sp.in_channels, cap), self._cdtype)
        if self._held:
            buf[..., : self._held] = self._buf[..., self._off : self._off + self._held]
        self._buf, self._off = buf, 0
        self._views: dict[tuple[int, int], np.ndarray] = {}  # kernels' views of the buffer

    def __call__(self, chunk: Any) -> np.ndarray:
        """The outputs ``chunk`` completes: ``(N, C_out, n)`` or ``(C_out, n)``, ``n >= 0``.

        See :meth:`Stream.__call__`.

        Examples
        --------
        >>> from conv1d import Conv1d
        >>> s = Conv1d(2, 3, 5, padding="same", rng=0).stream()  # delay 2
        >>> [s(np.ones((2, 6), np.float32)).shape, s(np.ones((2, 1), np.float32)).shape]
        [(3, 4), (3, 1)]
        """
        if self._done:
            raise _finished(self)
        x = chunk
        # One shape and dtype check for chunks like the last one; anything else is checked in
        # full (and raises before the state changes).
        if not (type(x) is np.ndarray and x.dtype is self._dtype
                and (x.shape[:-2] + x.shape[-1:] if self._last else x.shape[:-1]) == self._fixed):
            x = self._check(chunk)
            if self._rank is None:
                self._start_signal(x)
            self._dtype = x.dtype if self._fixed_shape(x.shape) == self._fixed else None
        if x.dtype != self._wdtype:  # the layer's dtype first (then float32 for half layers)
            x = x.astype(self._wdtype)
        if x.ndim == 2:
            x = x[None]
        if self._last:
            x = x.swapaxes(1, 2)
        t = x.shape[2]
        end = self._off + self._held
        if end + t > self._buf.shape[2]:
            self._room(t)
            end = self._off + self._held
        np.copyto(self._buf[..., end : end + t], x)
        self._held += t
        self._length += t
        if not self._padded:
            if self._held - self._spec.pad_left < self._need:  # the left padding waits
                return self._out(self._empty())
            self._pad_left()
        return self._out(self._run())

    def flush(self) -> np.ndarray:
        """End the signal: apply the right padding and return the remaining outputs.

        Raises
        ------
        ValueError
            If no chunk came, or the whole signal was too short for the layer (the error the
            layer gives offline); the stream is left as it was.
        RuntimeError
            If the stream was already flushed (``reset()`` starts a new signal).

        Examples
        --------
        >>> from conv1d import Conv1d
        >>> m = Conv1d(1, 1, 3, padding=(0, 2), padding_mode="replicate", rng=0)
        >>> s = m.stream()
        >>> x = np.arange(5.0, dtype=np.float32)[None]
        >>> head, tail = s(x), s.flush()  # the last two outputs read the right padding
        >>> head.shape, tail.shape, np.allclose(np.concatenate([head, tail], -1), m(x))
        ((1, 3), (1, 2), True)
        """
        if self._done:
            raise _finished(self)
        if self._rank is None:
            raise _not_started(self)
        self._spec.check_length(self._length)
        if not self._padded:
            self._pad_left()
        right = self._spec.pad_right
        if right:
            # The right padding copies only the last pad_right + 1 samples, which _run kept.
            self._room(right)
            buf, off, held = self._buf, self._off, self._held
            if self._spec.padding_mode == "zeros":
                buf[..., off + held : off + held + right] = 0
            else:
                ri = edge_indices(held, 0, right, self._spec.padding_mode)[1]
                buf[..., off + held : off + held + right] = buf[..., off + ri]
            self._held = held + right
        y = self._run()
        self._done = True
        return self._out(y)

    def _pad_left(self) -> None:
        """Build the left padding in front of the samples that have come (at offset pad_left)."""
        left, mode = self._spec.pad_left, self._spec.padding_mode
        if left and mode != "zeros":
            li = edge_indices(self._held - left, left, 0, mode)[0]
            off = self._off
            self._buf[..., off : off + left] = self._buf[..., off + left + li]
        self._padded, self._start = True, 0

    # -- outputs

    def _run(self) -> np.ndarray:
        """Convolve every complete window of the buffer; keep only what later outputs need."""
        s, held, span = self._stride, self._held, self._span
        end = self._start + held
        first = self._next * s  # padded index where the next output's window starts
        if end - first >= span:
            n = (end - first - span) // s + 1
            y = self._correlate(self._off + first - self._start, (n - 1) * s + span, n)
            self._next += n
        else:
            y = self._empty()
        keep = max(min(self._next * s, end - self._tail) - self._start, 0)
        if keep:  # drop what no later window needs
            self._off += keep
            self._held -= keep
            self._start += keep
        return y

    def _correlate(self, lo: int, width: int, n: int) -> np.ndarray:
        """The layer's correlation of the window ``_buf[..., lo : lo + width]`` (already
        padded; ``n`` outputs), in the compute dtype.

        The algorithm is the layer's (``"auto"``: chosen once per window width; autotune, when
        on, chooses for itself); small windows run through a :class:`~conv1d.plan.GemmKernel`
        reading the buffer through a strided view made once per window position.
        """
        layer = self._layer
        w = np.asarray(layer.weight)
        b = None if layer.bias is None else np.asarray(layer.bias)
        if self._half:
            w = w.astype(np.float32)
            b = None if b is None else b.astype(np.float32)
        name = layer.algorithm
        inner = self._inner
        if name == "auto" and autotune_enabled():
            return F.correlate(self._buf[..., lo : lo + width], w, b, inner, ALGORITHMS["auto"])
        found = self._windows.get((width, name, b is None))
        if found is None:
            found = self._window(width, name, b is None)
        algo, kernel = found
        if kernel is _IN_PLACE:  # the native kernels read the window where it lies
            return _native.forward_window(self._buf, lo, n, w, b, inner.stride, inner.dilation,
                                          inner.groups)
        if kernel is not None:
            src = self._views.get((lo, width))
            if src is None:
                if len(self._views) >= MAX_VIEWS:
                    self._views.clear()
                src = self._views[(lo, width)] = kernel.source(self._buf, lo)
            return kernel.forward_from(src, w, b)
        return forward_with_bias(algo, self._buf[..., lo : lo + width], w, b, inner.stride,
                                 inner.dilation, inner.groups)

    def _window(self, width: int, name: str, no_bias: bool) -> tuple:
        """Algorithm and kernel for windows ``width`` samples wide."""
        if len(self._windows) >= MAX_CHOICES:  # chunk lengths that keep changing
            self._windows.clear()
            self._views.clear()
        sp = self._inner
        n, c_in = self._batch, sp.in_channels
        problem = Problem(n, c_in, sp.out_channels, sp.kernel_size, width, sp.stride,
                          sp.dilation, sp.groups, self._cdtype.name)
        algo = get_algorithm(_algorithms.choose(problem) if name == "auto" else name, problem)
        kernel: GemmKernel | str | None = None
        if algo.name == "native" and _native.AVAILABLE and algo.forward is _native.forward:
            kernel = _IN_PLACE
        elif algo is gemm.ALGORITHM and GemmKernel.fits(sp, n, width, self._cdtype):
            kernel = GemmKernel(sp, n, width, self._cdtype, not no_bias, fuse_bias=False)
        found = self._windows[(width, name, no_bias)] = (algo, kernel)
        return found

    def _empty(self) -> np.ndarray:
        return np.empty((self._batch, self._spec.out_channels, 0), self._cdtype)

    def _out(self, y: np.ndarray) -> np.ndarray:
        if self._half:
            y = y.astype(self._wdtype)
        if self._last:
            y = y.swapaxes(1, 2)
        return y[0] if self._rank == 2 else y


class ElementwiseStream(Stream):
    """Streaming state of a layer that acts on each time step alone (``ReLU``): no delay.

    Parameters
    ----------
    module : Module
        The layer. Without ``fn``, each chunk goes through its own ``forward``, and what the
        module remembers for ``backward`` is put back as it was.
    fn : callable, optional
        What ``forward`` computes, as a pure function of a chunk (nothing remembered): the
        layer's fast path, when it has one.
    into : callable, optional
        ``into(y)`` writes what ``fn(y)`` returns into ``y`` itself, for a float array ``y``
        of the layer's output dtype that nobody else holds: a :class:`SequentialStream` hands
        it the fresh outputs of a :class:`ConvStream` before it (ReLU after a convolution:
        no allocation, no checks).

    Examples
    --------
    >>> import numpy as np
    >>> from conv1d import ReLU
    >>> s = ReLU().stream()
    >>> s(np.array([[-1.0, 2.0]])), s.flush().shape
    (array([[0., 2.]]), (1, 0))
    """

    def __init__(self, module: ElementwiseModule,
                 fn: Callable[[Any], np.ndarray] | None = None, *,
                 into: Callable[[np.ndarray], Any] | None = None) -> None:
        self._module = module
        self._fn = fn
        self._into = into
        self.reset()

    def reset(self) -> None:
        self._empty: np.ndarray | None = None
        self._done = False

    def __call__(self, chunk: Any) -> np.ndarray:
        if self._done:
            raise _finished(self)
        if self._fn is not None:
            y = self._fn(chunk)
        else:
            m = self._module
            saved = [(name, m.__dict__.get(name)) for name in m._transient]
            try:
                y = m.forward(chunk)
            finally:
                m.__dict__.update(saved)
        if self._empty is None:
            self._empty = y[..., :0].copy()
        return y

    def flush(self) -> np.ndarray:
        if self._done:
            raise _finished(self)
        if self._empty is None:
            raise _not_started(self)
        self._done = True
        return self._empty

    def _in_place(self, y: np.ndarray) -> np.ndarray:
        """``self(y)`` written into ``y``, a fresh array from a :class:`ConvStream` (see ``into``)."""
        if self._done:
            raise _finished(self)
        self._into(y)  # type: ignore[misc]
        if self._empty is None:
            self._empty = y[..., :0].copy()
        return y


class SequentialStream(Stream):
    """Streaming state of a :class:`~conv1d.Sequential`: its layers' streams in a chain.

    Parameters
    ----------
    streams : list of Stream
        One per layer, in order (``Sequential.stream()`` builds them).

    Examples
    --------
    >>> import numpy as np
    >>> from conv1d import Conv1d, ReLU, Sequential
    >>> net = Sequential(Conv1d(1, 4, 3, padding="causal", rng=0), ReLU(),
    ...                  Conv1d(4, 2, 3, padding="causal", dilation=2, stride=2, rng=1))
    >>> s = net.stream()
    >>> s.delay, s.stride
    (0, 2)
    >>> x = np.random.default_rng(0).standard_normal((1, 1, 50))
    >>> ys = [s(x[..., i : i + 7]) for i in range(0, 50, 7)] + [s.flush()]
    >>> np.allclose(np.concatenate(ys, axis=-1), net(x), rtol=1e-12, atol=1e-12)
    True
    """

    def __init__(self, streams: list[Stream]) -> None:
        self._streams = list(streams)
        self.delay, self.stride = 0, 1
        for st in self._streams:  # output j of the stack: input j*S + d_1 + s_1*d_2 + ...
            self.delay += self.stride * st.delay
            self.stride *= st.stride
        # What each chunk goes through: an elementwise layer that can work in place (ReLU)
        # right after a convolution, whose outputs are fresh arrays, writes into them.
        self._steps: list[Callable[[Any], Any]] = [
            st._in_place if (isinstance(st, ElementwiseStream) and st._into is not None and i
                             and isinstance(self._streams[i - 1], ConvStream)) else st
            for i, st in enumerate(self._streams)]

    @classmethod
    def of(cls, modules: list[Streamable]) -> SequentialStream:
        """The stream of each module in turn; ``TypeError`` naming the position that can't."""
        streams = []
        for i, m in enumerate(modules):
            try:
                streams.append(m.stream())
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"Sequential position {i}: {exc}") from None
        return cls(streams)

    def reset(self) -> None:
        for st in self._streams:
            st.reset()

    @property
    def buffered(self) -> int:
        """Time steps held between calls, summed over the layers."""
        return sum(st.buffered for st in self._streams)

    def output_length(self, length: int) -> int:
        for st in self._streams:
            length = st.output_length(length)
        return length

    @property
    def samples(self) -> int | None:
        """The first layer's count of input samples (``None`` where it keeps none)."""
        return self._streams[0].samples if self._streams else None

    def __call__(self, chunk: Any) -> np.ndarray:
        for step in self._steps:
            chunk = step(chunk)
        return chunk

    def flush(self) -> np.ndarray:
        if not self._streams:
            raise ValueError("an empty Sequential has nothing to stream")
        # Fail before any layer has ended its signal: from the first layer that counts its
        # samples (a Conv1d, or a nested Sequential starting with one), through the rest.
        for i, st in enumerate(self._streams):
            if st.samples is not None:
                length = st.samples
                for later in self._streams[i:]:
                    length = later.output_length(length)
                break
        y = self._streams[0].flush()
        for st in self._streams[1:]:
            y = np.concatenate((st(y), st.flush()), axis=-1)
        return y
