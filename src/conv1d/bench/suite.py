"""The benchmark suite of issue 3 and how one case is timed against PyTorch and ONNX Runtime."""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from ..algorithms import Problem, choose
from ..functional import conv1d, conv1d_backward
from ..progress import progress
from . import roofline
from .report import Result

PROG = "conv1d bench"


@dataclass(frozen=True)
class Case:
    """One benchmark shape: the arguments of ``torch.nn.Conv1d`` plus the input's size.

    Examples
    --------
    >>> case = Case("seed_example", 20, 16, 33, 3, 50, 2, 0, 1, 1, "zeros")
    >>> case.output_length, case.kwargs["stride"]
    (24, 2)
    """

    name: str
    batch: int
    in_channels: int
    out_channels: int
    kernel_size: int
    length: int
    stride: int
    padding: int
    dilation: int
    groups: int
    mode: str

    @property
    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`conv1d.functional.conv1d` after the tensors."""
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups, padding_mode=self.mode)

    @property
    def output_length(self) -> int:
        """``L_out`` of the case (its padding is symmetric)."""
        span = self.dilation * (self.kernel_size - 1) + 1
        return (self.length + 2 * self.padding - span) // self.stride + 1

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of input ``x``, weight ``w``, bias ``b`` and output ``y``.

        Examples
        --------
        >>> Case("grouped", 8, 256, 256, 5, 4096, 2, 2, 1, 8, "zeros").shapes()
        {'x': (8, 256, 4096), 'w': (256, 32, 5), 'b': (256,), 'y': (8, 256, 2048)}
        """
        n, cin, cout = self.batch, self.in_channels, self.out_channels
        return {"x": (n, cin, self.length), "w": (cout, cin // self.groups, self.kernel_size),
                "b": (cout,), "y": (n, cout, self.output_length)}


# The suite of issue 3: name, N, C_in, C_out, K, L, stride, padding, dilation, groups, mode.
SUITE: tuple[Case, ...] = tuple(Case(*row) for row in [
    ("seed_example",     20,  16,  33,    3,    50, 2,   0, 1,   1, "zeros"),
    ("wavenet_dilated",   8,  64,  64,    3, 16000, 1,   8, 8,   1, "zeros"),
    ("resnet1d_ecg",     32, 128, 128,    7,  1000, 1,   3, 1,   1, "zeros"),
    ("depthwise_k4",      8, 512, 512,    4,  4096, 1,   3, 1, 512, "zeros"),
    ("pointwise",        16, 256, 512,    1,  2048, 1,   0, 1,   1, "zeros"),
    ("long_depthwise",    4,  64,  64, 1023, 16384, 1, 511, 1,  64, "zeros"),
    ("long_dense",        2,   8,   8,  513, 65536, 1, 256, 1,   1, "zeros"),
    ("wav2vec_stem",      4,   1, 512,   10, 160000, 5,  0, 1,   1, "zeros"),
    ("har_small",       256,   3,  32,    5,   256, 1,   2, 1,   1, "zeros"),
    ("reflect_pad",       8,  64,  64,    7,  8192, 1,   3, 1,   1, "reflect"),
    ("grouped_g8",        8, 256, 256,    5,  4096, 2,   2, 1,   8, "zeros"),
])  # fmt: skip
CASES = {case.name: case for case in SUITE}
# --quick: the small cases (one dense, one many-samples, one memory-bound depthwise).
QUICK = ("seed_example", "har_small", "depthwise_k4")
PASSES = ("forward", "forward+backward")
REPEAT, QUICK_REPEAT = 7, 3


@dataclass(frozen=True)
class Timing:
    """Wall times in seconds of the timed repetitions of one function.

    Examples
    --------
    >>> t = Timing((0.3, 0.1, 0.2))
    >>> t.median, t.minimum
    (0.2, 0.1)
    """

    times: tuple[float, ...]

    @property
    def median(self) -> float:
        """The median time, seconds."""
        return statistics.median(self.times)

    @property
    def minimum(self) -> float:
        """The fastest time, seconds."""
        return min(self.times)


#: Seconds of idle time before each timed block. After a call, a library's worker threads
#: spin, waiting for more work, before they sleep: OpenBLAS's (NumPy's BLAS) for about 0.1 s,
#: and torch's OpenMP threads and ONNX Runtime's pool spin too. Spinning threads take the cores
#: the next library timed needs: interleaved with no gap, OpenBLAS's spin slowed torch's next
#: call from 39 to 64-75 ms (issue 8). Twice OpenBLAS's spin lets every pool fall asleep.
IDLE_GAP = 0.2
#: Timed calls per block. A block starts, after the gap, with one untimed call that wakes the
#: library's own threads: the first call after a 0.2 s sleep is the slow one (torch's
#: seed_example forward on the 2-core machine: 1.9-38 ms, then 0.05 ms per call).
BLOCK = 4
#: No waking call for a function whose first warm-up call took longer than this (seconds):
#: waking its threads costs a few milliseconds at most, under 1% of such a call, and a second
#: untimed call would add seconds per block (torch's long_depthwise forward+backward: 4 s).
WAKE_LIMIT = 1.0


def time_interleaved(fns: dict[str, Callable[[], Any]], repeat: int, warmup: int = 1,
                     check: Callable[[dict[str, Any]], None] | None = None, *,
                     gap: float = IDLE_GAP, block: int = BLOCK, wake: bool = True,
                     ) -> dict[str, Timing]:
    """Time each of ``fns`` ``repeat`` times, in interleaved blocks, after ``warmup`` calls.

    First each function runs ``warmup`` untimed calls in turn; ``check`` receives the
    first round's results (e.g. to compare them). Then the timed calls run in blocks of up
    to ``block`` calls of one function, back to back, each block after ``gap`` seconds of
    sleep (:data:`IDLE_GAP`: the previous function's worker threads stop spinning) and one
    untimed call (this function's threads wake up; none where a call takes longer than
    :data:`WAKE_LIMIT`, or ``wake=False``). Blocks take turns between the
    functions, in reversed order every other round, so that neither always runs on a cache,
    clock or machine-load state the other left. ``gap=0, block=1`` alternates single calls;
    ``time_interleaved(fns, blocks * calls, warmup=0, block=calls, wake=False)`` times
    ``blocks`` blocks of ``calls`` calls of each function, each block straight after its gap
    (its first call then pays the wake-up).
    Garbage collection is off while timing (as in :mod:`timeit`), and each result is freed
    after its clock stops.

    Examples
    --------
    >>> t = time_interleaved({"a": lambda: sum(range(100)), "b": lambda: 0}, repeat=3,
    ...                      gap=0.01)
    >>> sorted(t), len(t["a"].times)
    (['a', 'b'], 3)
    """
    first: dict[str, float] = {}  # each function's first warm-up call, seconds
    for i in range(warmup):
        outputs = {}
        for name, fn in fns.items():
            t0 = time.perf_counter()
            outputs[name] = fn()
            first.setdefault(name, time.perf_counter() - t0)
        if i == 0 and check is not None:
            check(outputs)
        del outputs
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    wake_up = {name: wake and gap > 0 and first.get(name, 0.0) <= WAKE_LIMIT for name in names}
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(math.ceil(repeat / block)):
            for name in names if r % 2 == 0 else names[::-1]:
                if gap > 0:
                    time.sleep(gap)
                if wake_up[name]:
                    fns[name]()  # untimed: wakes this library's threads; freed at once
                for _ in range(min(block, repeat - len(times[name]))):
                    t0 = time.perf_counter()
                    out = fns[name]()
                    times[name].append(time.perf_counter() - t0)
                    del out
    finally:
        if was_enabled:
            gc.enable()
    return {name: Timing(tuple(t)) for name, t in times.items()}


def _problem(case: Case) -> Problem:
    """The correlation ``conv1d`` runs for ``case`` (on the padded input)."""
    return Problem(batch=case.batch, in_channels=case.in_channels,
                   out_channels=case.out_channels, kernel_size=case.kernel_size,
                   length=case.length + 2 * case.padding, stride=case.stride,
                   dilation=case.dilation, groups=case.groups, dtype="float32")


def _closures(case: Case, arrays: dict[str, np.ndarray], backward: bool,
              torch: ModuleType | None, ort_threads: int | None = None,
              ) -> dict[str, Callable[[], tuple]]:
    """The calls of one pass, each returning the same tuple of results.

    ``conv1d`` always; ``torch`` unless ``torch`` is ``None``; ``ort`` (ONNX Runtime on
    ``ort_threads`` threads) for the forward pass unless ``ort_threads`` is ``None``.
    """
    x, w, b, gy = arrays["x"], arrays["w"], arrays["b"], arrays["gy"]
    kw = case.kwargs

    def ours() -> tuple:
        y = conv1d(x, w, b, **kw)
        return (y, *conv1d_backward(gy, x, w, b, **kw)) if backward else (y,)

    fns: dict[str, Callable[[], tuple]] = {"conv1d": ours}
    if ort_threads is not None and not backward:
        from . import ort

        run = ort.session(ort.conv_model(x.shape, w, b, **kw), ort_threads)
        fns["ort"] = lambda: (run(x),)
    if torch is None:
        return fns
    F = torch.nn.functional
    xt, wt, bt, gyt = (torch.from_numpy(a) for a in (x, w, b, gy))
    leaves = (xt, wt, bt)
    if backward:
        for t in leaves:
            t.requires_grad_(True)

    def conv(xt: Any) -> Any:  # as torch.nn.Conv1d does it: F.pad, except for zeros
        if case.mode == "zeros":
            return F.conv1d(xt, wt, bt, case.stride, case.padding, case.dilation, case.groups)
        xt = F.pad(xt, (case.padding, case.padding), mode=case.mode)
        return F.conv1d(xt, wt, bt, case.stride, 0, case.dilation, case.groups)

    def theirs() -> tuple:
        if not backward:
            with torch.no_grad():
                return (conv(xt),)
        y = conv(xt)
        y.backward(gyt)
        grads = tuple(t.grad for t in leaves)
        for t in leaves:  # fresh gradients next time; freed after the clock stops
            t.grad = None
        return (y, *grads)

    fns["torch"] = theirs
    return fns


def _check_same(case: Case, pass_: str) -> Callable[[dict[str, tuple]], None]:
    """A gross-error check on the warm-up results: a benchmark of a wrong answer is void.

    Every library's results are compared with torch's, or with conv1d's without torch.
    """
    def check(outputs: dict[str, tuple]) -> None:
        ref_name = "torch" if "torch" in outputs else "conv1d"
        for name, results in outputs.items():
            if name == ref_name:
                continue
            for ours, theirs in zip(results, outputs[ref_name], strict=True):
                ref = np.asarray(theirs.detach() if hasattr(theirs, "detach") else theirs)
                scale = max(float(np.abs(ref).max(initial=0.0)), 1.0)
                err = float(np.abs(np.asarray(ours) - ref).max(initial=0.0))
                if not err <= 1e-3 * scale:
                    raise RuntimeError(
                        f"{name} and {ref_name} disagree on {case.name} ({pass_}): "
                        f"max abs difference {err:.3g}, largest value {scale:.3g}")
    return check


def run_case(case: Case, pass_: str, arrays: dict[str, np.ndarray], repeat: int,
             torch: ModuleType | None, machine: roofline.Roofline,
             ort_threads: int | None = None) -> Result:
    """Time one case and pass; return its :class:`~conv1d.bench.report.Result`."""
    backward = pass_ != "forward"
    problem = _problem(case)
    fns = _closures(case, arrays, backward, torch, ort_threads)
    timings = time_interleaved(fns, repeat, check=_check_same(case, pass_))
    # The two gradients each take a forward's multiply-adds; bytes are the tensors each
    # pass must read and write at least once (forward: x, w, b -> y; backward: gy, x, w ->
    # gx, gw, gb).
    sizes = {k: math.prod(s) * 4 for k, s in case.shapes().items()}
    fwd_bytes = sizes["x"] + sizes["w"] + sizes["b"] + sizes["y"]
    nbytes = fwd_bytes + (sizes["y"] + 2 * sizes["x"] + 2 * sizes["w"] + sizes["b"]
                          if backward else 0)
    flops = problem.flops * (3 if backward else 1)
    ours = timings["conv1d"]
    med_min = lambda name: ((timings[name].median, timings[name].minimum)  # noqa: E731
                            if name in timings else None)
    return Result(
        case=case.name, pass_=pass_, algorithm=choose(problem),
        conv1d=(ours.median, ours.minimum), torch=med_min("torch"), ort=med_min("ort"),
        flops=flops, nbytes=nbytes, roofline_time=machine.time(flops, nbytes),
        bound=machine.bound(flops, nbytes), fma_flops=machine.fma_flops,
    )


def _arrays(case: Case, rng: np.random.Generator) -> dict[str, np.ndarray]:
    shapes = case.shapes()
    out = {k: rng.standard_normal(shapes[k], dtype=np.float32) for k in ("x", "w", "b")}
    out["gy"] = rng.standard_normal(shapes["y"], dtype=np.float32)
    return out


def run_suite(cases: list[Case], repeat: int, torch: ModuleType | None,
              machine: roofline.Roofline, ort_threads: int | None = None,
              ) -> tuple[list[Result], list[str]]:
    """Every selected case and pass, with a progress bar; return results and failures.

    ``ort_threads``: also time ONNX Runtime's forward pass, on that many threads.
    """
    rng = np.random.default_rng(0)
    results, failures = [], []
    jobs = [(case, pass_) for case in cases for pass_ in PASSES]
    arrays: dict[str, np.ndarray] = {}
    for i, (case, pass_) in enumerate(progress(jobs, desc=PROG)):
        if pass_ == PASSES[0]:
            arrays = _arrays(case, rng)
        try:
            results.append(run_case(case, pass_, arrays, repeat, torch, machine, ort_threads))
        except Exception as exc:  # report the case, go on with the others
            failures.append(f"{case.name} ({pass_}) failed: {type(exc).__name__}: {exc}")
        if i == len(jobs) - 1 or jobs[i + 1][0] is not case:
            arrays = {}
            gc.collect()
    return results, failures


