"""``conv1d bench``: time ``conv1d`` against PyTorch and ONNX Runtime, write ``BENCHMARKS.md``.

Each case of :data:`SUITE` runs forward and forward+backward, ``conv1d`` and
``torch.nn.functional.conv1d`` in one process, float32, with the same thread count; ONNX
Runtime (when ``onnx`` and ``onnxruntime`` are installed: ``pip install conv1d[bench]``) is
a second rival for the forward pass (:mod:`~conv1d.bench.ort`). Each library's repetitions
run in blocks after an idle gap (:func:`~conv1d.bench.suite.time_interleaved`). Reported
per row: median and minimum wall time of each library, GFLOP/s, the ratio of each rival's
median to ``conv1d``'s and of the faster rival's, the headline (above 1: ``conv1d`` is
faster), the algorithm ``conv1d.algorithms.choose`` picks, and the percentages of the
machine's float32 FMA peak and of the roofline (:mod:`conv1d.bench.roofline`) that
``conv1d``'s median reaches.

The package: :mod:`~conv1d.bench.suite` (the cases and how they are timed),
:mod:`~conv1d.bench.ort` (the ONNX Runtime rival), :mod:`~conv1d.bench.roofline` (the
machine's measured limits, hardware and versions), :mod:`~conv1d.bench.report` (the table,
``BENCHMARKS.md`` and the chart), and this module (the command line and the extra sections).

Usage::

    conv1d bench                      # the whole suite, BENCHMARKS.md + BENCHMARKS.png
    conv1d bench --quick              # 3 small cases, 3 repetitions (well under a minute)
    conv1d bench --case pointwise --case depthwise_k4 --repeat 9 --threads 2
    conv1d bench --no-torch --no-onnx --output /tmp/b.md --chart /tmp/b.png

Extra sections
--------------
Other parts of the library add their own benchmarks as sections, listed in
:data:`SECTIONS` as ``flag -> "module:function"``. ``conv1d bench --FLAG`` imports the
function only when asked, before any timing (so a missing one fails at once, with a clear
message), then calls it after the suite as ``function(context)`` with a
:class:`Context` (thread count, repetitions, ``--quick``, the torch module or ``None``, the
measured :class:`~conv1d.bench.roofline.Roofline`, and :meth:`Context.time` for interleaved
timing). The function prints its own rows and returns the markdown lines to append to
``BENCHMARKS.md``, starting with a ``##`` heading. Adding a section is one line here.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from . import ort, roofline
from .report import COLUMNS, markdown_table, write_chart, write_report
from .suite import (
    BLOCK,
    CASES,
    IDLE_GAP,
    PROG,
    QUICK,
    QUICK_REPEAT,
    REPEAT,
    SUITE,
    WAKE_LIMIT,
    Case,
    Timing,
    run_suite,
    time_interleaved,
)

__all__ = ["SECTIONS", "SUITE", "Case", "Context", "Timing", "main", "time_interleaved"]


# Optional sections, flag -> "module:function" (see the module docstring).
SECTIONS: dict[str, str] = {
    "streaming": "conv1d.bench.latency:bench_streaming",
    "latency": "conv1d.bench.latency:bench_latency",
    "torch-layer": "conv1d.torch:bench_torch_layer",
    "algorithms": "conv1d.bench.choice:bench_algorithms",
    "transpose": "conv1d.bench.transpose:bench_transpose",
    "models": "conv1d.bench.models:bench_models",
}


@dataclass
class Context:
    """What an extra section receives: the run's settings and the shared tools."""

    threads: int
    repeat: int
    quick: bool
    torch: ModuleType | None
    roofline: roofline.Roofline
    cases: list[Case] | None = None  # the suite cases this run selected
    ort_threads: int | None = None  # ONNX Runtime's threads; None: ORT is not timed

    def time(self, fns: dict[str, Callable[[], Any]], **kwargs: Any) -> dict[str, Timing]:
        """:func:`time_interleaved` with this run's repetitions."""
        return time_interleaved(fns, self.repeat, **kwargs)


class UsageError(Exception):
    """A bad command line: reported as one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own prints the usage first
        raise UsageError(message)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = _Parser(prog=PROG, description="Benchmark conv1d against PyTorch's CPU conv1d "
                                            "and ONNX Runtime's.")
    parser.add_argument("--quick", action="store_true",
                        help=f"cases {', '.join(QUICK)} (unless --case) and {QUICK_REPEAT} "
                             "repetitions (unless --repeat)")
    parser.add_argument("--case", action="append", metavar="NAME",
                        help="run only this case (repeatable): " + ", ".join(CASES))
    parser.add_argument("--repeat", type=_positive, metavar="N",
                        help=f"timed repetitions per library and pass (default {REPEAT})")
    parser.add_argument("--threads", type=_positive, metavar="N",
                        help="threads for every library (default: the usable cores)")
    parser.add_argument("--no-torch", action="store_true", help="do not time PyTorch")
    parser.add_argument("--no-onnx", action="store_true",
                        help="do not time ONNX Runtime (timed when onnx and onnxruntime are "
                             "installed: the bench extra)")
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"), metavar="PATH",
                        help="the markdown report (default ./BENCHMARKS.md)")
    parser.add_argument("--chart", type=Path, metavar="PATH",
                        help="the PNG chart of the ratios (default: the report's path, .png)")
    for flag, target in SECTIONS.items():
        parser.add_argument(f"--{flag}", action="append_const", const=flag, dest="sections",
                            help=f"add the section {target}")
    args = parser.parse_args(argv)
    unknown = [name for name in args.case or () if name not in CASES]
    if unknown:
        raise UsageError(f"unknown case {unknown[0]!r}; valid cases: {', '.join(CASES)}")
    names = args.case or (QUICK if args.quick else tuple(CASES))
    args.cases = [CASES[name] for name in dict.fromkeys(names)]
    args.repeat = args.repeat or (QUICK_REPEAT if args.quick else REPEAT)
    args.threads = args.threads or (len(os.sched_getaffinity(0))
                                    if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    args.chart = args.chart or args.output.with_suffix(".png")
    args.sections = args.sections or []
    for path, flag in ((args.output, "--output"), (args.chart, "--chart")):
        _check_writable(path, flag)
    return args


def _check_writable(path: Path, flag: str) -> None:
    """Fail before the benchmark, not after it, when ``path`` cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{flag} must be a file path, got the directory '{path}'")
    if not parent.is_dir():
        raise UsageError(f"{flag}: directory '{parent}' does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag}: '{path}' is not writable")


def load_section(flag: str) -> Callable[[Context], list[str]]:
    """Import the function behind ``--flag`` (see :data:`SECTIONS`)."""
    module_name, _, func_name = SECTIONS[flag].partition(":")
    try:
        return getattr(import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"--{flag} is not available in this version: cannot load "
                         f"{module_name}.{func_name} ({exc})") from None


def _import_torch() -> ModuleType | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _set_threads(n: int, torch: ModuleType | None, stack: ExitStack) -> None:
    """Give both libraries ``n`` threads until ``stack`` closes (restoring what it can)."""
    import conv1d

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:  # every BLAS and OpenMP runtime loaded, torch's included
        stack.callback(threadpool_limits(n).restore_original_limits)
    if torch is not None:
        stack.callback(torch.set_num_threads, torch.get_num_threads())
        torch.set_num_threads(n)
    if hasattr(conv1d, "set_num_threads"):  # conv1d.threads, where it exists
        if hasattr(conv1d, "get_num_threads"):
            stack.callback(conv1d.set_num_threads, conv1d.get_num_threads())
        conv1d.set_num_threads(n)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``conv1d bench`` with the arguments after ``bench``; return the exit status.

    0: done; 1: a case or section failed, or the report could not be written (the others
    are still reported); 2: a bad command line, reported on one line of stderr before
    anything runs.

    Examples
    --------
    >>> main(["--case", "no_such_case"])  # stderr: conv1d bench: error: unknown case ...
    2
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parse_args(argv)
        sections = {flag: load_section(flag) for flag in args.sections}
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)

    torch = None if args.no_torch else _import_torch()
    no_torch = None
    if torch is None:
        no_torch = "--no-torch given" if args.no_torch else "PyTorch is not installed"
        print(f"{PROG}: {no_torch}: no torch columns", file=sys.stderr)
    no_ort = "--no-onnx given" if args.no_onnx else ort.unavailable()
    if no_ort is not None:
        if not args.no_onnx:
            no_ort += " (pip install onnxruntime onnx, or the bench extra)"
        print(f"{PROG}: {no_ort}: no ONNX Runtime columns", file=sys.stderr)
    ort_threads = None if no_ort else args.threads
    hardware = roofline.machine()  # before the run: its load average is other work's
    with ExitStack() as stack:
        _set_threads(args.threads, torch, stack)
        print(f"{PROG}: measuring the roofline ({args.threads} threads)...", file=sys.stderr)
        machine = roofline.measure(args.threads)
        fma = (f"{machine.fma_flops / 1e9:.0f} GFLOP/s ({machine.fma_note})"
               if machine.fma_flops else machine.fma_note)
        print(f"{PROG}: float32 GEMM {machine.gemm_flops / 1e9:.0f} GFLOP/s, bandwidth "
              f"{machine.bandwidth / 1e9:.1f} GB/s, FMA peak {fma}", file=sys.stderr)
        results, failures = run_suite(args.cases, args.repeat, torch, machine, ort_threads)
        context = Context(args.threads, args.repeat, args.quick, torch, machine, args.cases,
                          ort_threads)
        print(markdown_table(COLUMNS, [r.row() for r in results]))
        extra: list[str] = []
        for flag, section in sections.items():
            try:
                extra += ["", *section(context)]
            except Exception as exc:
                failures.append(f"--{flag} failed: {type(exc).__name__}: {exc}")
    for failure in failures:
        print(f"{PROG}: {failure}", file=sys.stderr)

    info = {
        "command": shlex.join(["conv1d", "bench", *argv]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "threads": args.threads, "repeat": args.repeat,
        "torch_note": no_torch, "ort_note": no_ort, "gap": IDLE_GAP, "block": BLOCK,
        "wake_limit": WAKE_LIMIT,
    }
    try:
        chart_note = write_chart(results, args.chart)
        summary = write_report(
            args.output, results, failures, extra, machine=machine,
            hardware=hardware, versions=roofline.versions(torch is not None, no_ort is None),
            info=info, chart=args.chart, chart_note=chart_note,
        )
    except OSError as exc:
        print(f"{PROG}: error: cannot write the report: {exc}", file=sys.stderr)
        return 1
    print("\n" + summary)
    if chart_note is not None:
        print(f"{PROG}: {chart_note}", file=sys.stderr)
    print(f"{PROG}: wrote {args.output}" + ("" if chart_note else f" and {args.chart}"),
          file=sys.stderr)
    return 1 if failures else 0
