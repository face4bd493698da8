"""Optimisers that update :class:`~conv1d.module.Parameter` arrays in place from ``.grad``.

Update rules follow ``torch.optim.SGD`` and ``torch.optim.Adam`` (no dampening, no amsgrad).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .module import Parameter

__all__ = ["SGD", "Adam"]


class Optimizer:
    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for p in self.params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer parameters must be Parameters, got {type(p).__name__}")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        self.lr = float(lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def _grads(self):
        """``(index, parameter, gradient)`` for the parameters that have a gradient."""
        return ((i, p, p.grad) for i, p in enumerate(self.params) if p.grad is not None)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and weight decay.

    Examples
    --------
    >>> p = Parameter(np.array([1.0])); p.grad = np.array([0.5])
    >>> SGD([p], lr=0.1).step(); p
    Parameter containing:
    array([0.95])
    """

    def __init__(
        self, params: Iterable[Parameter], lr: float, momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.momentum, self.weight_decay = momentum, weight_decay
        self._buf: dict[int, np.ndarray] = {}

    def step(self) -> None:
        for i, p, g in self._grads():
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                buf = self._buf.get(i)
                g = self._buf[i] = g.copy() if buf is None else self.momentum * buf + g
            p -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba, arXiv:1412.6980) with bias correction."""

    def __init__(
        self, params: Iterable[Parameter], lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not all(0 <= b < 1 for b in betas) or len(betas) != 2:
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self._m: dict[int, np.ndarray] = {}
        self._v: dict[int, np.ndarray] = {}
        self._t = 0

    def step(self) -> None:
        self._t += 1
        b1, b2 = self.betas
        for i, p, g in self._grads():
            # Moments of half-precision parameters live in float32: in float16, g*g underflows
            # and the default eps rounds to 0 (torch.optim.Adam has that problem; we don't).
            g = np.asarray(g, dtype=np.float64 if p.dtype == np.float64 else np.float32)
            if self.weight_decay:
                g = g + self.weight_decay * np.asarray(p, dtype=g.dtype)
            m = self._m[i] = b1 * self._m.get(i, 0) + (1 - b1) * g
            v = self._v[i] = b2 * self._v.get(i, 0) + (1 - b2) * g * g
            m_hat = m / (1 - b1**self._t)
            v_hat = v / (1 - b2**self._t)
            p -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(p.dtype, copy=False)
