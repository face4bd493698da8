"""The machine ``conv1d bench`` runs on: its measured limits, its hardware and its software.

A roofline bounds a kernel's run time from below by whichever is slower: doing its
floating-point work at the machine's float32 GEMM rate, or moving its unavoidable bytes at
the machine's memory bandwidth (Williams, Waterman & Patterson, "Roofline", CACM 2009).
Both rates are measured here, in the benchmark's own process and thread setting, rather
than taken from a data sheet: the point is how close ``conv1d`` gets to what NumPy's BLAS
and this memory system actually deliver.

The float32 FMA peak is the arithmetic ceiling above that: independent chains of vector
fused multiply-adds held in registers (``fma_loop`` of ``conv1d``'s native extension, the
widest instruction set the CPU has), one chain set per thread, no memory traffic at all.
No GEMM reaches it; it says how much of the silicon a kernel uses.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import import_module
from itertools import pairwise
from types import ModuleType
from typing import Any

import numpy as np

# A square float32 GEMM of this order runs at the BLAS's peak (2 * 2048**3 = 17 GFLOP, about
# 0.1 s on 2 cores): on the 2-core EPYC dev machine 1024 reached 139, 1536 199 and 2048 207
# GFLOP/s.
GEMM_ORDER = 2048
# 128 MiB per array: far beyond any last-level cache, so copies run from main memory.
STREAM_BYTES = 128 << 20
# The FMA microbenchmark: each thread's call lasts about this long (seconds).
FMA_SECONDS = 0.05
# Native extension modules with fma_loop, widest first, and the CPU features each needs (as
# conv1d.algorithms.native's levels); conv1d._native_base runs on any CPU.
FMA_MODULES = (("conv1d._native_avx512", ("avx512f", "fma")),
               ("conv1d._native_avx2", ("avx2", "fma")),
               ("conv1d._native_base", ()))
# Each rate is the best of at least this many runs, and of as many more as fit the time
# budget (seconds, per rate).
MIN_RUNS = 3
TIME_BUDGET = 1.0


@dataclass(frozen=True)
class Roofline:
    """Measured float32 GEMM rate (FLOP/s) and memory bandwidth (bytes/s).

    ``fma_flops``: the float32 FMA peak (FLOP/s), ``None`` where it could not be measured,
    and ``fma_note`` how it was measured or why not.

    Examples
    --------
    >>> r = Roofline(gemm_flops=100e9, bandwidth=20e9)
    >>> r.time(flops=1e9, nbytes=1e6)  # compute-bound: 1e9 / 100e9
    0.01
    >>> r.bound(flops=1e6, nbytes=1e9)
    'memory'
    """

    gemm_flops: float
    bandwidth: float
    fma_flops: float | None = None
    fma_note: str = "not measured"

    def time(self, flops: float, nbytes: float) -> float:
        """The roofline's lower bound on the run time, in seconds."""
        return max(flops / self.gemm_flops, nbytes / self.bandwidth)

    def bound(self, flops: float, nbytes: float) -> str:
        """``"compute"`` or ``"memory"``: which limit sets :meth:`time`."""
        return "compute" if flops / self.gemm_flops >= nbytes / self.bandwidth else "memory"


def _best_time(fn: Callable[[], object], min_runs: int = MIN_RUNS,
               budget: float = TIME_BUDGET) -> float:
    """Fastest of ``fn``'s runs after one warm-up: ``min_runs``, then more within ``budget``."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure_gemm(order: int = GEMM_ORDER) -> float:
    """float32 FLOP/s of ``np.matmul`` on two ``order x order`` matrices (best run)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((order, order), dtype=np.float32)
    b = rng.standard_normal((order, order), dtype=np.float32)
    out = np.empty_like(a)
    return 2.0 * order**3 / _best_time(lambda: np.matmul(a, b, out=out))


def measure_bandwidth(threads: int, nbytes: int = STREAM_BYTES) -> float:
    """Memory bandwidth in bytes/s: the best of a copy and an add, split over ``threads``.

    Bytes moved count each array read or written once (copy: 2 arrays, add: 3), as STREAM
    does. NumPy releases the GIL in both loops, so ``threads`` slices run in parallel.
    """
    n = nbytes // 4
    src = np.ones(n, np.float32)
    other = np.ones(n, np.float32)
    dst = np.empty(n, np.float32)
    bounds = np.linspace(0, n, threads + 1).astype(int)
    slices = [slice(lo, hi) for lo, hi in pairwise(bounds)]
    with ThreadPoolExecutor(threads) as pool:
        def run(kernel: Callable[[slice], object]) -> None:
            list(pool.map(kernel, slices))

        copy = _best_time(lambda: run(lambda s: np.copyto(dst[s], src[s])))
        add = _best_time(lambda: run(lambda s: np.add(src[s], other[s], out=dst[s])))
    return max(2 * n * 4 / copy, 3 * n * 4 / add)


def fma_kernel() -> tuple[Callable[[int], float], str] | None:
    """``fma_loop`` of the widest native extension this CPU runs, and its module's name.

    ``None`` when no native extension is built. The peak is the machine's, so this ignores
    ``CONV1D_NATIVE`` and ``CONV1D_SIMD`` (which choose what the algorithms run).

    Examples
    --------
    >>> found = fma_kernel()
    >>> found is None or found[1].startswith("conv1d._native")
    True
    """
    try:  # its cpu_supports() asks the CPU itself (GCC/Clang's __builtin_cpu_supports)
        supports = getattr(import_module("conv1d._native_base"), "cpu_supports", None)
    except ImportError:
        return None
    for name, needs in FMA_MODULES:
        if needs and (supports is None or not all(supports(flag) for flag in needs)):
            continue
        try:
            return import_module(name).fma_loop, name
        except (ImportError, AttributeError):
            continue
    return None


def measure_fma(threads: int) -> tuple[float | None, str]:
    """The float32 FMA peak in FLOP/s on ``threads`` threads at once, and how it was found.

    Each of ``threads`` threads calls ``fma_loop(iterations)`` once, all at the same time
    (the GIL is released while it runs); the peak is the sum of the FLOPs they return over
    the wall time until the last one ends, in the fastest of several runs. ``(None, why)``
    when the native extension is not built.
    """
    found = fma_kernel()
    if found is None:
        return None, "n/a: conv1d's native extension (fma_loop) is not built"
    fma_loop, module = found
    # Size the calls: FMA_SECONDS each, from a short one's rate.
    iterations = 1 << 16
    while True:
        t0 = time.perf_counter()
        fma_loop(iterations)
        elapsed = time.perf_counter() - t0
        if elapsed >= FMA_SECONDS / 10:
            break
        iterations *= 4
    iterations = max(1, int(iterations * FMA_SECONDS / elapsed))
    with ThreadPoolExecutor(threads) as pool:
        flops = 0.0

        def run() -> None:
            nonlocal flops
            flops = sum(pool.map(fma_loop, [iterations] * threads))

        best = _best_time(run, budget=TIME_BUDGET)
    return flops / best, (f"{module.rpartition('.')[2]}.fma_loop, {threads} threads at once, "
                          "best run")


def measure(threads: int) -> Roofline:
    """Measure the roofline rates and the FMA peak under the current thread settings.

    A few seconds.
    """
    fma, note = measure_fma(threads)
    return Roofline(measure_gemm(), measure_bandwidth(threads), fma, note)


def _proc_field(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


def machine() -> dict[str, str]:
    """CPU model, cores, memory and load, from ``/proc`` where there is one (Linux)."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()} logical"
    if usable is not None and usable != os.cpu_count():
        cores += f" ({usable} usable by this process)"
    mem = _proc_field("/proc/meminfo", "MemTotal")  # "24576000 kB"
    memory = f"{int(mem.split()[0]) / 2**20:.1f} GiB" if mem else "unknown"
    out = {"CPU": cpu, "cores": cores, "memory": memory,
           "OS": f"{platform.system()} {platform.release()} ({platform.machine()})"}
    if hasattr(os, "getloadavg"):  # other work on the machine skews every timing
        out["load average (1, 5, 15 min) before the run"] = ", ".join(
            f"{v:.2f}" for v in os.getloadavg())
    return out


def _version(name: str) -> str:
    try:
        module: ModuleType = import_module(name)
    except ImportError:
        return "not installed"
    return str(getattr(module, "__version__", "unknown"))


def _describe(lib: dict[str, Any]) -> str:
    """One threadpoolctl entry as ``openblas 0.3.27 (libopenblas.so, Haswell)``."""
    details = [os.path.basename(lib["filepath"]), lib.get("architecture")]
    name = " ".join(str(v) for v in (lib.get("internal_api"), lib.get("version")) if v)
    return f"{name} ({', '.join(str(d) for d in details if d)})"


def versions(with_torch: bool = True, with_ort: bool = False) -> dict[str, str]:
    """Versions of Python, the libraries timed, and every BLAS and OpenMP loaded."""
    out = {"python": sys.version.split()[0], "conv1d": _version("conv1d"),
           "numpy": _version("numpy"), "scipy": _version("scipy")}
    if with_torch:
        out["torch"] = _version("torch")
    if with_ort:
        out["onnxruntime"] = _version("onnxruntime")
        out["onnx"] = _version("onnx")
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-untyped]
    except ImportError:
        out["BLAS"] = "unknown (threadpoolctl not installed)"
        return out
    for api, key in (("blas", "BLAS"), ("openmp", "OpenMP")):
        libs = [_describe(lib) for lib in threadpool_info() if lib.get("user_api") == api]
        out[key] = "; ".join(libs) or "none loaded"
    return out
