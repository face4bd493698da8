"""Re-measure the cost model's constants on this machine: ``python benchmarks/calibrate.py``.

``algorithm="auto"`` picks the algorithm whose cost model (``cost(problem)`` in
``conv1d/algorithms/{__init__,gemm,direct,fft,native}.py``) predicts the shortest time. Those models
are built from named constants (seconds per FLOP, bytes per second, per-call overheads),
measured once on the development machine. This script measures each of them again, the way its
comment describes, and prints the value shipped beside the value measured here; copy a value
into its module to retune ``"auto"`` for another machine.

Two kinds of measurement:

* **Primitive rates** (a BLAS product's FLOP rate, memory bandwidth, an FFT's time per sample)
  are timed on the NumPy/SciPy operation the algorithm spends its time in.
* **Overheads and fitted terms** are read off the algorithm itself: every cost model is a sum
  of terms, each linear in its constant (or in its inverse), so timing the algorithm on a
  problem that one term dominates and solving ``measured = model(constant)`` for the constant
  gives it, with the constants measured before it already in place.

Options: ``--quick`` (smaller arrays, fewer repeats: ~10 s), ``--only TEXT`` (constants whose
``module.NAME`` contains TEXT), ``--threads N`` (default: conv1d's current thread count; the
shipped values were measured with 2). The default run takes under a minute. Adding a constant
is one function decorated with ``@constant(module, name)``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType

import numpy as np

import conv1d
from conv1d.algorithms import Problem

ALGORITHMS = "conv1d.algorithms"
GEMM = "conv1d.algorithms.gemm"
DIRECT = "conv1d.algorithms.direct"
FFT = "conv1d.algorithms.fft"
NATIVE = "conv1d.algorithms.native"


@dataclass
class Context:
    """What a measurement may read: the run's settings and the values measured so far."""

    quick: bool
    measured: dict[tuple[str, str], float]

    @property
    def min_seconds(self) -> float:
        """Each timing repeats its call until this long, then keeps the best of 3 (quick) or 7 runs."""
        return 0.002 if self.quick else 0.02

    @property
    def repeats(self) -> int:
        return 3 if self.quick else 7


@dataclass(frozen=True)
class Constant:
    module: str
    name: str
    how: str
    measure: Callable[[Context], float]


#: Every constant the cost models read, in measuring order (later fits use earlier values).
CONSTANTS: list[Constant] = []


def constant(module: str, name: str) -> Callable[[Callable[[Context], float]], Callable[[Context], float]]:
    """Register ``measure(ctx) -> value`` for ``module.name``; its docstring says how."""

    def register(measure: Callable[[Context], float]) -> Callable[[Context], float]:
        how = (measure.__doc__ or "").strip().splitlines()[0]
        CONSTANTS.append(Constant(module, name, how, measure))
        return measure

    return register


# ----------------------------------------------------------------------------------- timing


def best_time(fn: Callable[[], object], ctx: Context) -> float:
    """Seconds per call of ``fn``: best of ``ctx.repeats`` runs of enough calls to be timed."""
    fn()  # warm-up: first-touch of buffers, plans, imports
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= ctx.min_seconds or number >= 1 << 20:
            break
        number *= 2 if elapsed == 0 else max(2, math.ceil(ctx.min_seconds / elapsed))
    best = elapsed / number
    for _ in range(ctx.repeats - 1):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def _split(name: str) -> tuple[str, str | None]:
    """``"RATE[avx512]"`` -> ``("RATE", "avx512")``: one entry of a per-level dict constant."""
    if name.endswith("]"):
        base, key = name[:-1].split("[")
        return base, key
    return name, None


def get_constant(module: ModuleType, name: str) -> float:
    """The value of ``module.name`` (``NAME[key]`` reads one entry of a dict constant)."""
    base, key = _split(name)
    value = getattr(module, base)
    return float(value if key is None else value[key])


@contextlib.contextmanager
def patched(module: ModuleType, values: dict[str, float]) -> Iterator[None]:
    """Set module constants for the duration (the cost models read them at call time)."""
    saved = {_split(k)[0]: getattr(module, _split(k)[0]) for k in values}
    try:
        for k, v in values.items():
            base, key = _split(k)
            if key is None:
                setattr(module, base, v)
            else:
                setattr(module, base, {**getattr(module, base), key: v})
        yield
    finally:
        for k, v in saved.items():
            setattr(module, k, v)


def fit(ctx: Context, module_name: str, name: str, problem: Problem, seconds: float,
        inverse: bool = False) -> float:
    """The value of ``module.name`` for which ``module``'s cost model predicts ``seconds``.

    The model is linear in the constant (``inverse``: in its inverse, for a rate), so two
    evaluations give the line; the constants already measured for this module are in place.
    NaN when the model's other terms alone already exceed ``seconds``.
    """
    module = importlib.import_module(module_name)
    cost = module.cost if hasattr(module, "cost") else module._reference_cost
    known = {k: v for (m, k), v in ctx.measured.items() if m == module_name and k != name}
    with patched(module, known):
        with patched(module, {name: math.inf if inverse else 0.0}):
            base = cost(problem)
        with patched(module, {name: 1.0}):
            unit = cost(problem) - base  # the term's coefficient
    if seconds <= base:
        return math.nan
    return unit / (seconds - base) if inverse else (seconds - base) / unit


def arrays(problem: Problem, dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    """A padded input and a weight for ``problem``, filled with random values."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((problem.batch, problem.in_channels, problem.length)).astype(dtype)
    w = rng.standard_normal((problem.out_channels, problem.in_channels // problem.groups,
                             problem.kernel_size)).astype(dtype)
    return x, w


def time_forward(ctx: Context, algorithm: str, problem: Problem, dtype: str = "float32") -> float:
    """Seconds of ``algorithm``'s forward on ``problem`` (no bias)."""
    algo = conv1d.algorithms.ALGORITHMS[algorithm]
    x, w = arrays(problem, dtype)
    p = problem
    return best_time(lambda: algo.forward(x, w, p.stride, p.dilation, p.groups), ctx)


def matmul_rate(ctx: Context, m: int, k: int, n: int, dtype: str = "float32") -> float:
    """FLOP/s of ``(m x k) @ (k x n)``."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    out = np.empty((m, n), dtype)
    return 2 * m * k * n / best_time(lambda: np.matmul(a, b, out=out), ctx)


# ------------------------------------------------------------------------ reference algorithm


@constant(ALGORITHMS, "REFERENCE_S_PER_TAP")
def _reference_tap(ctx: Context) -> float:
    """reference forward on (1, 1, 64) with K=32: its per-tap overhead (fit)"""
    p = Problem(1, 1, 1, 32, 64)
    return fit(ctx, ALGORITHMS, "REFERENCE_S_PER_TAP", p, time_forward(ctx, "reference", p))


@constant(ALGORITHMS, "REFERENCE_S_PER_FLOP")
def _reference_flop(ctx: Context) -> float:
    """reference forward on (8, 64->64, K=5, L=2048) (quick: N=2): seconds per FLOP (fit)"""
    p = Problem(2 if ctx.quick else 8, 64, 64, 5, 2048)
    return fit(ctx, ALGORITHMS, "REFERENCE_S_PER_FLOP", p, time_forward(ctx, "reference", p))


# ---------------------------------------------------------------------------------- GEMM


@constant(GEMM, "GEMM_FLOPS")
def _gemm_flops(ctx: Context) -> float:
    """np.matmul float32 (128 x 896) @ (896 x 1000) and (512 x 512) @ (512 x 2048): mean FLOP/s"""
    shapes = [(128, 896, 1000)] if ctx.quick else [(128, 896, 1000), (512, 512, 2048)]
    return float(np.mean([matmul_rate(ctx, *s) for s in shapes]))


@constant(GEMM, "GEMM_HALF_ROWS")
def _gemm_half_rows(ctx: Context) -> float:
    """np.matmul (rows x 448) @ (448 x 1024), rows 8..64: median of rows * (peak / rate - 1)"""
    peak = ctx.measured[(GEMM, "GEMM_FLOPS")]
    rows = (8, 32) if ctx.quick else (8, 16, 32, 64)
    return float(np.median([r * max(peak / matmul_rate(ctx, r, 448, 1024) - 1, 0) for r in rows]))


def _fill_bandwidth(ctx: Context) -> float:
    """Bytes per second of filling a new array (first touch included)."""
    n = (16 if ctx.quick else 64) << 20
    return n / best_time(lambda: np.full(n // 4, 1.0, np.float32), ctx)


@constant(GEMM, "BANDWIDTH")
def _gemm_bandwidth(ctx: Context) -> float:
    """Filling a new 64 MiB float32 array (quick: 16 MiB): bytes per second"""
    return _fill_bandwidth(ctx)


@constant(GEMM, "IM2COL_BANDWIDTH")
def _im2col_bandwidth(ctx: Context) -> float:
    """im2col's tap-slice copies of (64, 2048) float32 into a reused 3.5 MiB buffer: bytes/s"""
    x = np.random.default_rng(0).standard_normal((64, 2048 + 6)).astype(np.float32)
    cols = np.empty((64, 7, 2048), np.float32)

    def im2col() -> None:
        for k in range(7):
            cols[:, k, :] = x[:, k : k + 2048]

    return cols.nbytes / best_time(im2col, ctx)


@constant(GEMM, "GEMM_CALL_S")
def _gemm_call(ctx: Context) -> float:
    """batched np.matmul of 20000 (1 x 4) @ (4 x 16) float32 products: seconds per product"""
    b = 5000 if ctx.quick else 20000
    rng = np.random.default_rng(0)
    a = rng.standard_normal((b, 1, 4)).astype(np.float32)
    c = rng.standard_normal((b, 4, 16)).astype(np.float32)
    return best_time(lambda: np.matmul(a, c), ctx) / b


@constant(GEMM, "CALL_OVERHEAD_S")
def _gemm_overhead(ctx: Context) -> float:
    """gemm forward on (1, 4->8, K=3, L=20): its per-call overhead (fit)"""
    p = Problem(1, 4, 8, 3, 20)
    return fit(ctx, GEMM, "CALL_OVERHEAD_S", p, time_forward(ctx, "gemm", p))


@constant(GEMM, "FLOAT64_FACTOR")
def _gemm_float64(ctx: Context) -> float:
    """np.matmul (512 x 512) @ (512 x 512): float64 time / float32 time"""
    return matmul_rate(ctx, 512, 512, 512) / matmul_rate(ctx, 512, 512, 512, "float64")


# -------------------------------------------------------------------------------- direct


@constant(DIRECT, "BANDWIDTH")
def _direct_bandwidth(ctx: Context) -> float:
    """Filling a new 64 MiB float32 array (quick: 16 MiB): bytes per second (as GEMM's)"""
    return ctx.measured.get((GEMM, "BANDWIDTH")) or _fill_bandwidth(ctx)


@constant(DIRECT, "UFUNC_CALL_S")
def _direct_ufunc(ctx: Context) -> float:
    """direct forward on the seed example (20, 16->33, K=3, stride 2, L=50): per ufunc call (fit)"""
    p = Problem(20, 16, 33, 3, 50, stride=2)
    return fit(ctx, DIRECT, "UFUNC_CALL_S", p, time_forward(ctx, "direct", p))


@constant(DIRECT, "CALL_OVERHEAD_S")
def _direct_overhead(ctx: Context) -> float:
    """direct forward on a depthwise (1, 4->4, K=3, L=20): its per-call overhead (fit)"""
    p = Problem(1, 4, 4, 3, 20, groups=4)
    return fit(ctx, DIRECT, "CALL_OVERHEAD_S", p, time_forward(ctx, "direct", p))


@constant(DIRECT, "S_PER_ELEMENT_PASS")
def _direct_pass(ctx: Context) -> float:
    """direct forward on depthwise_k4 (8, 512, K=4, L=4102; quick: N=1): per element pass (fit)"""
    p = Problem(1 if ctx.quick else 8, 512, 512, 4, 4102, groups=512)
    return fit(ctx, DIRECT, "S_PER_ELEMENT_PASS", p, time_forward(ctx, "direct", p))


@constant(DIRECT, "FLOAT64_FACTOR")
def _direct_float64(ctx: Context) -> float:
    """direct forward on a depthwise (2, 256, K=4, L=4102): float64 time / float32 time"""
    p = Problem(2, 256, 256, 4, 4102, groups=256)
    return time_forward(ctx, "direct", p, "float64") / time_forward(ctx, "direct", p)


# ----------------------------------------------------------------------------------- FFT


def _rfft_time(ctx: Context, f: int, dtype: str) -> float:
    """Seconds of one rfft plus one irfft of (64, f), one worker."""
    import scipy.fft as sfft

    x = np.random.default_rng(0).standard_normal((64, f)).astype(dtype)
    spec = sfft.rfft(x, axis=-1)
    return best_time(lambda: (sfft.rfft(x, axis=-1, workers=1),
                              sfft.irfft(spec, f, axis=-1, workers=1)), ctx)


@constant(FFT, "FFT_S_PER_SAMPLE_LOG")
def _fft_speed(ctx: Context) -> float:
    """scipy.fft rfft + irfft of (64, F) float32, F = 1024, 4096, 16384: median s/(sample log2 F)"""
    sizes = (4096,) if ctx.quick else (1024, 4096, 16384)
    return float(np.median([_rfft_time(ctx, f, "float32") / (2 * 64 * f * math.log2(f))
                            for f in sizes]))


@constant(FFT, "MIX_S_PER_CMAC")
def _fft_mix(ctx: Context) -> float:
    """np.matmul (2049, 8, 8) @ (2049, 8, 38) complex64: seconds per complex multiply-add"""
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((2049, 8, 8)) + 1j).astype(np.complex64)
    b = (rng.standard_normal((2049, 8, 38)) + 1j).astype(np.complex64)
    return best_time(lambda: np.matmul(a, b), ctx) / (2049 * 8 * 8 * 38)


@constant(FFT, "MIX_S_PER_ELEMENTWISE")
def _fft_elementwise(ctx: Context) -> float:
    """in-place complex64 multiply of 4M elements (quick: 1M): seconds per element"""
    n = (1 if ctx.quick else 4) << 20
    a = np.ones(n, np.complex64)
    b = np.full(n, 1 + 0j, np.complex64)
    return best_time(lambda: np.multiply(a, b, out=a), ctx) / n


@constant(FFT, "COPY_S_PER_SAMPLE")
def _fft_copy(ctx: Context) -> float:
    """(64, 4096) float32 gather (stride 2), transpose and scatter (stride 2): mean s/sample"""
    a = np.random.default_rng(0).standard_normal((64, 8192)).astype(np.float32)
    half = np.empty((64, 4096), np.float32)
    gather = best_time(lambda: np.copyto(half, a[:, ::2]), ctx)
    transpose = best_time(lambda: np.ascontiguousarray(half.T), ctx)
    scatter = best_time(lambda: np.copyto(a[:, ::2], half), ctx)
    return (gather + transpose + scatter) / 3 / half.size


@constant(FFT, "CALL_OVERHEAD_S")
def _fft_overhead(ctx: Context) -> float:
    """fft forward on (1, 1, 64) with K=3: its per-call overhead (fit)"""
    p = Problem(1, 1, 1, 3, 64)
    return fit(ctx, FFT, "CALL_OVERHEAD_S", p, time_forward(ctx, "fft", p))


@constant(FFT, "FLOAT64_FACTOR")
def _fft_float64(ctx: Context) -> float:
    """scipy.fft rfft + irfft of (64, F), F = 4096 and 16384: float64 time / float32 time"""
    sizes = (4096,) if ctx.quick else (4096, 16384)
    return float(np.mean([_rfft_time(ctx, f, "float64") / _rfft_time(ctx, f, "float32")
                          for f in sizes]))


# -------------------------------------------------------------------------------- native


def _register_native() -> None:
    """The native kernels' constants, for the instruction-set level loaded (when built)."""
    from conv1d.algorithms import native

    if not native.AVAILABLE:
        return
    level = native.get_level()

    @constant(NATIVE, "BANDWIDTH")
    def _native_bandwidth(ctx: Context) -> float:
        """Filling a new 64 MiB float32 array (quick: 16 MiB): bytes per second (as GEMM's)"""
        return ctx.measured.get((GEMM, "BANDWIDTH")) or _fill_bandwidth(ctx)

    @constant(NATIVE, "CALL_OVERHEAD_S")
    def _native_overhead(ctx: Context) -> float:
        """native forward on (1, 4->8, K=3, L=20): its per-call overhead (fit)"""
        p = Problem(1, 4, 8, 3, 20)
        return fit(ctx, NATIVE, "CALL_OVERHEAD_S", p, time_forward(ctx, "native", p))

    @constant(NATIVE, f"DENSE_FLOPS[{level}]")
    def _native_dense(ctx: Context) -> float:
        """native forward on resnet1d_ecg (N=8; quick: N=2), the loaded level: FLOP rate (fit)"""
        p = Problem(2 if ctx.quick else 8, 128, 128, 7, 1006)
        return fit(ctx, NATIVE, f"DENSE_FLOPS[{level}]", p, time_forward(ctx, "native", p),
                   inverse=True)

    @constant(NATIVE, f"ROWS_FLOPS[{level}]")
    def _native_rows(ctx: Context) -> float:
        """native forward on long_depthwise (1, 64, K=1023; quick: 16 channels): FLOP rate (fit)"""
        c = 16 if ctx.quick else 64
        p = Problem(1, c, c, 1023, 16384 + 1022, groups=c)
        return fit(ctx, NATIVE, f"ROWS_FLOPS[{level}]", p, time_forward(ctx, "native", p),
                   inverse=True)

    @constant(NATIVE, "FLOAT64_FACTOR")
    def _native_float64(ctx: Context) -> float:
        """native forward on (4, 64->64, K=7, L=2006): float64 time / float32 time"""
        p = Problem(4, 64, 64, 7, 2006)
        return time_forward(ctx, "native", p, "float64") / time_forward(ctx, "native", p)


_register_native()


# ----------------------------------------------------------------------------------- main


def calibrate(quick: bool = False, only: str = "",
              report: Callable[[Constant, float, float], None] | None = None
              ) -> dict[tuple[str, str], float]:
    """Measure every registered constant (or those matching ``only``); ``{(module, name): value}``.

    ``report(constant, shipped, measured)`` is called as each one is measured.
    """
    ctx = Context(quick, {})
    for c in CONSTANTS:
        if only and only not in f"{c.module}.{c.name}":
            continue
        shipped = get_constant(importlib.import_module(c.module), c.name)
        value = float(c.measure(ctx))
        ctx.measured[(c.module, c.name)] = value
        if report is not None:
            report(c, shipped, value)
    return ctx.measured


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/calibrate.py",
        description="Re-measure the constants of conv1d's cost models on this machine and print "
                    "them beside the shipped values.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="smaller arrays and fewer repeats (about 10 s)")
    parser.add_argument("--only", default="", metavar="TEXT",
                        help="only the constants whose module.NAME contains TEXT")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads to measure with (default: conv1d's current count)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be positive, got {args.threads}")
        conv1d.set_num_threads(args.threads)
    print(f"conv1d {conv1d.__version__}, numpy {np.__version__}, "
          f"{conv1d.get_num_threads()} threads{', quick' if args.quick else ''}")
    header = f"{'constant':<44} {'shipped':>9} {'measured':>9} {'ratio':>6}  how"
    print(header)
    print("-" * len(header))

    def report(c: Constant, shipped: float, value: float) -> None:
        ratio = value / shipped if shipped else math.nan
        short = c.module.removeprefix("conv1d.")
        print(f"{short + '.' + c.name:<44} {_fmt(shipped):>9} {_fmt(value):>9} {ratio:>6.2f}  "
              f"{c.how}", flush=True)

    start = time.perf_counter()
    measured = calibrate(args.quick, args.only, report)
    if not measured:
        print(f"no constant matches --only {args.only!r}", file=sys.stderr)
        return 2
    print(f"\n{len(measured)} constants in {time.perf_counter() - start:.1f} s. A ratio far from "
          "1 means this machine differs; copy the measured value into its module to retune "
          "algorithm='auto'. nan: the model's other terms alone exceed the time measured "
          "(re-run on an idle machine).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
