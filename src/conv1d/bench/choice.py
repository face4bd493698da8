"""``conv1d bench --algorithms``: does ``auto`` pick the fastest algorithm on each case?

Every registered algorithm that supports a suite case (``reference`` aside: it is the
slow yardstick ``auto`` never picks) is timed forward and forward+backward, interleaved,
and the time of ``auto``'s pick is compared with the fastest one's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..algorithms import ALGORITHMS, choose
from ..functional import conv1d, conv1d_backward
from .report import markdown_table, sig
from .suite import PASSES, QUICK, SUITE, _arrays, _problem, time_interleaved

#: ``auto`` counts as right when its pick is within this factor of the fastest algorithm
#: (the issue's "the fastest or near it (within 10%)").
NEAR = 1.10
#: Repetitions per algorithm: several algorithms are slow off their home ground.
MAX_REPEAT = 3


def _call(name: str, arrays: dict[str, np.ndarray], kwargs: dict[str, Any], backward: bool):
    x, w, b, gy = arrays["x"], arrays["w"], arrays["b"], arrays["gy"]

    def run() -> Any:
        y = conv1d(x, w, b, **kwargs, algorithm=name)
        return conv1d_backward(gy, x, w, b, **kwargs, algorithm=name) if backward else y

    return run


def bench_algorithms(context: Any) -> list[str]:
    """Time each eligible algorithm on each suite case; return the markdown section.

    Parameters
    ----------
    context : conv1d.bench.Context
        Given by ``conv1d bench --algorithms``: its ``cases`` (or, without them, the suite's,
        the three quick ones with ``quick``) and ``repeat``.

    Returns
    -------
    list of str
        Markdown lines, starting with a ``##`` heading.

    Examples
    --------
    A section of ``conv1d bench``, after the suite's cases (``--quick``: three small
    cases and short runs)::

        conv1d bench --quick --algorithms
    """
    cases = context.cases or [c for c in SUITE if not context.quick
                                                or c.name in QUICK]
    rng = np.random.default_rng(0)
    rows, misses = [], 0
    for case in cases:
        problem = _problem(case)
        names = [n for n, a in ALGORITHMS.items()
                 if n not in ("auto", "reference") and a.unsupported(problem) is None]
        pick = choose(problem)
        arrays = _arrays(case, rng)
        for pass_ in PASSES:
            fns = {n: _call(n, arrays, case.kwargs, pass_ != "forward") for n in names}
            t = time_interleaved(fns, min(context.repeat, MAX_REPEAT))
            medians = {n: t[n].median for n in names}
            fastest = min(medians, key=medians.__getitem__)
            ratio = medians[pick] / medians[fastest]
            ok = ratio <= NEAR
            misses += not ok
            rows.append([case.name, pass_, pick, fastest, sig(ratio),
                         "yes" if ok else "NO",
                         ", ".join(f"{n} {sig(medians[n] * 1e3)}" for n in names)])
            print(" | ".join(rows[-1]))
    table = markdown_table(["case", "pass", "auto picks", "fastest", "pick / fastest",
                            "within 10%", "median ms"], rows)
    return ["## Does `auto` pick the fastest algorithm?", "",
            f"Each supported algorithm timed on each case ({MAX_REPEAT} interleaved repetitions "
            f"or fewer, median). `auto` picked the fastest or one within 10% of it in "
            f"{len(rows) - misses} of {len(rows)} rows.", "", table, ""]
