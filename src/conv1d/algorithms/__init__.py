"""The registry of correlation algorithms and the choice between them.

An algorithm is three functions on already padded, validated arrays (see
:mod:`conv1d.algorithms.reference` for the layout); it never sees padding modes or user
input. ``"auto"`` is an ordinary entry that asks :func:`choose` which one to run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import reference


@dataclass(frozen=True)
class Problem:
    """The shape of one correlation, all :func:`choose` looks at."""

    batch: int
    in_channels: int
    out_channels: int
    kernel_size: int
    length: int  # padded input length
    stride: int = 1
    dilation: int = 1
    groups: int = 1
    dtype: str = "float32"

    @property
    def flops(self) -> int:
        """Multiply-adds times two of the forward pass."""
        cg = self.in_channels // self.groups
        return 2 * self.batch * self.out_channels * cg * self.kernel_size * self.output_length

    @property
    def output_length(self) -> int:
        return (self.length - self.dilation * (self.kernel_size - 1) - 1) // self.stride + 1

    @classmethod
    def of(cls, x: np.ndarray, w: np.ndarray, stride: int, dilation: int, groups: int) -> Problem:
        n, c_in, length = x.shape
        c_out, _, kernel = w.shape
        dtype = np.result_type(x, w).name
        return cls(n, c_in, c_out, kernel, length, stride, dilation, groups, dtype)


@dataclass(frozen=True)
class Algorithm:
    """One way to correlate, with its two gradients.

    ``unsupported(problem)`` returns ``None`` when the algorithm can run the problem, else
    a sentence saying why not. ``cost(problem)`` is the cost model's estimate of the
    forward's run time in seconds; :func:`choose` takes the cheapest supported algorithm.
    """

    name: str
    forward: Callable[..., np.ndarray]
    grad_input: Callable[..., np.ndarray]
    grad_weight: Callable[..., np.ndarray]
    unsupported: Callable[[Problem], str | None] = lambda problem: None
    cost: Callable[[Problem], float] = lambda problem: float("inf")


def choose(problem: Problem) -> str:
    """Name of the algorithm ``"auto"`` runs for ``problem`` (a pure function of the shape).

    Examples
    --------
    >>> choose(Problem(batch=20, in_channels=16, out_channels=33, kernel_size=3, length=50))
    'reference'
    """
    best, best_cost = "reference", float("inf")
    for name, algo in ALGORITHMS.items():
        if name == "auto" or algo.unsupported(problem) is not None:
            continue
        c = algo.cost(problem)
        if c < best_cost:
            best, best_cost = name, c
    return best


def _auto_forward(x, w, stride, dilation, groups):
    name = choose(Problem.of(x, w, stride, dilation, groups))
    return ALGORITHMS[name].forward(x, w, stride, dilation, groups)


def _auto_grad_input(gy, w, length, stride, dilation, groups):
    n, c_out, _ = gy.shape
    _, cg, kernel = w.shape
    dtype = np.result_type(gy, w).name
    p = Problem(n, cg * groups, c_out, kernel, length, stride, dilation, groups, dtype)
    return ALGORITHMS[choose(p)].grad_input(gy, w, length, stride, dilation, groups)


def _auto_grad_weight(gy, x, kernel, stride, dilation, groups):
    n, c_in, length = x.shape
    dtype = np.result_type(gy, x).name
    p = Problem(n, c_in, gy.shape[1], kernel, length, stride, dilation, groups, dtype)
    return ALGORITHMS[choose(p)].grad_weight(gy, x, kernel, stride, dilation, groups)


ALGORITHMS: dict[str, Algorithm] = {
    "auto": Algorithm("auto", _auto_forward, _auto_grad_input, _auto_grad_weight),
    "reference": Algorithm(
        "reference", reference.forward, reference.grad_input, reference.grad_weight
    ),
}


def get_algorithm(name: str, problem: Problem) -> Algorithm:
    """The registered algorithm ``name``, checked to support ``problem``.

    Raises
    ------
    ValueError
        If ``name`` is not registered, or the algorithm cannot run ``problem``.
    """
    if not isinstance(name, str) or name not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {tuple(ALGORITHMS)}, got {name!r}")
    algo = ALGORITHMS[name]
    reason = algo.unsupported(problem)
    if reason is not None:
        raise ValueError(f"algorithm={name!r} cannot run this convolution: {reason}")
    return algo
