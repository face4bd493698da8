"""Forward time of the layers around Conv1d, conv1d against PyTorch: ``python benchmarks/layers.py``.

Each layer runs on one input (default ``(1, 64, 1000)`` float32, ``(1, 1000, 64)`` for
``Linear``), in eval mode (PyTorch under ``torch.no_grad()``), one thread. The two libraries
are timed interleaved in one process by :func:`conv1d.bench.suite.time_interleaved`: blocks of
``--block`` calls, each after a 0.2 s idle gap, taking turns. The outputs are compared first.
The table gives the median and the fastest call in microseconds, and the ratio of medians
(above 1: conv1d is faster). The machine may be shared: repeat the run and read ranges.

Options: ``--shape N C L``, ``--dtype float64``, ``--blocks 5``, ``--block 100``,
``--only GELU,ReLU`` (names as in the table, prefix match).
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy and torch load their thread pools

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import conv1d  # noqa: E402
from conv1d.bench.suite import time_interleaved  # noqa: E402

#: (name, conv1d layer, torch layer, input shape from (N, C, L) or None for (N, C, L) itself).
Case = tuple[str, Callable[[], Any], Callable[[], Any], Callable[[tuple[int, int, int]], tuple]]


def _same(shape: tuple[int, int, int]) -> tuple:
    return shape


def _time_major(shape: tuple[int, int, int]) -> tuple:
    n, c, length = shape
    return (n, length, c)


def cases(channels: int) -> list[Case]:
    """The layers timed, each built fresh in both libraries (identical default parameters)."""
    g = 8 if channels % 8 == 0 else 1
    return [
        ("ReLU", conv1d.ReLU, nn.ReLU, _same),
        ("GELU", conv1d.GELU, nn.GELU, _same),
        ("GELU(tanh)", lambda: conv1d.GELU("tanh"), lambda: nn.GELU("tanh"), _same),
        ("LeakyReLU", conv1d.LeakyReLU, nn.LeakyReLU, _same),
        ("ELU", conv1d.ELU, nn.ELU, _same),
        ("SiLU", conv1d.SiLU, nn.SiLU, _same),
        ("Sigmoid", conv1d.Sigmoid, nn.Sigmoid, _same),
        ("Tanh", conv1d.Tanh, nn.Tanh, _same),
        ("Dropout(eval)", conv1d.Dropout, nn.Dropout, _same),
        ("BatchNorm1d(eval)", lambda: conv1d.BatchNorm1d(channels),
         lambda: nn.BatchNorm1d(channels), _same),
        ("BatchNorm1d(train)", lambda: conv1d.BatchNorm1d(channels).train(),
         lambda: nn.BatchNorm1d(channels).train(), _same),
        (f"GroupNorm({g},{channels})", lambda: conv1d.GroupNorm(g, channels),
         lambda: nn.GroupNorm(g, channels), _same),
        ("MaxPool1d(3,2,1)", lambda: conv1d.MaxPool1d(3, 2, 1), lambda: nn.MaxPool1d(3, 2, 1),
         _same),
        ("MaxPool1d(2)", lambda: conv1d.MaxPool1d(2), lambda: nn.MaxPool1d(2), _same),
        ("AvgPool1d(3,2,1)", lambda: conv1d.AvgPool1d(3, 2, 1), lambda: nn.AvgPool1d(3, 2, 1),
         _same),
        ("AdaptiveAvgPool1d(1)", lambda: conv1d.AdaptiveAvgPool1d(1),
         lambda: nn.AdaptiveAvgPool1d(1), _same),
        (f"Linear({channels},{channels})", lambda: conv1d.Linear(channels, channels),
         lambda: nn.Linear(channels, channels), _time_major),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(1, 64, 1000), metavar=("N", "C", "L"))
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--blocks", type=int, default=5, help="timed blocks per library")
    parser.add_argument("--block", type=int, default=100, help="calls per block")
    parser.add_argument("--only", default="", help="comma-separated name prefixes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    conv1d.set_num_threads(1)
    dtype = np.dtype(args.dtype)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    shape = tuple(args.shape)
    rng = np.random.default_rng(0)
    wanted = [w for w in args.only.split(",") if w]
    print(f"input {shape} {dtype}, forward, eval mode, 1 thread, "
          f"{args.blocks} blocks of {args.block} calls each, 0.2 s idle gap; us per call")
    print(f"{'layer':24s} {'conv1d med':>10s} {'min':>8s} {'torch med':>10s} {'min':>8s} "
          f"{'torch/conv1d':>12s}")
    for name, ours_fn, theirs_fn, shape_of in cases(shape[1]):
        if wanted and not any(name.startswith(w) for w in wanted):
            continue
        ours, theirs = ours_fn(), theirs_fn().to(tdtype)
        if "train" not in name:
            ours.eval()
            theirs.eval()
        if hasattr(theirs, "weight") and getattr(ours, "weight", None) is not None:
            with torch.no_grad():  # the same parameters (Linear draws its own)
                theirs.weight.copy_(torch.from_numpy(np.asarray(ours.weight)))
                if getattr(ours, "bias", None) is not None:
                    theirs.bias.copy_(torch.from_numpy(np.asarray(ours.bias)))
        x = rng.standard_normal(shape_of(shape)).astype(dtype)
        xt = torch.from_numpy(x)

        def run_torch(theirs: Any = theirs, xt: Any = xt) -> np.ndarray:
            with torch.no_grad():
                return theirs(xt).numpy()

        def check(out: dict[str, np.ndarray], name: str = name) -> None:
            tol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(out["conv1d"], out["torch"], rtol=tol, atol=tol,
                                       err_msg=name)

        t = time_interleaved({"conv1d": lambda ours=ours, x=x: ours(x), "torch": run_torch},
                             args.blocks * args.block, check=check, gap=0.2, block=args.block)
        a, b = t["conv1d"], t["torch"]
        print(f"{name:24s} {a.median * 1e6:10.1f} {min(a.times) * 1e6:8.1f} "
              f"{b.median * 1e6:10.1f} {min(b.times) * 1e6:8.1f} {b.median / a.median:12.2f}",
              flush=True)


if __name__ == "__main__":
    main()
