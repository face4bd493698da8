"""Benchmark mode for ``algorithm="auto"``: measure once per shape, then remember the winner.

Off by default, and then ``"auto"`` is :func:`conv1d.algorithms.choose`, a pure function of the
shape with no timing in any call. With :func:`autotune` on (like PyTorch's
``torch.backends.cudnn.benchmark = True``), the first ``"auto"`` call of each pass (forward,
grad_input, grad_weight) on a new :class:`~conv1d.algorithms.Problem` runs every algorithm on
the shortlist once on the call's own arrays, returns the fastest one's result, and remembers
its name for every later call with that shape.

This module builds on :mod:`conv1d.algorithms` and switches benchmark mode on by installing
:func:`run_tuned` in its :data:`~conv1d.algorithms.tuner` slot; the algorithms never import
this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from . import algorithms
from .algorithms import Problem, candidates

__all__ = ["autotune", "clear", "is_enabled", "run_tuned", "tuned"]

#: The shortlist: algorithms whose cost-model estimate is within this factor of the cheapest.
#: The model's misses measured on the suite are below 2x; 4x leaves margin without timing an
#: algorithm the model expects to be hopeless (the direct kernel on a dense layer: 10-100x).
SHORTLIST_FACTOR = 4.0

_winners: dict[tuple[str, Problem], str] = {}


def autotune(enabled: bool = True, *, reset: bool = False) -> None:
    """Turn benchmark mode for ``algorithm="auto"`` on or off.

    Parameters
    ----------
    enabled : bool
        On: each new shape's first call measures the shortlisted algorithms and remembers
        the fastest. Off (the default state): ``"auto"`` follows the cost model only.
    reset : bool
        Also forget every remembered winner (they are otherwise kept across toggles).

    Raises
    ------
    TypeError
        If ``enabled`` is not a bool.

    Examples
    --------
    >>> import numpy as np, conv1d
    >>> from conv1d.autotune import tuned
    >>> conv1d.autotune(True, reset=True)
    >>> x, w = np.ones((2, 4, 32), np.float32), np.ones((8, 4, 3), np.float32)
    >>> conv1d.functional.conv1d(x, w).shape
    (2, 8, 30)
    >>> [kind for kind, problem in tuned()]
    ['forward']
    >>> conv1d.autotune(False, reset=True)
    """
    for name, value in (("enabled", enabled), ("reset", reset)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"autotune: {name} must be a bool, got {type(value).__name__} {value!r}")
    algorithms.tuner = run_tuned if enabled else None
    if reset:
        clear()


def is_enabled() -> bool:
    """Whether :func:`autotune` is on.

    Examples
    --------
    >>> import conv1d
    >>> from conv1d.autotune import is_enabled
    >>> is_enabled()
    False
    """
    return algorithms.tuner is not None


def clear() -> None:
    """Forget every remembered winner.

    Examples
    --------
    >>> from conv1d.autotune import clear, tuned
    >>> clear()
    >>> tuned()
    {}
    """
    _winners.clear()


def tuned() -> dict[tuple[str, Problem], str]:
    """A copy of the remembered winners: ``{(pass, problem): algorithm name}``.

    ``pass`` is ``"forward"``, ``"grad_input"`` or ``"grad_weight"``; see :func:`autotune`
    for an example.
    """
    return dict(_winners)


def run_tuned(kind: str, problem: Problem, run: Callable[[str], np.ndarray]) -> np.ndarray:
    """``run(name)`` for the remembered winner of ``(kind, problem)``, measuring it if new.

    ``run`` computes the pass with the named algorithm. A new shape runs every shortlisted
    algorithm once (best of one run each: the first call is the measurement, as in cuDNN) and
    returns the fastest one's result, so nothing is computed twice.

    Examples
    --------
    >>> from conv1d.algorithms import Problem
    >>> from conv1d.autotune import clear, run_tuned, tuned
    >>> clear()
    >>> p = Problem(batch=1, in_channels=2, out_channels=2, kernel_size=3, length=10)
    >>> run_tuned("forward", p, lambda name: np.zeros(1)).shape
    (1,)
    >>> len(tuned())
    1
    >>> clear()
    """
    key = (kind, problem)
    name = _winners.get(key)
    if name is not None:
        return run(name)
    costs = candidates(problem)
    cheapest = min(costs.values())
    timings: list[tuple[float, str, np.ndarray]] = []
    for name in sorted(costs, key=costs.__getitem__):  # the cheapest is always shortlisted
        if costs[name] > SHORTLIST_FACTOR * cheapest:
            continue
        t0 = time.perf_counter()
        out = run(name)
        timings.append((time.perf_counter() - t0, name, out))
    _, best_name, best_out = min(timings, key=lambda t: t[0])
    _winners[key] = best_name
    return best_out
