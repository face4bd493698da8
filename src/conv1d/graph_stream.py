"""Streaming of composed modules: :class:`ResidualStream` and user-written modules.

These streams rely only on the public interface of the per-layer streams
(:mod:`conv1d.stream`): ``s(chunk)``, ``s.flush()``, ``s.reset()``, ``s.delay``, ``s.stride``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ResidualStream"]


class ResidualStream:
    """Streaming state of a :class:`Residual`: both branches' streams, summed in step.

    The branch with the smaller delay returns its outputs earlier; they wait in a buffer
    until the other branch's matching outputs arrive, so the sum is exact whatever the two
    delays (the stream's delay is the larger one). The strides must be equal.

    It has the interface of :class:`conv1d.stream.Stream` (``delay``, ``stride``, call,
    ``flush``, ``reset``), so a ``Sequential`` of residual blocks streams too.

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
        """Forget the signal in both branches."""
        self._body.reset()
        if self._short is not None:
            self._short.reset()
        self._held: list[np.ndarray | None] = [None, None]
        self._empty: np.ndarray | None = None

    @property
    def buffered(self) -> int:
        held = sum(0 if h is None else h.shape[self._axis] for h in self._held)
        return self._body.buffered + (0 if self._short is None else self._short.buffered) + held

    def output_length(self, length: int) -> int:
        return self._body.output_length(length)

    @property
    def samples(self) -> int | None:
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
