"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: :class:`StepLR`, :class:`CosineAnnealingLR`.

A scheduler sets ``group["lr"]`` of each of an optimiser's parameter groups; call
``scheduler.step()`` once per epoch, after ``optimizer.step()``. The rates follow PyTorch's
recursive formulas step for step, so the sequences are PyTorch's to the last bit.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from . import optim as _optim
from .optim import Optimizer, check_number

__all__ = ["CosineAnnealingLR", "LRScheduler", "StepLR"]


class LRScheduler:
    """Base class: ``base_lrs`` from each group's ``initial_lr``, ``step()``, ``get_last_lr()``.

    Parameters
    ----------
    optimizer : conv1d.optim.Optimizer
    last_epoch : int, default -1
        The index of the last epoch when resuming; ``-1`` starts afresh (then each group's
        ``initial_lr`` is set to its ``lr``).

    Examples
    --------
    A subclass defines :meth:`get_lr`; here, halving the rate every epoch:

    >>> import numpy as np
    >>> from conv1d.module import Parameter
    >>> from conv1d.optim import SGD
    >>> class Halve(LRScheduler):
    ...     def get_lr(self):
    ...         return [b * 0.5 ** self.last_epoch for b in self.base_lrs]
    >>> opt = SGD([Parameter(np.zeros(1))], lr=1.0)
    >>> sched = Halve(opt)
    >>> for _ in range(3):
    ...     opt.step(); sched.step()
    >>> sched.get_last_lr(), opt.param_groups[0]["lr"]
    ([0.125], 0.125)
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        if not isinstance(getattr(optimizer, "param_groups", None), list):
            raise TypeError(f"{name}: optimizer must be a conv1d.optim.Optimizer (with "
                            f"param_groups), got {type(optimizer).__name__}")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"{name}: last_epoch must be an int >= -1, got {last_epoch!r}")
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{name}: param_groups[{i}] has no 'initial_lr', needed to "
                               f"resume with last_epoch={last_epoch}")
        self.optimizer = optimizer
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._initial = True
        self.step()
        self._initial = False

    def get_lr(self) -> list[float]:
        """The rates for the epoch ``last_epoch`` (already advanced); subclasses define it.

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d.module import Parameter
        >>> from conv1d.optim import SGD
        >>> sched = StepLR(SGD([Parameter(np.zeros(1))], lr=1.0), step_size=1, gamma=0.5)
        >>> sched.get_lr()  # what step() would set for the current epoch
        [1.0]
        """
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set every group's ``lr``.

        Examples
        --------
        >>> from conv1d.module import Parameter
        >>> from conv1d.optim import SGD
        >>> import numpy as np
        >>> s = StepLR(SGD([Parameter(np.zeros(1))], lr=1.0), step_size=2, gamma=0.5)
        >>> [s.get_last_lr()[0]] + [(s.step(), s.get_last_lr()[0])[1] for _ in range(4)]
        [1.0, 1.0, 0.5, 0.5, 0.25]
        """
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The rates the last :meth:`step` set, one per parameter group.

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d.module import Parameter
        >>> from conv1d.optim import SGD
        >>> opt = SGD([{"params": [Parameter(np.zeros(1))]},
        ...            {"params": [Parameter(np.zeros(1))], "lr": 0.5}], lr=1.0)
        >>> StepLR(opt, step_size=1).get_last_lr()
        [1.0, 0.5]
        """
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimiser, as PyTorch's schedulers.

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d.module import Parameter
        >>> from conv1d.optim import SGD
        >>> sd = StepLR(SGD([Parameter(np.zeros(1))], lr=1.0), step_size=4).state_dict()
        >>> sd["step_size"], sd["last_epoch"], sd["base_lrs"]
        (4, 0, [1.0])
        """
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (this scheduler then continues where that one was).

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d.module import Parameter
        >>> from conv1d.optim import SGD
        >>> opt = SGD([Parameter(np.zeros(1))], lr=1.0)
        >>> a = StepLR(opt, step_size=1, gamma=0.5)
        >>> a.step(); a.step()
        >>> b = StepLR(SGD([Parameter(np.zeros(1))], lr=1.0), step_size=1, gamma=0.5)
        >>> b.load_state_dict(a.state_dict())
        >>> b.last_epoch, b.get_last_lr()
        (2, [0.25])
        """
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs (``torch.optim.lr_scheduler.StepLR``).

    Parameters
    ----------
    optimizer : conv1d.optim.Optimizer
    step_size : int
        Epochs between decays, >= 1.
    gamma : float, default 0.1
        The factor, >= 0.
    last_epoch : int, default -1

    Examples
    --------
    >>> import numpy as np
    >>> from conv1d.module import Parameter
    >>> from conv1d.optim import SGD
    >>> opt = SGD([Parameter(np.zeros(1))], lr=0.1)
    >>> sched = StepLR(opt, step_size=3)
    >>> lrs = []
    >>> for epoch in range(7):
    ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
    ...     opt.step(); sched.step()
    >>> lrs
    [0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be an int >= 1, got {step_size!r}")
        self.step_size = step_size
        self.gamma = check_number("gamma", gamma, owner="StepLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """``gamma`` times the current rates at each multiple of ``step_size``, else them.

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d.module import Parameter
        >>> from conv1d.optim import SGD
        >>> sched = StepLR(SGD([Parameter(np.zeros(1))], lr=1.0), step_size=2, gamma=0.5)
        >>> sched.last_epoch = 2; sched.get_lr()
        [0.5]
        """
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [g["lr"] for g in groups]
        return [g["lr"] * self.gamma for g in groups]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from the initial rate to ``eta_min`` over ``T_max`` epochs.

    ``lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2`` (Loshchilov &
    Hutter, SGDR, arXiv:1608.03983, without restarts), computed with PyTorch's recursive form
    so the values equal ``torch.optim.lr_scheduler.CosineAnnealingLR``'s; past ``T_max`` the
    rate rises again along the same cosine, as there.

    Parameters
    ----------
    optimizer : conv1d.optim.Optimizer
    T_max : int
        Half period in epochs, >= 1.
    eta_min : float, default 0
        The lowest rate, >= 0.
    last_epoch : int, default -1

    Examples
    --------
    >>> import numpy as np
    >>> from conv1d.module import Parameter
    >>> from conv1d.optim import SGD
    >>> opt = SGD([Parameter(np.zeros(1))], lr=1.0)
    >>> sched = CosineAnnealingLR(opt, T_max=4)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    ...     opt.step(); sched.step()
    >>> lrs
    [1.0, 0.8536, 0.5, 0.1464, 0.0]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be an int >= 1, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = check_number("eta_min", eta_min, owner="CosineAnnealingLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The next rates by PyTorch's recursive form (the closed form on a first step).

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d.module import Parameter
        >>> from conv1d.optim import SGD
        >>> sched = CosineAnnealingLR(SGD([Parameter(np.zeros(1))], lr=1.0), T_max=2)
        >>> sched.step(); sched.get_last_lr()
        [0.5]
        """
        groups = self.optimizer.param_groups
        t, n, lo = self.last_epoch, self.T_max, self.eta_min
        if self._initial:
            return [g["lr"] for g in groups]
        if self._step_count == 1 and t > 0:  # as PyTorch: the closed form on a first step
            return [lo + (b - lo) * (1 + math.cos(t * math.pi / n)) / 2 for b in self.base_lrs]
        if (t - 1 - n) % (2 * n) == 0:  # at the bottom of the cosine, where the ratio is 0/0
            return [g["lr"] + (b - lo) * (1 - math.cos(math.pi / n)) / 2
                    for b, g in zip(self.base_lrs, groups, strict=True)]
        return [(1 + math.cos(math.pi * t / n)) / (1 + math.cos(math.pi * (t - 1) / n))
                * (g["lr"] - lo) + lo for g in groups]


# ``conv1d.optim.lr_scheduler``, as ``torch.optim.lr_scheduler`` (conv1d.optim cannot import
# this module, which builds on it).
_optim.lr_scheduler = sys.modules[__name__]
