"""``conv1d bench --transpose``: ConvTranspose1d against PyTorch on the cases of issue 11.

Each case runs forward and forward+backward, ``conv1d.functional.conv_transpose1d`` (and its
``_backward``) and ``torch.nn.functional.conv_transpose1d`` (autograd), float32, interleaved
in one process with the suite's protocol (:func:`~conv1d.bench.suite.time_interleaved`):
blocks of up to 4 back-to-back calls per library, each block after an idle gap (the other
library's worker threads stop spinning) and one untimed call (this library's wake up), the
libraries' blocks taking turns. Single calls straight after a gap (this section's first
protocol) measured mostly the machine waking up: on the 2-core VM both libraries' medians
moved by up to 3x between runs minutes apart (torch's unet_up2 forward: 4.4 and 15.9 ms).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..functional_transpose import ConvTransposeSpec, conv_transpose1d, conv_transpose1d_backward
from .report import markdown_table, sig
from .suite import BLOCK, IDLE_GAP, time_interleaved

__all__ = ["CASES", "TransposeCase", "bench_transpose"]

#: Timed calls per library and pass unless the context says otherwise (3 with --quick).
REPEAT = 8


@dataclass(frozen=True)
class TransposeCase:
    """One shape: ``torch.nn.ConvTranspose1d``'s arguments plus the input's size."""

    name: str
    batch: int
    in_channels: int
    out_channels: int
    kernel_size: int
    length: int
    stride: int
    padding: int
    output_padding: int
    groups: int

    @property
    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``conv_transpose1d`` after the arrays."""
        return dict(stride=self.stride, padding=self.padding,
                    output_padding=self.output_padding, groups=self.groups)

    @property
    def spec(self) -> ConvTransposeSpec:
        """The validated :class:`~conv1d.functional_transpose.ConvTransposeSpec`."""
        return ConvTransposeSpec.from_args(self.in_channels, self.out_channels, self.kernel_size,
                                           **self.kwargs)


# Issue 11: name, N, C_in, C_out, K, L_in, stride, padding, output_padding, groups.
CASES: tuple[TransposeCase, ...] = tuple(TransposeCase(*row) for row in [
    ("hifigan_up8",    4, 512, 256, 16,  256, 8, 4, 0, 1),
    ("tasnet_decoder", 4, 512,   1, 16, 4000, 8, 0, 0, 1),
    ("unet_up2",      16, 128,  64,  4, 1000, 2, 1, 0, 1),
    ("grouped_up2",    8, 256, 256,  5, 2048, 2, 2, 1, 8),
])  # fmt: skip


def _arrays(case: TransposeCase, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n, cin, cout, g = case.batch, case.in_channels, case.out_channels, case.groups
    l_out = case.spec.output_length(case.length)
    shapes = {"x": (n, cin, case.length), "w": (cin, cout // g, case.kernel_size), "b": (cout,),
              "gy": (n, cout, l_out)}
    return {k: rng.standard_normal(s, dtype=np.float32) for k, s in shapes.items()}


def _closures(case: TransposeCase, a: dict[str, np.ndarray], backward: bool, torch: Any) -> dict:
    x, w, b, gy = a["x"], a["w"], a["b"], a["gy"]
    kw = case.kwargs

    def ours() -> tuple:
        y = conv_transpose1d(x, w, b, **kw)
        return (y, *conv_transpose1d_backward(gy, x, w, b, **kw)) if backward else (y,)

    fns: dict[str, Any] = {"conv1d": ours}
    if torch is None:
        return fns
    TF = torch.nn.functional
    xt, wt, bt, gyt = (torch.from_numpy(v) for v in (x, w, b, gy))
    leaves = (xt, wt, bt)
    for t in leaves:
        t.requires_grad_(backward)

    def theirs() -> tuple:
        if not backward:
            with torch.no_grad():
                return (TF.conv_transpose1d(xt, wt, bt, **kw),)
        y = TF.conv_transpose1d(xt, wt, bt, **kw)
        y.backward(gyt)
        grads = tuple(t.grad for t in leaves)
        for t in leaves:
            t.grad = None
        return (y, *grads)

    fns["torch"] = theirs
    return fns


def _check(case: TransposeCase, outputs: dict[str, tuple]) -> float:
    """Largest difference from PyTorch relative to its largest value; raise on a wrong answer."""
    worst = 0.0
    for ours, theirs in zip(outputs["conv1d"], outputs["torch"], strict=True):
        ref = theirs.detach().numpy()
        scale = max(float(np.abs(ref).max(initial=0.0)), 1.0)
        worst = max(worst, float(np.abs(np.asarray(ours) - ref).max(initial=0.0)) / scale)
    if not worst <= 1e-3:
        raise RuntimeError(f"conv1d and torch disagree on {case.name}: relative error {worst:.3g}")
    return worst


def bench_transpose(context: Any = None, *, repeat: int | None = None, gap: float = IDLE_GAP,
                    cases: tuple[TransposeCase, ...] = CASES) -> list[str]:
    """Time the :data:`CASES` forward and forward+backward against PyTorch.

    Parameters
    ----------
    context : conv1d.bench.Context, optional
        Given by ``conv1d bench --transpose`` (its ``repeat``, ``quick`` and ``torch`` are
        used); alone, PyTorch is imported if it can be.
    repeat : int, optional
        Timed calls per library and pass (default: :data:`REPEAT`, or the context's if it
        asks for more; 3 with ``--quick``).
    gap : float
        Seconds idle before each block of timed calls.
    cases : tuple of TransposeCase
        The shapes (default :data:`CASES`).

    Returns
    -------
    list of str
        Markdown lines, starting with a ``##`` heading.

    Examples
    --------
    A section of ``conv1d bench``, after the suite's cases (``--quick``: three small
    cases and short runs)::

        conv1d bench --quick --transpose

    Alone, in Python: ``bench_transpose(repeat=3)`` prints the rows and returns the
    markdown.
    """
    from ..algorithms import choose

    if context is not None:
        torch = context.torch
    else:
        try:
            import torch
        except ImportError:
            torch = None
    if repeat is None:
        quick = bool(getattr(context, "quick", False))
        repeat = 3 if quick else max(int(getattr(context, "repeat", REPEAT)), REPEAT)
    rng = np.random.default_rng(0)
    rows, ratios, worst = [], [], 0.0
    for case in cases:
        arrays = _arrays(case, rng)
        pick = choose(case.spec.problem(case.batch, case.length, np.dtype(np.float32)))
        for pass_ in ("forward", "forward+backward"):
            fns = _closures(case, arrays, pass_ != "forward", torch)
            warm = {name: fn() for name, fn in fns.items()}  # warm-up, and the answer checked
            if torch is not None:
                worst = max(worst, _check(case, warm))
            del warm
            t = time_interleaved(fns, repeat, warmup=0, gap=gap)  # the suite's blocks
            ours = t["conv1d"].median
            row = [case.name, pass_, pick, sig(ours * 1e3), sig(t["conv1d"].minimum * 1e3)]
            if torch is not None:
                theirs = t["torch"].median
                ratios.append(theirs / ours)
                row += [sig(theirs * 1e3), sig(t["torch"].minimum * 1e3), sig(theirs / ours)]
            rows.append(row)
            print(" | ".join(row))
    header = ["case", "pass", "algorithm", "conv1d median ms", "conv1d min ms"]
    if torch is not None:
        header += ["torch median ms", "torch min ms", "torch / conv1d"]
    table = markdown_table(header, rows)
    gmean = math.exp(statistics.fmean(math.log(r) for r in ratios)) if ratios else float("nan")
    lines = [
        "## ConvTranspose1d",
        "",
        "The cases of issue 11 (HiFi-GAN x8 upsampling, a Conv-TasNet decoder, a U-Net x2 "
        "up-convolution, a grouped x2 one), float32, `conv1d.functional.conv_transpose1d` "
        "(+ `conv_transpose1d_backward`) against `torch.nn.functional.conv_transpose1d` "
        f"(+ autograd), interleaved in one process, {repeat} timed calls per library and pass "
        f"in the suite's blocks (up to {BLOCK} back-to-back calls, each block after {gap:g} s "
        "idle and one untimed call). `torch / conv1d` is the ratio of the medians. "
        "`algorithm`: what `auto` runs (the equivalent convolution's gradients).",
        "",
        *table.splitlines(),
    ]
    if ratios:
        lines += ["", f"Geometric mean of torch / conv1d: **{gmean:.2f}** (above 1: conv1d is "
                      f"faster). Largest relative difference from PyTorch: {worst:.2g}."]
    return lines
