"""The registry of correlation algorithms and the choice between them.

An algorithm is three functions on already padded, validated arrays (see
:mod:`conv1d.algorithms.reference` for the layout); it never sees padding modes or user
input. ``"auto"`` is an ordinary entry that asks :func:`choose` which one to run.
"""

from __future__ import annotations

import functools
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
        return cls(n, c_in, c_out, kernel, length, stride, dilation, groups,
                   _dtype_name(np.result_type(x.dtype, w.dtype)))


@dataclass(frozen=True)
class Algorithm:
    """One way to correlate, with its two gradients.

    ``unsupported(problem)`` returns ``None`` when the algorithm can run the problem, else
    a sentence saying why not. ``cost(problem)`` is the cost model's estimate of the
    forward's run time in seconds; :func:`choose` takes the cheapest supported algorithm.
    ``fuses_bias``: ``forward`` also takes a sixth argument ``bias`` of shape ``(C_out,)``
    (or ``None``, its default) and adds it itself, e.g. inside its matrix product or to each
    output chunk while it is in cache; otherwise :func:`forward_with_bias` adds it
    afterwards, one more pass over the output in memory.
    """

    name: str
    forward: Callable[..., np.ndarray]
    grad_input: Callable[..., np.ndarray]
    grad_weight: Callable[..., np.ndarray]
    unsupported: Callable[[Problem], str | None] = lambda problem: None
    cost: Callable[[Problem], float] = lambda problem: float("inf")
    fuses_bias: bool = False


def forward_with_bias(algo: Algorithm, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                      stride: int, dilation: int, groups: int) -> np.ndarray:
    """``algo.forward`` plus ``bias`` (``None``: no bias), fused when the algorithm can."""
    if bias is None:
        return algo.forward(x, w, stride, dilation, groups)
    if algo.fuses_bias:
        return algo.forward(x, w, stride, dilation, groups, bias)
    y = algo.forward(x, w, stride, dilation, groups)
    y += bias[:, None]
    return y


#: The algorithm of last resort: :func:`choose` returns it only when no other registered
#: algorithm supports the problem (it is the simple, obviously right one, never the fast one).
FALLBACK = "reference"

#: Seconds per FLOP of the reference algorithm's ``np.einsum`` per tap: 1.5-11 GFLOP/s
#: measured on suite shapes (float32; re-measure: python benchmarks/calibrate.py); only autotune's shortlist
#: reads it, since :func:`choose` never picks the reference when anything else applies.
REFERENCE_S_PER_FLOP = 1 / 4e9
#: Python overhead of one reference call per tap (one einsum set-up): ~3 us measured.
REFERENCE_S_PER_TAP = 3e-6


def _reference_cost(problem: Problem) -> float:
    return problem.kernel_size * REFERENCE_S_PER_TAP + problem.flops * REFERENCE_S_PER_FLOP


def candidates(problem: Problem) -> dict[str, float]:
    """Estimated forward seconds of every algorithm that supports ``problem`` (not ``"auto"``).

    The reference appears only when nothing else supports ``problem``.

    Examples
    --------
    >>> costs = candidates(Problem(batch=20, in_channels=16, out_channels=33, kernel_size=3,
    ...                            length=50, stride=2))
    >>> "reference" in costs, min(costs, key=costs.get)
    (False, 'gemm')
    """
    costs = {
        name: algo.cost(problem)
        for name, algo in ALGORITHMS.items()
        if name not in ("auto", FALLBACK) and algo.unsupported(problem) is None
    }
    return costs or {FALLBACK: ALGORITHMS[FALLBACK].cost(problem)}


@functools.lru_cache(maxsize=16)
def _dtype_name(dtype: np.dtype) -> str:
    return dtype.name  # ~2 us uncached (a Python property), on every call's hot path


@functools.lru_cache(maxsize=1024)
def choose(problem: Problem) -> str:
    """Name of the algorithm ``"auto"`` runs for ``problem`` (a pure function of the shape).

    The cheapest supported algorithm by its ``cost`` model (see :func:`candidates`); no timing.
    Results are cached per problem (``Problem`` is frozen): evaluating the cost models takes
    ~20 us, a third of a small layer's whole call.

    Examples
    --------
    >>> choose(Problem(batch=20, in_channels=16, out_channels=33, kernel_size=3, length=50))
    'gemm'
    >>> choose(Problem(8, 512, 512, kernel_size=4, length=4102, groups=512))
    'direct'
    >>> choose(Problem(4, 64, 64, kernel_size=1023, length=17406, groups=64))
    'fft'
    """
    costs = candidates(problem)
    return min(costs, key=costs.__getitem__)


#: Benchmark mode's runner, ``tuner(kind, problem, run)``: set by :func:`conv1d.autotune` while
#: it is on (``None``: off). A slot that conv1d.autotune fills, not an import of it, because
#: conv1d.autotune builds on this package (it reads :func:`candidates`); imports stay a tree.
tuner: Callable[[str, Problem, Callable[[str], np.ndarray]], np.ndarray] | None = None


def _pick(kind: str, problem: Problem, run: Callable[[str], np.ndarray]) -> np.ndarray:
    """Run ``kind`` with the chosen algorithm: :func:`choose`'s, or the :data:`tuner`'s if set."""
    if tuner is not None:
        return tuner(kind, problem, run)
    return run(choose(problem))


def _auto_forward(x, w, stride, dilation, groups, bias=None):
    p = Problem.of(x, w, stride, dilation, groups)
    return _pick("forward", p, lambda name: forward_with_bias(
        ALGORITHMS[name], x, w, bias, stride, dilation, groups))


def _auto_grad_input(gy, w, length, stride, dilation, groups):
    n, c_out, _ = gy.shape
    _, cg, kernel = w.shape
    dtype = _dtype_name(np.result_type(gy.dtype, w.dtype))
    p = Problem(n, cg * groups, c_out, kernel, length, stride, dilation, groups, dtype)
    return _pick("grad_input", p, lambda name: ALGORITHMS[name].grad_input(
        gy, w, length, stride, dilation, groups))


def _auto_grad_weight(gy, x, kernel, stride, dilation, groups):
    n, c_in, length = x.shape
    dtype = _dtype_name(np.result_type(gy.dtype, x.dtype))
    p = Problem(n, c_in, gy.shape[1], kernel, length, stride, dilation, groups, dtype)
    return _pick("grad_weight", p, lambda name: ALGORITHMS[name].grad_weight(
        gy, x, kernel, stride, dilation, groups))


# Algorithm modules build their entries from the classes above, so they are imported here.
from . import direct, fft, gemm  # noqa: E402

ALGORITHMS: dict[str, Algorithm] = {
    "auto": Algorithm("auto", _auto_forward, _auto_grad_input, _auto_grad_weight,
                      fuses_bias=True),
    "reference": Algorithm(
        "reference", reference.forward, reference.grad_input, reference.grad_weight,
        cost=_reference_cost,
    ),
    "fft": fft.ALGORITHM,
    "gemm": gemm.ALGORITHM,
    "direct": direct.ALGORITHM,
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
