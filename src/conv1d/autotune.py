"""Benchmark mode for ``algorithm="auto"``: measure once per shape, then remember the winner.

Off by default, and then ``"auto"`` is :func:`conv1d.algorithms.choose`, a pure function of the
shape with no timing in any call. With :func:`autotune` on (like PyTorch's
``torch.backends.cudnn.benchmark = True``), the first ``"auto"`` call of each pass (forward,
grad_input, grad_weight) on a new :class:`~conv1d.algorithms.Problem` runs every algorithm on
the shortlist once on the call's own arrays, returns the fastest one's result, and remembers
its name for every later call with that shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

__all__ = ["autotune", "clear", "is_enabled", "run_tuned", "tuned"]

#: The shortlist: algorithms whose cost-model estimate is within this factor of the cheapest.
#: The model's misses measured on the suite are below 2x; 4x leaves margin without timing an
#: algorithm the model expects to be hopeless (the direct kernel on a dense layer: 10-100x).
SHORTLIST_FACTOR = 4.0

_enabled = False
_winners: dict[tuple[str, object], str] = {}


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
    global _enabled
    for name, value in (("enabled", enabled), ("reset", reset)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"autotune: {name} must be a bool, got {type(value).__name__} {value!r}")
    _enabled = bool(enabled)
    if reset:
        clear()


def is_enabled() -> bool:
    """Whether :func:`autotune` is on."""
    return _enabled


def clear() -> None:
    """Forget every remembered winner."""
    _winners.clear()


def tuned() -> dict[tuple[str, object], str]:
    """A copy of the remembered winners: ``{(pass, problem): algorithm name}``."""
    return dict(_winners)


def run_tuned(kind: str, problem, run: Callable[[str], np.ndarray]) -> np.ndarray:
    """``run(name)`` for the remembered winner of ``(kind, problem)``, measuring it if new.

    ``run`` computes the pass with the named algorithm. A new shape runs every shortlisted
    algorithm once (best of one run each: the first call is the measurement, as in cuDNN) and
    returns the fastest one's result, so nothing is computed twice.
    """
    from .algorithms import candidates

    key = (kind, problem)
    name = _winners.get(key)
    if name is not None:
        return run(name)
    costs = candidates(problem)
    cheapest = min(costs.values())
    best_time, best_name, best_out = float("inf"), None, None
    for name in sorted(costs, key=costs.__getitem__):
        if costs[name] > SHORTLIST_FACTOR * cheapest:
            continue
        t0 = time.perf_counter()
        out = run(name)
        elapsed = time.perf_counter() - t0
        if elapsed < best_time:
            best_time, best_name, best_out = elapsed, name, out
    _winners[key] = best_name
    return best_out
