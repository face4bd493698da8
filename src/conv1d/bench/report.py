"""What ``conv1d bench`` prints and writes: the results table, ``BENCHMARKS.md``, the chart."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .roofline import GEMM_ORDER, STREAM_BYTES, Roofline

COLUMNS = (
    "case", "pass", "algorithm", "conv1d median ms", "conv1d min ms", "torch median ms",
    "torch min ms", "conv1d GFLOP/s", "torch GFLOP/s", "ratio torch/conv1d", "roofline %",
    "bound",
)


def sig(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits, never in exponent notation.

    Examples
    --------
    >>> sig(0.012345), sig(3.14159), sig(1234.5)
    ('0.0123', '3.14', '1234')
    """
    if x == 0 or not math.isfinite(x):
        return str(x)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{decimals}f}"


@dataclass(frozen=True)
class Result:
    """One row: a case and pass, the ``(median, minimum)`` seconds of each library."""

    case: str
    pass_: str
    algorithm: str
    conv1d: tuple[float, float]
    torch: tuple[float, float] | None
    flops: float
    nbytes: float
    roofline_time: float
    bound: str

    @property
    def ratio(self) -> float | None:
        """``torch median / conv1d median``: above 1, conv1d is faster."""
        return None if self.torch is None else self.torch[0] / self.conv1d[0]

    def row(self) -> list[str]:
        na = "n/a"
        ms = lambda t: sig(t * 1e3)  # noqa: E731
        gflops = lambda t: sig(self.flops / t / 1e9)  # noqa: E731
        theirs = self.torch
        return [
            self.case, self.pass_, self.algorithm, ms(self.conv1d[0]), ms(self.conv1d[1]),
            ms(theirs[0]) if theirs else na, ms(theirs[1]) if theirs else na,
            gflops(self.conv1d[0]), gflops(theirs[0]) if theirs else na,
            sig(self.ratio) if self.ratio is not None else na,
            sig(100 * self.roofline_time / self.conv1d[0]), self.bound,
        ]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table with aligned columns (readable as plain text too).

    Examples
    --------
    >>> print(markdown_table(["a", "bb"], [["1", "2"]]))
    | a | bb |
    |---|----|
    | 1 | 2  |
    """
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(r) for r in rows)])


def geometric_mean(values: Sequence[float]) -> float:
    """The geometric mean, the right average of ratios (it treats 2x and 0.5x symmetrically).

    Examples
    --------
    >>> geometric_mean([1.0, 4.0])
    2.0
    """
    return math.exp(sum(math.log(v) for v in values) / len(values))


def summary(results: Sequence[Result]) -> list[str]:
    """The geometric means of the ratios, overall and per pass, and the slowest case."""
    ratios = [r for r in results if r.ratio is not None]
    if not ratios:
        return ["No ratios: PyTorch was not timed."]
    lines = [f"Geometric mean of the {len(ratios)} ratios torch/conv1d: "
             f"**{sig(geometric_mean([r.ratio for r in ratios]))}x**"]
    for pass_ in dict.fromkeys(r.pass_ for r in ratios):
        rs = [r.ratio for r in ratios if r.pass_ == pass_]
        lines.append(f"- {pass_}: {sig(geometric_mean(rs))}x over {len(rs)} cases")
    worst = min(ratios, key=lambda r: r.ratio)
    lines.append(f"- lowest: {sig(worst.ratio)}x ({worst.case}, {worst.pass_})")
    return lines


def write_chart(results: Sequence[Result], path: Path) -> str | None:
    """Draw the ratio per case and pass as a PNG at ``path``; return why not, or ``None``."""
    ratios = [r for r in results if r.ratio is not None]
    if not ratios:
        return "no chart: there are no ratios without PyTorch"
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    except ImportError:
        return "no chart: matplotlib is not installed (pip install matplotlib)"
    cases = list(dict.fromkeys(r.case for r in ratios))
    passes = list(dict.fromkeys(r.pass_ for r in ratios))
    fig = Figure(figsize=(max(6.0, 0.9 * len(cases) + 2), 4.5), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(passes)
    for j, pass_ in enumerate(passes):
        by_case = {r.case: r.ratio for r in ratios if r.pass_ == pass_}
        xs = [i + (j - (len(passes) - 1) / 2) * width for i, c in enumerate(cases) if c in by_case]
        ys = [by_case[c] for c in cases if c in by_case]
        # Bars grow from 1 (parity), up where conv1d is faster, down where it is slower.
        bars = ax.bar(xs, [y - 1 for y in ys], width, bottom=1, label=pass_)
        ax.bar_label(bars, [f"{sig(y, 2)}x" for y in ys], fontsize=7, padding=2)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(cases)), cases, rotation=30, ha="right")
    ax.set_ylabel("torch time / conv1d time (above 1: conv1d faster)")
    ax.set_title("conv1d vs PyTorch CPU conv1d, float32 (median times)", fontsize=11)
    ax.legend()
    fig.savefig(path, dpi=110)
    return None


def write_report(path: Path, results: Sequence[Result], failures: Sequence[str],
                 extra: Sequence[str], *, machine: Roofline, hardware: dict[str, str],
                 versions: dict[str, str], info: dict[str, Any], chart: Path,
                 chart_note: str | None) -> str:
    """Write ``BENCHMARKS.md`` at ``path``; return the summary lines as text."""
    chart_link = os.path.relpath(chart, path.parent).replace(os.sep, "/")
    torch_line = (f"PyTorch was not timed ({info['torch_note']}): conv1d alone, no ratios."
                  if info["torch_note"] else
                  "conv1d and torch.nn.functional.conv1d (PyTorch CPU) run interleaved in one "
                  "process, float32.")
    text = summary(results)
    lines = [
        "# Benchmarks", "",
        f"Written by `{info['command']}` on {info['date']}.", "",
        f"{torch_line} Both use {info['threads']} threads; each time is one call's wall clock, "
        f"{info['repeat']} timed repetitions after a warm-up. `ratio` is torch's median over "
        "conv1d's (above 1: conv1d is faster); GFLOP/s count the multiply-adds twice "
        "(forward+backward: 3 times the forward's); `roofline %` is the roofline time over "
        "conv1d's median, where the roofline time is the larger of flops / GEMM rate and "
        "bytes / bandwidth (bytes: every tensor a pass reads or writes, once per pass: forward "
        "x, w, b, y; backward also gy, x, w, gx, gw, gb); `bound` says which. `algorithm` is "
        "what `conv1d.algorithms.choose` picks for the shape.", "",
        "## Results", "", markdown_table(COLUMNS, [r.row() for r in results]), "", *text, "",
    ]
    lines += [f"- FAILED: {f}" for f in failures] + ([""] if failures else [])
    lines += [f"![torch time / conv1d time per case]({chart_link})" if chart_note is None
              else f"({chart_note}.)", ""]
    lines += [
        "## Machine", "",
        *(f"- {k}: {v}" for k, v in hardware.items()),
        f"- float32 GEMM rate: {sig(machine.gemm_flops / 1e9)} GFLOP/s (np.matmul, square "
        f"{GEMM_ORDER}, best run)",
        f"- memory bandwidth: {sig(machine.bandwidth / 1e9)} GB/s ({STREAM_BYTES >> 20} MiB "
        "copy and add split over the threads, best run)", "",
        "## Versions", "", *(f"- {k}: {v}" for k, v in versions.items()), "",
        *extra,
    ]
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")
    return "\n".join(text)
