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

from ..padding import pad, pad_backward
from . import reference


@dataclass(frozen=True)
class Problem:
    """The shape of one correlation, all :func:`choose` looks at.

    ``length`` is the *padded* input's length; ``dtype`` the computation's dtype name.

    Examples
    --------
    >>> p = Problem(batch=20, in_channels=16, out_channels=33, kernel_size=3, length=50,
    ...             stride=2)
    >>> p.output_length, p.flops  # flops: 2 * N * C_out * (C_in / groups) * K * L_out
    (24, 1520640)
    >>> Problem.of(np.zeros((20, 16, 48)), np.zeros((33, 16, 3)), 2, 1, 1, padding=2) == (
    ...     Problem(20, 16, 33, 3, 50, 2, dtype="float64"))
    True
    """

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
        """``L_out = (length - dilation * (kernel_size - 1) - 1) // stride + 1``."""
        return (self.length - self.dilation * (self.kernel_size - 1) - 1) // self.stride + 1

    @classmethod
    def of(cls, x: np.ndarray, w: np.ndarray, stride: int, dilation: int, groups: int,
           padding: int = 0) -> Problem:
        """The problem of input ``x`` (plus ``padding`` samples in all) and weight ``w``."""
        n, c_in, length = x.shape
        c_out, _, kernel = w.shape
        return cls(n, c_in, c_out, kernel, length + padding, stride, dilation, groups,
                   _dtype_name(np.result_type(x.dtype, w.dtype)))


def _supports_all(problem: Problem) -> str | None:
    """Default of :attr:`Algorithm.unsupported`: ``None``, the algorithm runs every problem.

    Examples
    --------
    >>> _supports_all(Problem(1, 1, 1, 3, 10)) is None
    True
    """
    return None


def _no_estimate(problem: Problem) -> float:
    """Default of :attr:`Algorithm.cost`: ``inf`` seconds, so :func:`choose` never picks it.

    Examples
    --------
    >>> _no_estimate(Problem(1, 1, 1, 3, 10))
    inf
    """
    return float("inf")


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
    ``zero_pads``: the algorithm also takes zero padding itself, as two trailing arguments
    ``pad_left, pad_right`` (default 0) of all three functions, with the *unpadded* input:
    ``forward(x, w, stride, dilation, groups, bias, pad_left, pad_right)``,
    ``grad_input(gy, w, length, ..., pad_left, pad_right)`` (``length`` unpadded; returns the
    unpadded input's gradient) and ``grad_weight(gy, x, kernel, ..., pad_left, pad_right)``.
    With both pads 0 that is the plain padded contract, which such algorithms keep too
    (streaming and the transposed convolution call them with pre-padded arrays).
    ``grad_input_bias``: ``grad_input`` also takes a keyword ``bias`` of shape ``(C_in,)`` and
    adds it to every position (a transposed convolution's forward with its bias, in the same
    pass); see :func:`grad_input_with_bias`.

    Examples
    --------
    The registry's entries, and one built from :mod:`conv1d.algorithms.reference`'s functions:

    >>> from conv1d.algorithms import reference
    >>> ALGORITHMS["gemm"].fuses_bias, ALGORITHMS["gemm"].unsupported(Problem(1, 2, 3, 3, 9))
    (True, None)
    >>> mine = Algorithm("mine", reference.forward, reference.grad_input, reference.grad_weight)
    >>> x, w = np.ones((1, 2, 9)), np.ones((3, 2, 3))
    >>> y = forward_with_bias(mine, x, w, np.arange(3.0), 1, 1, 1)
    >>> y.shape, y[:, :, 0].tolist(), mine.cost(Problem.of(x, w, 1, 1, 1))
    ((1, 3, 7), [[6.0, 7.0, 8.0]], inf)
    """

    name: str
    forward: Callable[..., np.ndarray]
    grad_input: Callable[..., np.ndarray]
    grad_weight: Callable[..., np.ndarray]
    unsupported: Callable[[Problem], str | None] = _supports_all
    cost: Callable[[Problem], float] = _no_estimate
    fuses_bias: bool = False
    zero_pads: bool = False
    grad_input_bias: bool = False


def forward_with_bias(algo: Algorithm, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                      stride: int, dilation: int, groups: int, pad_left: int = 0,
                      pad_right: int = 0) -> np.ndarray:
    """``algo.forward`` plus ``bias`` (``None``: no bias), fused when the algorithm can.

    ``pad_left``/``pad_right``: zero padding of an unpadded ``x``, passed to an algorithm that
    takes it (``zero_pads``), else applied here as a padded copy.
    """
    if pad_left or pad_right:
        if not algo.zero_pads:
            x = pad(x, pad_left, pad_right, "zeros")
        elif algo.fuses_bias:
            return algo.forward(x, w, stride, dilation, groups, bias, pad_left, pad_right)
        else:
            y = algo.forward(x, w, stride, dilation, groups, None, pad_left, pad_right)
            if bias is not None:
                y += bias[:, None]
            return y
    if bias is None:
        return algo.forward(x, w, stride, dilation, groups)
    if algo.fuses_bias:
        return algo.forward(x, w, stride, dilation, groups, bias)
    y = algo.forward(x, w, stride, dilation, groups)
    y += bias[:, None]
    return y


def grad_input_with_bias(algo: Algorithm, gy: np.ndarray, w: np.ndarray,
                         bias: np.ndarray | None, length: int, stride: int, dilation: int,
                         groups: int, pad_left: int = 0, pad_right: int = 0) -> np.ndarray:
    """``algo.grad_input`` plus ``bias`` over ``(C_in,)`` (``None``: none), fused when it can.

    ``pad_left``/``pad_right`` as in :func:`forward_with_bias`: passed to an algorithm that
    takes zero padding, else its gradient is cropped here. The result is the algorithm's own
    (fresh) array or a view of it.
    """
    if algo.zero_pads:
        if algo.grad_input_bias and bias is not None:
            return algo.grad_input(gy, w, length, stride, dilation, groups, pad_left, pad_right,
                                   bias=bias)
        gx = algo.grad_input(gy, w, length, stride, dilation, groups, pad_left, pad_right)
    else:
        gxp = algo.grad_input(gy, w, length + pad_left + pad_right, stride, dilation, groups)
        gx = pad_backward(gxp, pad_left, pad_right, "zeros")  # a view of a fresh array
    if bias is not None:
        gx += bias[:, None]
    return gx


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
    >>> "reference" in costs, min(costs, key=costs.get) in ("native", "gemm")
    (False, True)
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
    >>> choose(Problem(batch=20, in_channels=16, out_channels=33, kernel_size=3, length=50)) in (
    ...     "native", "gemm")  # "native" where the compiled kernels are built
    True
    >>> choose(Problem(8, 512, 512, kernel_size=4, length=4102, groups=512)) in ("native", "direct")
    True
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


def _auto_forward(x, w, stride, dilation, groups, bias=None, pad_left=0, pad_right=0):
    p = Problem.of(x, w, stride, dilation, groups, pad_left + pad_right)
    return _pick("forward", p, lambda name: forward_with_bias(
        ALGORITHMS[name], x, w, bias, stride, dilation, groups, pad_left, pad_right))


def _auto_grad_input(gy, w, length, stride, dilation, groups, pad_left=0, pad_right=0,
                     bias=None):
    n, c_out, _ = gy.shape
    _, cg, kernel = w.shape
    dtype = _dtype_name(np.result_type(gy.dtype, w.dtype))
    padded = length + pad_left + pad_right
    p = Problem(n, cg * groups, c_out, kernel, padded, stride, dilation, groups, dtype)

    def run(name: str) -> np.ndarray:
        algo = ALGORITHMS[name]
        if bias is not None:
            return grad_input_with_bias(algo, gy, w, bias, length, stride, dilation, groups,
                                        pad_left, pad_right)
        if algo.zero_pads:
            return algo.grad_input(gy, w, length, stride, dilation, groups, pad_left, pad_right)
        gxp = algo.grad_input(gy, w, padded, stride, dilation, groups)
        return pad_backward(gxp, pad_left, pad_right, "zeros")

    return _pick("grad_input", p, run)


def _auto_grad_weight(gy, x, kernel, stride, dilation, groups, pad_left=0, pad_right=0):
    n, c_in, length = x.shape
    dtype = _dtype_name(np.result_type(gy.dtype, x.dtype))
    p = Problem(n, c_in, gy.shape[1], kernel, length + pad_left + pad_right, stride, dilation,
                groups, dtype)

    def run(name: str) -> np.ndarray:
        algo = ALGORITHMS[name]
        if algo.zero_pads:
            return algo.grad_weight(gy, x, kernel, stride, dilation, groups, pad_left, pad_right)
        xp = pad(x, pad_left, pad_right, "zeros")
        return algo.grad_weight(gy, xp, kernel, stride, dilation, groups)

    return _pick("grad_weight", p, run)


# Algorithm modules build their entries from the classes above, so they are imported here.
from . import direct, fft, gemm, native  # noqa: E402

ALGORITHMS: dict[str, Algorithm] = {
    "auto": Algorithm("auto", _auto_forward, _auto_grad_input, _auto_grad_weight,
                      fuses_bias=True, zero_pads=True, grad_input_bias=True),
    "reference": Algorithm(
        "reference", reference.forward, reference.grad_input, reference.grad_weight,
        cost=_reference_cost,
    ),
    "fft": fft.ALGORITHM,
    "gemm": gemm.ALGORITHM,
    "direct": direct.ALGORITHM,
}
if native.AVAILABLE:  # built, and not switched off with CONV1D_NATIVE=0
    ALGORITHMS["native"] = native.ALGORITHM


def get_algorithm(name: str, problem: Problem) -> Algorithm:
    """The registered algorithm ``name``, checked to support ``problem``.

    Raises
    ------
    ValueError
        If ``name`` is not registered, or the algorithm cannot run ``problem``.

    Examples
    --------
    >>> get_algorithm("fft", Problem(1, 4, 4, kernel_size=255, length=4096)).name
    'fft'
    >>> get_algorithm("fast", Problem(1, 4, 4, 3, 10))
    Traceback (most recent call last):
    ...
    ValueError: algorithm must be one of (...), got 'fast'
    """
    if not isinstance(name, str) or name not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {tuple(ALGORITHMS)}, got {name!r}")
    algo = ALGORITHMS[name]
    reason = algo.unsupported(problem)
    if reason is not None:
        raise ValueError(f"algorithm={name!r} cannot run this convolution: {reason}")
    return algo
