"""The few layers besides Conv1d that training a small 1D CNN needs."""

from __future__ import annotations

from typing import Any

import numpy as np

from .functional import is_dask_array
from .module import Module


def _remembered(module: Module, value: Any) -> Any:
    if value is None:
        raise RuntimeError(f"{type(module).__name__}.backward called before forward")
    return value


class ReLU(Module):
    """``max(x, 0)`` elementwise; the gradient passes where ``x > 0``."""

    _transient = ("_mask",)

    def __init__(self) -> None:
        self._mask: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        if is_dask_array(x):  # lazy in, lazy out; like Conv1d, nothing kept for backward
            self._mask = None
            return np.maximum(x, 0)
        x = np.asarray(x)
        self._mask = x > 0
        return np.where(self._mask, x, 0).astype(x.dtype, copy=False)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return np.where(_remembered(self, self._mask), grad_output, 0).astype(
            grad_output.dtype, copy=False
        )

    def stream(self) -> Any:
        """Elementwise, so it streams with no delay: a :class:`conv1d.stream.ElementwiseStream`."""
        from .stream import ElementwiseStream

        return ElementwiseStream(self)


class GlobalAvgPool1d(Module):
    """Mean over the length axis: ``(N, C, L) -> (N, C)``.

    Like ``torch.nn.AdaptiveAvgPool1d(1)`` followed by a flatten.
    """

    _transient = ("_length",)

    def __init__(self) -> None:
        self._length: int | None = None

    def forward(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"GlobalAvgPool1d expects (N, C, L) input, got shape {x.shape}")
        self._length = x.shape[2]
        return x.mean(axis=2)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        length = _remembered(self, self._length)
        return np.repeat(grad_output[:, :, None] / length, length, axis=2)


class CrossEntropyLoss(Module):
    """Softmax cross-entropy, averaged over the batch (``torch.nn.CrossEntropyLoss``).

    ``loss = criterion(logits, target)`` with ``logits (N, classes)`` and integer
    ``target (N,)``; ``criterion.backward()`` returns ``dloss/dlogits``.

    Examples
    --------
    >>> criterion = CrossEntropyLoss()
    >>> round(criterion(np.zeros((4, 2)), np.array([0, 1, 0, 1])), 4)
    0.6931
    """

    _transient = ("_cache",)

    def __init__(self) -> None:
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def forward(self, logits: Any, target: Any) -> float:
        z = np.asarray(logits)
        t = np.asarray(target)
        if z.ndim != 2:
            raise ValueError(f"logits must be (N, classes), got shape {z.shape}")
        if t.shape != (z.shape[0],) or t.dtype.kind not in "iu":
            raise ValueError(
                f"target must be integer class indices of shape ({z.shape[0]},), "
                f"got shape {t.shape} and dtype {t.dtype}"
            )
        if t.size and (t.min() < 0 or t.max() >= z.shape[1]):
            raise ValueError(f"target values must be in [0, {z.shape[1]}), got {t.min()}..{t.max()}")
        shifted = z - z.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self._cache = (np.exp(log_p), t)
        return float(-log_p[np.arange(len(t)), t].mean())

    def backward(self, grad_output: float = 1.0) -> np.ndarray:
        p, t = _remembered(self, self._cache)
        g = p.copy()
        g[np.arange(len(t)), t] -= 1
        return g * (grad_output / len(t))
