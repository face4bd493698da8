"""The loss, and the layers' old home.

The layers live in :mod:`conv1d.activation`, :mod:`conv1d.linear`, :mod:`conv1d.norm` and
:mod:`conv1d.pooling`; they are re-exported here so that ``from conv1d.layers import ReLU``
keeps working.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._layer import remembered as _remembered
from .activation import ELU, GELU, Dropout, Flatten, Identity, LeakyReLU, ReLU, Sigmoid, SiLU, Tanh
from .linear import Linear
from .module import Module
from .norm import BatchNorm1d, GroupNorm
from .pooling import AdaptiveAvgPool1d, AvgPool1d, GlobalAvgPool1d, MaxPool1d

__all__ = [
    "ELU", "GELU", "AdaptiveAvgPool1d", "AvgPool1d", "BatchNorm1d", "CrossEntropyLoss", "Dropout",
    "Flatten", "GlobalAvgPool1d", "GroupNorm", "Identity", "LeakyReLU", "Linear", "MaxPool1d",
    "ReLU", "SiLU", "Sigmoid", "Tanh",
]


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

    def backward(self, grad_output: Any = 1.0) -> np.ndarray:
        p, t = _remembered(self, self._cache)
        g = p.copy()
        g[np.arange(len(t)), t] -= 1
        return g * (grad_output / len(t))
