"""``conv1d bench --models``: inference of the three example models against PyTorch.

The models are the checkout's ``examples/`` scripts (ECG ResNet, TCN, WaveNet), loaded by
path: each builds the network in PyTorch and in conv1d and moves the weights through a
safetensors file. Both run in eval mode (PyTorch under ``torch.no_grad()``), float32, at batch
1 and batch 32, timed interleaved in one process.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["BATCHES", "EXAMPLES", "bench_models", "examples_dir", "load_example"]

#: The example scripts timed, file stem -> the name shown.
EXAMPLES = {"ecg_resnet": "ECG ResNet", "tcn": "TCN (weight norm folded)", "wavenet": "WaveNet"}

#: Batch sizes: one signal (latency, e.g. a live monitor) and a batch (throughput).
BATCHES = (1, 32)


def examples_dir() -> Path | None:
    """The checkout's ``examples/`` folder (two levels above the package), or ``None``.

    Examples
    --------
    >>> d = examples_dir()
    >>> d is None or (d / "wavenet.py").is_file()
    True
    """
    d = Path(__file__).resolve().parents[3] / "examples"
    return d if (d / "wavenet.py").is_file() else None


def load_example(name: str) -> ModuleType:
    """The example script ``examples/<name>.py`` imported as a module (not a package)."""
    folder = examples_dir()
    if folder is None:
        raise FileNotFoundError(
            "conv1d bench --models needs the examples/ folder of a source checkout "
            "(it is not part of an installed wheel)"
        )
    key = f"conv1d_example_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, folder / f"{name}.py")
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {folder / f'{name}.py'}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def bench_models(context: Any) -> list[str]:
    """Time batch-1 and batch-32 inference of the example models, conv1d against PyTorch.

    Parameters
    ----------
    context : conv1d.bench.Context
        Given by ``conv1d bench --models``: its ``torch`` (the PyTorch models are the
        reference; without it the section is skipped) and its ``time`` (interleaved timing,
        ``repeat`` repetitions).

    Returns
    -------
    list of str
        Markdown lines, starting with a ``##`` heading.

    Examples
    --------
    A section of ``conv1d bench``, after the suite's cases (``--quick``: three small
    cases and short runs)::

        conv1d bench --quick --models
    """
    from .report import markdown_table, sig

    torch = getattr(context, "torch", None)
    if torch is None:
        print("--models compares with PyTorch: skipped (torch is not available)")
        return ["## Models", "", "Skipped: needs PyTorch (the reference models are PyTorch's)."]
    rows, worst = [], 0.0
    for stem, title in EXAMPLES.items():
        ex = load_example(stem)
        tmodel = ex.torch_model(np.float32).eval()
        model = ex.transfer(tmodel, ex.numpy_model(np.float32)).eval()
        for batch in BATCHES:
            x = ex.example_input(batch, np.float32)
            xt = torch.from_numpy(x)

            def run_torch(tmodel: Any = tmodel, xt: Any = xt) -> np.ndarray:
                with torch.no_grad():
                    return tmodel(xt).numpy()

            def check(out: dict[str, np.ndarray], tol: float = ex.TOLERANCE[np.dtype(np.float32)]
                      ) -> None:
                nonlocal worst
                ref = out["torch"]
                scale = float(np.abs(ref).max())
                np.testing.assert_allclose(out["conv1d"], ref, rtol=tol, atol=tol * scale)
                worst = max(worst, float(np.abs(out["conv1d"] - ref).max()) / max(scale, 1e-30))

            t = context.time({"conv1d": lambda model=model, x=x: model(x), "torch": run_torch},
                             check=check)
            ours, theirs = t["conv1d"].median, t["torch"].median
            rows.append([title, str(batch), "x".join(map(str, x.shape)), sig(ours * 1e3),
                         sig(theirs * 1e3), f"{theirs / ours:.2f}"])
            print(f"{title:26s} batch {batch:>2}: conv1d {ours * 1e3:9.3f} ms, "
                  f"torch {theirs * 1e3:9.3f} ms, ratio {theirs / ours:.2f}", flush=True)
    table = markdown_table(["model", "batch", "input", "conv1d ms", "torch ms", "torch / conv1d"],
                           rows)
    threads = getattr(context, "threads", None)
    return [
        "## Models",
        "",
        "Inference of the three models in `examples/` (ECG ResNet: BatchNorm, MaxPool, residual "
        "blocks, Linear head; TCN: causal dilated blocks, weight normalisation folded on load; "
        "WaveNet: causal, dilated, gated, skip sums), float32, eval mode (PyTorch under "
        "`torch.no_grad()`), the same weights moved through a safetensors file, median of "
        f"{context.repeat} interleaved runs in one process"
        + (f", {threads} threads" if threads else "") + ". Ratio above 1: conv1d is faster. "
        f"Largest difference from PyTorch, relative to the output's scale: {worst:.2g}.",
        "",
        table,
    ]
