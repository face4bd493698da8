"""Streaming of composed modules: :class:`ResidualStream` and user-written modules (:class:`ModuleStream`).

These streams rely only on the public interface of the per-layer streams
(:mod:`conv1d.stream`): ``s(chunk)``, ``s.flush()``, ``s.reset()``, ``s.delay``, ``s.stride``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from . import module as _module
from .module import Module, ModuleList
from .stream import Stream

__all__ = ["ModuleStream", "ResidualStream"]


def time_axis(module: Module) -> int:
    """The time axis of ``module``'s outputs: -2 if a layer inside is channels-last, else -1.

    Examples
    --------
    >>> from conv1d import Conv1d, ReLU, Sequential
    >>> time_axis(Sequential(Conv1d(1, 2, 3), ReLU()))
    -1
    >>> time_axis(Conv1d(1, 2, 3, data_format="channels_last"))
    -2
    """
    last = any(getattr(m, "data_format", None) == "channels_last" for m in module.modules())
    return -2 if last else -1


class ResidualStream(Stream):
    """Streaming state of a :class:`Residual`: both branches' streams, summed in step.

    The branch with the smaller delay returns its outputs earlier; they wait in a buffer
    until the other branch's matching outputs arrive, so the sum is exact whatever the two
    delays (the stream's delay is the larger one). The strides must be equal.

    A :class:`conv1d.stream.Stream` (``delay``, ``stride``, call, ``flush``, ``reset``), so
    a ``Sequential`` of residual blocks streams too.

    Parameters
    ----------
    body : stream
    shortcut : stream or None
        ``None`` for the identity (delay 0, stride 1).
    axis : int, default -1
        The time axis of the outputs (-2 for channels-last layers).

    Examples
    --------
    >>> import numpy as np
    >>> from conv1d import Conv1d, Residual
    >>> block = Residual(Conv1d(2, 2, 5, padding=2, rng=0))  # "same" body: delay 2
    >>> s = block.stream()
    >>> s.delay, s.stride
    (2, 1)
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 40))
    >>> ys = [s(x[..., i : i + 7]) for i in range(0, 40, 7)] + [s.flush()]
    >>> np.allclose(np.concatenate(ys, axis=-1), block(x), rtol=1e-6, atol=1e-6)
    True
    """

    def __init__(self, body: Any, shortcut: Any, axis: int = -1) -> None:
        s_delay, s_stride = (0, 1) if shortcut is None else (shortcut.delay, shortcut.stride)
        if body.stride != s_stride:
            raise ValueError(
                f"Residual cannot stream: the body's stride {body.stride} differs from the "
                f"shortcut's {s_stride}, so their outputs do not line up in time"
            )
        self._body, self._short, self._axis = body, shortcut, axis
        self.delay, self.stride = max(body.delay, s_delay), body.stride
        self.reset()

    def reset(self) -> None:
        """Forget the signal in both branches.

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d import Conv1d, Residual
        >>> s = Residual(Conv1d(1, 1, 3, padding="causal", rng=0)).stream()
        >>> _ = s(np.ones((1, 1, 5), np.float32))
        >>> s.samples, (s.reset(), s.samples)[1]
        (5, None)
        """
        self._body.reset()
        if self._short is not None:
            self._short.reset()
        self._held: list[np.ndarray | None] = [None, None]
        self._empty: np.ndarray | None = None

    @property
    def buffered(self) -> int:
        """Time steps held: both branches' buffers and the sums waiting for the slower one."""
        held = sum(0 if h is None else h.shape[self._axis] for h in self._held)
        return self._body.buffered + (0 if self._short is None else self._short.buffered) + held

    def output_length(self, length: int) -> int:
        """Outputs a whole signal of ``length`` samples gives (the body's).

        Examples
        --------
        >>> from conv1d import Conv1d, Residual
        >>> Residual(Conv1d(1, 1, 3, padding=1)).stream().output_length(10)
        10
        """
        return self._body.output_length(length)

    @property
    def samples(self) -> int | None:
        """Input samples of the current signal seen so far (the body's count)."""
        return self._body.samples

    def _length(self, y: np.ndarray) -> int:
        return 0 if y.size == 0 else y.shape[self._axis]

    def _combine(self, yb: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Sum what both branches have given so far; hold the longer one's excess."""
        parts = []
        for held, y in zip(self._held, (yb, ys), strict=True):
            if held is not None and self._length(y):
                y = np.concatenate((held, y), axis=self._axis)
            elif held is not None:
                y = held
            parts.append(y)
        n = min(self._length(p) for p in parts)
        idx: list[Any] = [slice(None)] * yb.ndim
        idx[self._axis] = slice(0, n)
        head = tuple(idx)
        idx[self._axis] = slice(n, None)
        tail = tuple(idx)
        self._held = [p[tail] if self._length(p) > n else None for p in parts]
        return parts[0][head] + parts[1][head]

    def __call__(self, chunk: Any) -> np.ndarray:
        """The sums ``chunk`` completes in both branches (see the class example).

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d import Conv1d, Residual
        >>> s = Residual(Conv1d(1, 1, 3, padding=1, rng=0)).stream()  # body's delay 1
        >>> s(np.ones((1, 1, 5), np.float32)).shape
        (1, 1, 4)
        """
        yb = self._body(chunk)
        ys = np.asarray(chunk) if self._short is None else self._short(chunk)
        if self._empty is None:
            idx: list[Any] = [slice(None)] * yb.ndim
            idx[self._axis] = slice(0, 0)
            self._empty = ys[tuple(idx)] if self._short is None else None
        return self._combine(yb, ys)

    def flush(self) -> np.ndarray:
        """End the signal in both branches and return the remaining sums.

        Raises
        ------
        ValueError
            If the branches' outputs end with different lengths (the shapes that make the
            offline ``forward`` fail).

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d import Conv1d, Residual
        >>> s = Residual(Conv1d(1, 1, 3, padding=1, rng=0)).stream()
        >>> _ = s(np.ones((1, 1, 5), np.float32))
        >>> s.flush().shape  # the last output, which needed the right padding
        (1, 1, 1)
        """
        yb = self._body.flush()
        if self._short is None:
            ys = self._empty if self._empty is not None else yb[..., :0]
        else:
            ys = self._short.flush()
        y = self._combine(yb, ys)
        if any(h is not None for h in self._held):
            extra = ["body" if h is self._held[0] else "shortcut" for h in self._held if h is not None]
            self._held = [None, None]
            raise ValueError(
                f"Residual stream: the {extra[0]} gave more outputs than the other branch; "
                "their offline outputs have different lengths"
            )
        return y


def _pointwise_leaves() -> tuple[type, ...]:
    """Layers without a ``stream()`` of their own that act on each time step alone when the
    time axis is not their feature axis: ``Linear`` applied to ``(N, T, C)``."""
    try:
        from .linear import Linear
    except ImportError:  # pragma: no cover - a checkout without the Linear layer
        return ()
    return (Linear,)


class _Routed(Module):
    """Stands in for one layer during a streamed ``forward``: each call goes to a stream.

    The ``k``-th call of the layer within one ``forward`` goes to the ``k``-th stream (made
    on first use), so a layer used at two places keeps two states. Attribute reads go to the
    layer itself. A ``Module``, so that containers (``Sequential``, ``ModuleList``) list it.
    """

    _module: Module
    _path: str
    _owner: ModuleStream
    _streams: list[Any]
    _calls: int
    _axis: int

    def __init__(self, module: Module, path: str, first: Any, owner: ModuleStream) -> None:
        d = self.__dict__  # not attributes a module tree walk should see
        d["_module"], d["_path"], d["_owner"] = module, path, owner
        d["_streams"] = [] if first is None else [first]
        d["_calls"] = 0
        d["_axis"] = time_axis(module)

    training = property(lambda self: self._module.training)  # pyright: ignore[reportAssignmentType]

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return iter(())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def __repr__(self) -> str:
        return f"<streaming {self._path}: {self._module!r}>"

    def forward(self, x: Any) -> Any:
        k, self._calls = self._calls, self._calls + 1
        m = self._module
        if not self._streams:  # a pointwise leaf without a stream: its forward on the chunk
            saved = [(name, m.__dict__.get(name)) for name in m._transient]
            try:
                return m.forward(x)
            finally:
                m.__dict__.update(saved)
        while len(self._streams) <= k:
            self._streams.append(self._owner._stream_of(m, self._path))
        s = self._streams[k]
        y = s(x)
        if self._owner._flushing:
            rest = s.flush()
            if rest.size:
                y = np.concatenate((y, rest), axis=self._axis) if y.size else rest
        return y


class ModuleStream(Stream):
    """Streaming state of a user-written :class:`~conv1d.Module`; made by ``module.stream()``.

    While a chunk goes through, each layer inside the module (at any depth, in
    :class:`~conv1d.ModuleList` too) is replaced by a stand-in that feeds its own stream
    (``layer.stream()``), and the module's own ``forward`` runs on the chunk: so every
    ``Conv1d`` keeps its state between chunks, and the module's NumPy operations (sums,
    gating, skip sums) act on the chunk. The layers are put back after each call.

    Rules, checked by ``module.stream()``: every layer inside must stream with ``delay == 0``
    and ``stride == 1`` (``Conv1d`` with ``padding="causal"`` or a 1x1 kernel, activations,
    eval-mode ``BatchNorm1d``, ``Sequential``/``Residual`` stacks of them, ``Linear`` on
    ``(N, T, C)``), so that every branch returns the same time steps at every call; and the
    module's own NumPy operations must be pointwise in time (no means, shifts or pooling
    along time, which this cannot check). A layer used at several places in ``forward``
    gets one state per place. ``Sequential`` and ``Residual`` keep their own streams.

    Examples
    --------
    >>> import numpy as np
    >>> from conv1d import Conv1d, Module
    >>> class Gated(Module):
    ...     def __init__(self):
    ...         self.filt = Conv1d(2, 2, 3, padding="causal", dilation=2, rng=0)
    ...         self.gate = Conv1d(2, 2, 3, padding="causal", dilation=2, rng=1)
    ...     def forward(self, x):
    ...         return x + np.tanh(self.filt(x)) / (1 + np.exp(-self.gate(x)))
    >>> net = Gated()
    >>> s = net.stream()
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 50)).astype(np.float32)
    >>> ys = [s(x[..., i : i + 8]) for i in range(0, 50, 8)] + [s.flush()]
    >>> np.allclose(np.concatenate(ys, axis=-1), net(x), rtol=1e-5, atol=1e-6)
    True
    """

    delay = 0
    stride = 1

    def __init__(self, module: Module) -> None:
        if type(module).forward is Module.forward:
            raise TypeError(
                f"{type(module).__name__} cannot stream: it has no forward of its own"
            )
        self._module = module
        self._axis = time_axis(module)
        self._flushing = False
        # (owner's __dict__, attribute, original, stand-in), for every layer at any depth.
        self._swaps: list[tuple[dict[str, Any], str, Any, Any]] = []
        self._routed: list[_Routed] = []
        self._composites: list[Module] = []  # the modules whose forward runs on each chunk
        self._plan(module, "")
        self.reset()

    def _stream_of(self, m: Module, path: str) -> Any:
        where = f"{type(self._module).__name__}.{path}"
        try:
            s = m.stream()
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where} ({type(m).__name__}) cannot stream: {exc}") from None
        if s.delay != 0 or s.stride != 1:
            raise ValueError(
                f"{where} ({type(m).__name__}) streams with delay {s.delay} and stride "
                f"{s.stride}; inside a module with its own forward every layer needs delay 0 "
                "and stride 1 so that all branches return the same time steps (use "
                "padding='causal' for Conv1d; no pooling or strides)"
            )
        return s

    def _route(self, m: Module, path: str) -> Any:
        if type(m).stream is not Module.stream:
            r = _Routed(m, path, self._stream_of(m, path), self)
        elif isinstance(m, _pointwise_leaves()):
            r = _Routed(m, path, None, self)
        elif any(True for _ in m.named_children()):
            if type(m).forward is Module.forward and not isinstance(m, ModuleList):
                raise TypeError(f"{type(self._module).__name__}.{path} ({type(m).__name__}) "
                                "cannot stream: it has no forward of its own")
            self._plan(m, path + ".")
            return m
        else:
            raise TypeError(
                f"{type(self._module).__name__}.{path} ({type(m).__name__}) cannot stream: it "
                "is not pointwise in time nor a causal layer (streamable layers: Conv1d with "
                "padding='causal', activations, eval-mode BatchNorm1d, Linear on (N, T, C), "
                "and Sequential/Residual stacks of them)"
            )
        self._routed.append(r)
        return r

    def _plan(self, module: Module, prefix: str) -> None:
        for name, child in list(module.named_children()):
            stand_in = self._route(child, prefix + name)
            if stand_in is not child:
                self._swaps.append((module.__dict__, name, child, stand_in))
        self._composites.append(module)

    def reset(self) -> None:
        """Forget the signal in every layer.

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d import Conv1d, Module
        >>> class Skip(Module):
        ...     def __init__(self):
        ...         self.conv = Conv1d(1, 1, 3, padding="causal", rng=0)
        ...     def forward(self, x):
        ...         return x + self.conv(x)
        >>> s = Skip().stream()
        >>> _ = s(np.ones((1, 1, 4), np.float32))
        >>> s.samples, (s.reset(), s.samples)[1]
        (4, None)
        """
        for r in self._routed:
            for s in r._streams:
                s.reset()
        self._flushing = False
        self._done = False
        self._samples: int | None = None
        self._empty: np.ndarray | None = None

    @property
    def buffered(self) -> int:
        """Time steps held between calls, summed over the layers' streams."""
        return sum(s.buffered for r in self._routed for s in r._streams)

    def output_length(self, length: int) -> int:
        """``length``: every layer inside streams with delay 0 and stride 1.

        Examples
        --------
        >>> from conv1d import Conv1d, Module
        >>> class One(Module):
        ...     def __init__(self):
        ...         self.conv = Conv1d(1, 1, 3, padding="causal")
        ...     def forward(self, x):
        ...         return self.conv(x) * 2
        >>> One().stream().output_length(10)
        10
        """
        return length

    @property
    def samples(self) -> int | None:
        """Input samples of the current signal seen so far (``None`` before the first chunk)."""
        return self._samples

    def _run(self, chunk: Any) -> Any:
        for r in self._routed:
            r._calls = 0
        # What the modules' own forwards remember for backward is put back after each call.
        saved = [(m.__dict__, name, m.__dict__.get(name)) for m in self._composites
                 for name in m._transient]
        for d, name, _, stand_in in self._swaps:
            d[name] = stand_in
        try:
            return self._module.forward(chunk)
        finally:
            for d, name, original, _ in self._swaps:
                d[name] = original
            for d, name, value in saved:
                d[name] = value

    def __call__(self, chunk: Any) -> Any:
        """The module's outputs for ``chunk``: as many time steps as the chunk has.

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d import Conv1d, Module
        >>> class Skip(Module):
        ...     def __init__(self):
        ...         self.conv = Conv1d(2, 2, 3, padding="causal", rng=0)
        ...     def forward(self, x):
        ...         return x + self.conv(x)
        >>> s = Skip().stream()
        >>> s(np.ones((1, 2, 7), np.float32)).shape
        (1, 2, 7)
        """
        if self._done:
            raise RuntimeError(f"{type(self).__name__}: this stream was flushed (the signal has "
                               "ended); call reset() to start a new signal")
        x = np.asarray(chunk)
        if self._empty is None:
            idx: list[Any] = [slice(None)] * x.ndim
            idx[self._axis] = slice(0, 0)
            self._empty = x[tuple(idx)]
            self._samples = 0
        self._samples = (self._samples or 0) + x.shape[self._axis]
        return self._run(x)

    def flush(self) -> Any:
        """End the signal in every layer; returns the outputs still held (none: delay 0).

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d import Conv1d, Module
        >>> class Skip(Module):
        ...     def __init__(self):
        ...         self.conv = Conv1d(2, 2, 3, padding="causal", rng=0)
        ...     def forward(self, x):
        ...         return x + self.conv(x)
        >>> s = Skip().stream()
        >>> _ = s(np.ones((1, 2, 7), np.float32))
        >>> s.flush().shape
        (1, 2, 0)
        """
        if self._done:
            raise RuntimeError(f"{type(self).__name__}: this stream was already flushed")
        if self._empty is None:
            raise ValueError(f"{type(self).__name__}.flush() before any chunk")
        self._flushing = True
        try:
            y = self._run(self._empty)
        finally:
            self._flushing = False
        self._done = True
        return y


# Module.stream() makes a ModuleStream through this slot (conv1d.module never imports this
# module, which builds on it); the package's __init__ imports this module, so it is always set.
_module.module_stream = ModuleStream
