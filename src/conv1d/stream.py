"""Streaming: chunk-by-chunk inference that equals the offline result exactly.

``s = m.stream()`` gives a state object for a layer or a stack; ``s(chunk)`` takes the next
``(N, C_in, T)`` or ``(C_in, T)`` samples (any ``T``, 0 included) and returns the outputs
that chunk completes; ``s.flush()`` ends the signal, applies the right padding and returns
the rest. Everything returned, concatenated along time, is ``m(x)`` on the whole signal.

How a convolution streams
-------------------------
The state is a short buffer of *padded* samples (the left padding, then the signal), the
padded index of its first sample and the index of the next output. Each call appends the
chunk, runs :func:`conv1d.functional.forward` (the layer's own data path) with the padding
set to zero on the window of the outputs now complete, and keeps only what later outputs
still need: the samples from the next window's start on, and the last samples the right
padding copies (``pad_right + 1`` for ``reflect``, one for ``replicate``). So the buffer
holds at most ``max(span - 1, pad_left, pad_right + 1)`` samples per row, whatever the
signal's length. The left padding is built once enough samples have arrived: at once for
``zeros``, with the first sample for ``replicate``, and with sample ``pad_left`` for
``reflect`` (which copies ``x[1 : pad_left + 1]``), holding those outputs until then.
``circular`` padding copies the end of the signal into its start and cannot stream.

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
import statistics
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from . import functional as F
from .algorithms import Problem, choose
from .autotune import is_enabled as autotune_enabled
from .padding import pad

if TYPE_CHECKING:
    from .conv import Conv1d
    from .module import Module

__all__ = ["ConvStream", "ElementwiseStream", "SequentialStream", "Stream", "bench_streaming"]

#: Window shapes whose ``"auto"`` choice a stream remembers (a few suffice: chunks are
#: usually of one size; varying ones just ask again).
MAX_CHOICES = 16


class Stream:
    """The interface every stream shares; see :mod:`conv1d.stream`.

    Attributes
    ----------
    delay : int
        Output ``j`` is returned by the call that brings input sample ``j * stride + delay``
        (see the module's "Latency" section for the two start-up exceptions).
    stride : int
        Input samples per output sample.
    """

    delay: int = 0
    stride: int = 1

    def __call__(self, chunk: Any) -> np.ndarray:
        raise NotImplementedError

    def flush(self) -> np.ndarray:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    @property
    def buffered(self) -> int:
        """Time steps held between calls (per batch row and channel; summed over a stack)."""
        return 0

    def output_length(self, length: int) -> int:
        """Outputs a whole signal of ``length`` samples gives; ``ValueError`` if too short."""
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
        Any padding and ``padding_mode`` except ``circular`` with padding.

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

    def __init__(self, layer: Conv1d) -> None:
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
        self._choices: dict[tuple, str] = {}
        self.delay = spec.span - 1 - left
        self.stride = spec.stride
        self.reset()

    def reset(self) -> None:
        """Forget the signal: the next chunk starts a new one (and may change batch size)."""
        self._rank: int | None = None  # ndim, batch size of the first chunk
        self._batch = 0
        self._buf: np.ndarray | None = None  # held samples, (N, C_in, T)
        self._start = 0  # padded index of _buf[..., 0], once the left padding is built
        self._padded = False  # whether the left padding is built
        self._next = 0  # index of the next output
        self._length = 0  # signal samples seen
        self._done = False

    @property
    def buffered(self) -> int:
        return 0 if self._buf is None else self._buf.shape[-1]

    def output_length(self, length: int) -> int:
        self._spec.check_length(length)
        return self._spec.output_length(length)

    @property
    def samples(self) -> int | None:
        return None if self._rank is None else self._length

    def _chunk(self, chunk: Any) -> tuple[np.ndarray, int]:
        """``chunk`` checked against the layer and the first chunk, as (N, C_in, T); its ndim."""
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
        return x3.astype(self._layer.weight.dtype, copy=False), x.ndim

    def __call__(self, chunk: Any) -> np.ndarray:
        """The outputs ``chunk`` completes: ``(N, C_out, n)`` or ``(C_out, n)``, ``n >= 0``."""
        if self._done:
            raise _finished(self)
        x, ndim = self._chunk(chunk)
        if self._rank is None:
            self._rank, self._batch = ndim, x.shape[0]
        self._length += x.shape[-1]
        buf = x if self._buf is None else np.concatenate((self._buf, x), axis=-1)
        if not self._padded:
            if buf.shape[-1] < self._need:  # the left padding still waits for its samples
                self._buf = buf.copy() if buf is x else buf
                return self._out(self._empty(x))
            buf = self._pad_left(buf)
        return self._out(self._run(buf))

    def flush(self) -> np.ndarray:
        """End the signal: apply the right padding and return the remaining outputs.

        Raises
        ------
        ValueError
            If no chunk came, or the whole signal was too short for the layer (the error the
            layer gives offline); the stream is left as it was.
        RuntimeError
            If the stream was already flushed (``reset()`` starts a new signal).
        """
        if self._done:
            raise _finished(self)
        if self._rank is None:
            raise _not_started(self)
        self._spec.check_length(self._length)
        buf = self._buf if self._padded else self._pad_left(self._buf)
        right = self._spec.pad_right
        if right:
            # The right padding copies only the last pad_right + 1 samples, which _run kept.
            tail = pad(buf, 0, right, self._spec.padding_mode)[..., buf.shape[-1]:]
            buf = np.concatenate((buf, tail), axis=-1)
        y = self._run(buf)
        self._buf, self._done = None, True
        return self._out(y)

    def _pad_left(self, held: np.ndarray) -> np.ndarray:
        self._padded, self._start = True, 0
        return pad(held, self._spec.pad_left, 0, self._spec.padding_mode)

    def _run(self, buf: np.ndarray) -> np.ndarray:
        """Convolve every complete window of ``buf``, keep what later outputs need."""
        spec, s = self._spec, self._spec.stride
        end = self._start + buf.shape[-1]
        first = self._next * s  # padded index where the next output's window starts
        n = (end - first - spec.span) // s + 1 if end - first >= spec.span else 0
        if n:
            lo = first - self._start
            window = buf[..., lo : lo + (n - 1) * s + spec.span]
            layer = self._layer
            w = np.asarray(layer.weight)
            b = None if layer.bias is None else np.asarray(layer.bias)
            y = F.forward(window, w, b, self._inner, self._algorithm(window, w))
            self._next += n
        else:
            y = self._empty(buf)
        keep = max(min(self._next * s, end - self._tail) - self._start, 0)
        # A copy: the state must not pin, nor change with, the caller's (reusable) chunk.
        self._buf = buf[..., keep:].copy()
        self._start += keep
        return y

    def _algorithm(self, window: np.ndarray, w: np.ndarray) -> str:
        """The layer's algorithm; ``"auto"``'s choice remembered per window shape.

        :func:`~conv1d.algorithms.choose` is a pure function of the shape, and asking it costs
        more than a small chunk's correlation; autotune's choice is its own business.
        """
        name = self._layer.algorithm
        if name != "auto" or autotune_enabled():
            return name
        key = (window.shape, window.dtype, w.dtype)
        choice = self._choices.get(key)
        if choice is None:
            if len(self._choices) >= MAX_CHOICES:  # chunk lengths that keep changing
                self._choices.clear()
            sp = self._inner
            problem = Problem.of(*F.upcast(window, w), sp.stride, sp.dilation, sp.groups)
            choice = self._choices[key] = choose(problem)
        return choice

    def _empty(self, like: np.ndarray) -> np.ndarray:
        return np.empty((like.shape[0], self._spec.out_channels, 0), like.dtype)

    def _out(self, y: np.ndarray) -> np.ndarray:
        if self._last:
            y = y.swapaxes(1, 2)
        return y[0] if self._rank == 2 else y


class ElementwiseStream(Stream):
    """Streaming state of a layer that acts on each time step alone (``ReLU``): no delay.

    It runs the module's own ``forward`` on each chunk, leaving what the module remembers for
    ``backward`` as it was.

    Examples
    --------
    >>> import numpy as np
    >>> from conv1d import ReLU
    >>> s = ReLU().stream()
    >>> s(np.array([[-1.0, 2.0]])), s.flush().shape
    (array([[0., 2.]]), (1, 0))
    """

    def __init__(self, module: Module) -> None:
        self._module = module
        self.reset()

    def reset(self) -> None:
        """Forget the signal."""
        self._empty: np.ndarray | None = None
        self._done = False

    def __call__(self, chunk: Any) -> np.ndarray:
        if self._done:
            raise _finished(self)
        m = self._module
        saved = [(name, getattr(m, name, None)) for name in m._transient]
        try:
            y = m.forward(chunk)
        finally:
            for name, value in saved:
                setattr(m, name, value)
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

    @classmethod
    def of(cls, modules: list[Module]) -> SequentialStream:
        """The stream of each module in turn; ``TypeError`` naming the position that can't."""
        streams = []
        for i, m in enumerate(modules):
            try:
                streams.append(m.stream())
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"Sequential position {i}: {exc}") from None
        return cls(streams)

    def reset(self) -> None:
        """Forget the signal in every layer."""
        for st in self._streams:
            st.reset()

    @property
    def buffered(self) -> int:
        return sum(st.buffered for st in self._streams)

    def output_length(self, length: int) -> int:
        for st in self._streams:
            length = st.output_length(length)
        return length

    @property
    def samples(self) -> int | None:
        return self._streams[0].samples if self._streams else None

    def __call__(self, chunk: Any) -> np.ndarray:
        for st in self._streams:
            chunk = st(chunk)
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


def _stack(channels: int, dilations: tuple[int, ...], dtype: Any) -> Module:
    from .conv import Conv1d
    from .layers import ReLU
    from .module import Sequential

    layers: list[Module] = []
    for i, d in enumerate(dilations):
        if i:
            layers.append(ReLU())
        layers.append(Conv1d(channels, channels, 3, padding="causal", dilation=d, dtype=dtype, rng=i))
    return Sequential(*layers)


def bench_streaming(context: Any = None) -> list[str]:
    """Per-chunk cost of a streaming stack, beside the offline time for the same signal.

    A stack of 4 causal ``Conv1d(64, 64, 3)`` with dilations 1, 2, 4, 8 and ``ReLU`` between,
    float32, batch 1, fed 64-sample chunks of a 1 s signal at 48 kHz (0.25 s with ``--quick``).
    Reports the median and minimum microseconds per chunk, the real-time factor (a chunk's
    duration over its processing time: above 1 keeps up with the signal) and the offline time.

    Parameters
    ----------
    context : conv1d.bench.Context, optional
        Given by ``conv1d bench --streaming`` (its ``quick`` and ``repeat`` are used); run
        alone, the defaults: a 1 s signal, 5 passes.

    Returns
    -------
    list of str
        Markdown lines, starting with a ``## `` heading.
    """
    from .bench.report import markdown_table, sig

    rate, chunk, channels = 48_000, 64, 64
    quick = bool(getattr(context, "quick", False))
    repeat = int(getattr(context, "repeat", 5))
    length = (rate // 4 if quick else rate) // chunk * chunk
    net = _stack(channels, (1, 2, 4, 8), np.float32)
    x = np.random.default_rng(0).standard_normal((1, channels, length)).astype(np.float32)
    chunks = [x[..., i : i + chunk] for i in range(0, length, chunk)]

    per_chunk: list[float] = []
    offline: list[float] = []
    for r in range(repeat + 1):  # the first pass warms up and checks
        s = net.stream()
        times, ys = [], []
        for c in chunks:
            t0 = time.perf_counter()
            y = s(c)
            times.append(time.perf_counter() - t0)
            ys.append(y)
        ys.append(s.flush())
        t0 = time.perf_counter()
        y_off = net(x)
        t_off = time.perf_counter() - t0
        if r == 0:
            err = float(np.max(np.abs(np.concatenate(ys, axis=-1) - y_off)))
            continue
        per_chunk += times
        offline.append(t_off)
    med, best = statistics.median(per_chunk), min(per_chunk)
    off = statistics.median(offline)
    chunk_s = chunk / rate
    rows = [
        ["streaming, per chunk", sig(med * 1e6), sig(best * 1e6), sig(chunk_s / med)],
        ["offline, whole signal", sig(off * 1e6), sig(min(offline) * 1e6), sig(length / rate / off)],
        ["offline, per 64 samples", sig(off * 1e6 * chunk / length), "", ""],
    ]
    table = markdown_table(["", "median us", "min us", "real-time factor @ 48 kHz"], rows)
    print(table)
    return [
        "## Streaming",
        "",
        f"A stack of 4 causal `Conv1d({channels}, {channels}, 3)` (dilations 1, 2, 4, 8, `ReLU` "
        f"between), float32, batch 1, fed {chunk}-sample chunks of a {length}-sample signal "
        f"({length / rate:g} s at 48 kHz; a chunk lasts {chunk_s * 1e6:.0f} us), {repeat} passes. "
        "Real-time factor: the audio's duration over the time spent on it (above 1 keeps up). "
        f"Largest difference from the offline output: {err:.2g}.",
        "",
        table,
    ]
