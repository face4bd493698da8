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
    "torch min ms", "ORT median ms", "ORT min ms", "conv1d GFLOP/s", "torch GFLOP/s",
    "ratio torch/conv1d", "ratio ORT/conv1d", "ratio rival/conv1d", "FMA peak %", "roofline %",
    "bound",
)
#: The libraries compared with conv1d, by their :class:`Result` field, as the report names them.
RIVALS = {"torch": "torch", "ort": "ORT"}


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
    """One row: a case and pass, the ``(median, minimum)`` seconds of each library.

    ``torch`` and ``ort`` (ONNX Runtime) are ``None`` where that rival was not timed;
    ``fma_flops`` is the machine's float32 FMA peak, ``None`` where unknown.

    Examples
    --------
    >>> r = Result("c", "forward", "gemm", conv1d=(2.0, 1.0), torch=(4.0, 3.0), ort=(3.0, 2.0),
    ...            flops=8e9, nbytes=0.0, roofline_time=1.0, bound="compute", fma_flops=8e9)
    >>> r.ratio_torch, r.ratio_ort, r.ratio, r.rival, r.fma_percent
    (2.0, 1.5, 1.5, 'ort', 50.0)
    """

    case: str
    pass_: str
    algorithm: str
    conv1d: tuple[float, float]
    torch: tuple[float, float] | None
    flops: float
    nbytes: float
    roofline_time: float
    bound: str
    ort: tuple[float, float] | None = None
    fma_flops: float | None = None

    def _ratio(self, rival: tuple[float, float] | None) -> float | None:
        return None if rival is None else rival[0] / self.conv1d[0]

    @property
    def ratio_torch(self) -> float | None:
        """``torch median / conv1d median``: above 1, conv1d is faster."""
        return self._ratio(self.torch)

    @property
    def ratio_ort(self) -> float | None:
        """``ONNX Runtime median / conv1d median``."""
        return self._ratio(self.ort)

    @property
    def rival(self) -> str | None:
        """The faster rival (smaller median), ``"torch"`` or ``"ort"``; ``None``: none timed."""
        timed = {name: t for name in RIVALS if (t := getattr(self, name)) is not None}
        return min(timed, key=lambda name: timed[name][0]) if timed else None

    @property
    def ratio(self) -> float | None:
        """The headline ratio: the faster rival's median over conv1d's."""
        return None if self.rival is None else self._ratio(getattr(self, self.rival))

    @property
    def fma_percent(self) -> float | None:
        """conv1d's FLOP/s (median) as a percentage of the float32 FMA peak."""
        return None if self.fma_flops is None else 100 * self.flops / self.conv1d[0] / self.fma_flops

    def row(self) -> list[str]:
        na = "n/a"
        ms = lambda t: sig(t * 1e3)  # noqa: E731
        opt = lambda v: na if v is None else sig(v)  # noqa: E731
        theirs, ort = self.torch, self.ort
        return [
            self.case, self.pass_, self.algorithm, ms(self.conv1d[0]), ms(self.conv1d[1]),
            ms(theirs[0]) if theirs else na, ms(theirs[1]) if theirs else na,
            ms(ort[0]) if ort else na, ms(ort[1]) if ort else na,
            sig(self.flops / self.conv1d[0] / 1e9),
            sig(self.flops / theirs[0] / 1e9) if theirs else na,
            opt(self.ratio_torch), opt(self.ratio_ort),
            na if self.rival is None else f"{opt(self.ratio)} {RIVALS[self.rival]}",
            opt(self.fma_percent), sig(100 * self.roofline_time / self.conv1d[0]), self.bound,
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
    """Geometric means of the ratios to each rival and to the faster one, and the lowest.

    Each mean is followed by the number of ratios it averages, in parentheses.

    Examples
    --------
    >>> r = Result("c", "forward", "gemm", conv1d=(1.0, 1.0), torch=(4.0, 4.0), ort=(2.0, 2.0),
    ...            flops=1.0, nbytes=1.0, roofline_time=1.0, bound="compute")
    >>> print("\\n".join(summary([r])))
    Geometric mean of the 1 ratios faster rival/conv1d: **2.00x** (above 1: conv1d is faster)
    <BLANKLINE>
    | geometric mean of | all       | forward   | lowest           |
    |-------------------|-----------|-----------|------------------|
    | faster rival      | 2.00x (1) | 2.00x (1) | 2.00x c, forward |
    | torch             | 4.00x (1) | 4.00x (1) | 4.00x c, forward |
    | ORT               | 2.00x (1) | 2.00x (1) | 2.00x c, forward |
    """
    passes = list(dict.fromkeys(r.pass_ for r in results))
    rows, headline = [], ""
    for attr, label in (("ratio", "faster rival"), ("ratio_torch", "torch"),
                        ("ratio_ort", "ORT")):
        pairs = [(r, v) for r in results if (v := getattr(r, attr)) is not None]
        if not pairs:
            continue
        mean = lambda vs: f"{sig(geometric_mean(vs))}x ({len(vs)})"  # noqa: E731
        worst, low = min(pairs, key=lambda p: p[1])
        rows.append([label, mean([v for _, v in pairs]),
                     *(mean(vs) if (vs := [v for r, v in pairs if r.pass_ == p]) else "n/a"
                       for p in passes),
                     f"{sig(low)}x {worst.case}, {worst.pass_}"])
        if attr == "ratio":
            headline = (f"Geometric mean of the {len(pairs)} ratios faster rival/conv1d: "
                        f"**{sig(geometric_mean([v for _, v in pairs]))}x** (above 1: conv1d "
                        "is faster)")
    if not rows:
        return ["No ratios: neither PyTorch nor ONNX Runtime was timed."]
    return [headline, "", markdown_table(["geometric mean of", "all", *passes, "lowest"], rows)]


def write_chart(results: Sequence[Result], path: Path) -> str | None:
    """Draw the headline ratio per case and pass as a PNG at ``path``; return why not, or ``None``.

    Each bar is the faster rival's median over conv1d's, labelled with that rival.
    """
    ratios = [r for r in results if r.ratio is not None]
    if not ratios:
        return "no chart: there are no ratios without a rival (PyTorch or ONNX Runtime)"
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return "no chart: matplotlib is not installed (pip install matplotlib)"
    cases = list(dict.fromkeys(r.case for r in ratios))
    passes = list(dict.fromkeys(r.pass_ for r in ratios))
    rivals = [RIVALS[name] for name in RIVALS if any(getattr(r, name) for r in ratios)]
    fig = Figure(figsize=(max(6.0, 0.9 * len(cases) + 2), 4.5), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(passes)
    for j, pass_ in enumerate(passes):
        by_case = {r.case: r for r in ratios if r.pass_ == pass_}
        xs = [i + (j - (len(passes) - 1) / 2) * width for i, c in enumerate(cases) if c in by_case]
        rows = [by_case[c] for c in cases if c in by_case]
        ys = [r.ratio or 0.0 for r in rows]  # never 0: ``ratios`` has a rival in every row
        # Bars grow from 1 (parity), up where conv1d is faster, down where it is slower.
        bars = ax.bar(xs, [y - 1 for y in ys], width, bottom=1, label=pass_)
        labels = [f"{sig(y, 2)}x" + (f" {RIVALS[r.rival or '']}" if len(rivals) > 1 else "")
                  for y, r in zip(ys, rows, strict=True)]
        ax.bar_label(bars, labels, fontsize=6 if len(rivals) > 1 else 7, padding=2)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    # Minor ticks: label 2, 3 and 5 times a power of ten only.
    ax.yaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: f"{v:g}x" if f"{v:e}"[0] in "235" else ""))
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xticks(range(len(cases)), cases, rotation=30, ha="right")
    rival = "faster rival's" if len(rivals) > 1 else f"{rivals[0]}'s"
    ax.set_ylabel(f"{rival} time / conv1d time (above 1: conv1d faster)", fontsize=9)
    ax.set_title(f"conv1d vs {'the faster of ' * (len(rivals) > 1)}{' and '.join(rivals)} "
                 "(CPU, float32, median times)", fontsize=11)
    ax.legend()
    fig.savefig(path, dpi=110)
    return None


def write_report(path: Path, results: Sequence[Result], failures: Sequence[str],
                 extra: Sequence[str], *, machine: Roofline, hardware: dict[str, str],
                 versions: dict[str, str], info: dict[str, Any], chart: Path,
                 chart_note: str | None) -> str:
    """Write ``BENCHMARKS.md`` at ``path``; return the summary lines as text."""
    chart_link = os.path.relpath(chart, path.parent).replace(os.sep, "/")
    rivals = [
        f"PyTorch was not timed ({info['torch_note']})" if info["torch_note"] else
        "`torch.nn.functional.conv1d` (PyTorch CPU), forward and forward+backward",
        f"ONNX Runtime was not timed ({info['ort_note']})" if info["ort_note"] else
        "ONNX Runtime (CPU provider, sequential, one inter-op thread) on a one-node `Conv` "
        "graph per case, forward only (a `Pad` node first for reflect, replicate and "
        "circular padding)",
    ]
    text = summary(results)
    lines = [
        "# Benchmarks", "",
        f"Written by `{info['command']}` on {info['date']}.", "",
        f"conv1d and its rivals run in one process, float32, each on {info['threads']} threads. "
        f"Rivals: {'; '.join(rivals)}. Each time is one call's wall clock; {info['repeat']} timed "
        "repetitions per library and pass, after a warm-up that checks every library's "
        f"results against {'conv1d' if info['torch_note'] else 'torch'}'s, in blocks of up to "
        f"{info['block']} back-to-back calls: "
        f"each block follows an idle gap of {info['gap']} s (the previous library's worker "
        "threads stop spinning) and one untimed call (this library's threads wake up; none "
        f"where a call takes over {info['wake_limit']} s), and the libraries' blocks take "
        "turns.", "",
        "`ratio X/conv1d` is X's median over conv1d's (above 1: conv1d is faster); `ratio "
        "rival/conv1d`, the headline, is the faster rival's (the smaller median of torch and "
        "ORT; forward+backward: torch alone), named beside it. GFLOP/s count the multiply-adds "
        "twice (forward+backward: 3 times the forward's); `FMA peak %` is conv1d's GFLOP/s "
        "over the machine's float32 FMA peak (below); `roofline %` is the roofline time over "
        "conv1d's median, where the roofline time is the larger of flops / GEMM rate and "
        "bytes / bandwidth (bytes: every tensor a pass reads or writes, once per pass: forward "
        "x, w, b, y; backward also gy, x, w, gx, gw, gb); `bound` says which. `algorithm` is "
        "what `conv1d.algorithms.choose` picks for the shape.", "",
        "## Results", "", markdown_table(COLUMNS, [r.row() for r in results]), "", *text, "",
    ]
    lines += [f"- FAILED: {f}" for f in failures] + ([""] if failures else [])
    lines += [f"![the faster rival's time / conv1d time per case]({chart_link})"
              if chart_note is None
              else f"({chart_note}.)", ""]
    lines += [
        "## Machine", "",
        *(f"- {k}: {v}" for k, v in hardware.items()),
        f"- float32 GEMM rate: {sig(machine.gemm_flops / 1e9)} GFLOP/s (np.matmul, square "
        f"{GEMM_ORDER}, best run)",
        f"- memory bandwidth: {sig(machine.bandwidth / 1e9)} GB/s ({STREAM_BYTES >> 20} MiB "
        "copy and add split over the threads, best run)",
        "- float32 FMA peak: " + (f"{sig(machine.fma_flops / 1e9)} GFLOP/s ({machine.fma_note})"
                                  if machine.fma_flops else machine.fma_note), "",
        "## Versions", "", *(f"- {k}: {v}" for k, v in versions.items()), "",
        *extra,
    ]
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")
    return "\n".join(text)
