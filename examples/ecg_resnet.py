"""An ECG ResNet, ported from PyTorch to NumPy with conv1d.

A 1D ResNet classifier for 12-lead ECG (in the style of Hannun et al., Nature Medicine 2019,
and Ribeiro et al., Nature Communications 2020): a strided stem with BatchNorm, ReLU and
MaxPool, residual blocks whose shortcut is a strided 1x1 convolution where the shape changes,
Dropout inside the blocks, global average pooling and a Linear head.

The model is written twice, in PyTorch and in conv1d, with the same structure and so the same
state-dict keys. The conv1d one is built from ``Sequential`` and ``Residual`` only, so it also
trains with NumPy alone (forward, backward, ``conv1d.optim``). The weights go from PyTorch to
conv1d through a safetensors file, as a deployment would.

Run it: ``python examples/ecg_resnet.py [--dtype float64] [--batch 8]``. It prints the largest
difference between the two outputs and fails if they differ by more than the tolerance.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any

import numpy as np

import conv1d
from conv1d import (
    AdaptiveAvgPool1d,
    BatchNorm1d,
    Conv1d,
    Dropout,
    Flatten,
    Linear,
    MaxPool1d,
    ReLU,
    Residual,
    Sequential,
)

LEADS = 12  # input channels
LENGTH = 1000  # samples: 2 s at 500 Hz
CLASSES = 5
WIDTHS = (32, 64, 128)  # channels of the stem and of each stage
KERNEL = 7

#: ``assert_allclose`` tolerances for the whole network's output. float64: the oracle's
#: relative 1e-10. float32: every layer of the oracle is within a few ulps of PyTorch (see
#: tests/oracle.py); ~15 layers in a row, with BatchNorm rescaling, stay within 1e-4 of the
#: output's scale.
TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


def block(c_in: int, c_out: int, stride: int, dropout: float, dtype: Any) -> Residual:
    """Conv-BN-ReLU-Dropout-Conv-BN beside a shortcut (a strided 1x1 conv + BN, or identity)."""
    body = Sequential(
        Conv1d(c_in, c_out, KERNEL, stride=stride, padding=KERNEL // 2, bias=False, dtype=dtype),
        BatchNorm1d(c_out, dtype=dtype),
        ReLU(),
        Dropout(dropout),
        Conv1d(c_out, c_out, KERNEL, padding=KERNEL // 2, bias=False, dtype=dtype),
        BatchNorm1d(c_out, dtype=dtype),
    )
    shortcut = None
    if stride != 1 or c_in != c_out:
        shortcut = Sequential(Conv1d(c_in, c_out, 1, stride=stride, bias=False, dtype=dtype),
                              BatchNorm1d(c_out, dtype=dtype))
    return Residual(body, shortcut)


def numpy_model(dtype: Any = np.float32, dropout: float = 0.2) -> Sequential:
    """The conv1d model: ``(N, 12, 1000) -> (N, 5)`` logits."""
    layers: list[conv1d.Module] = [
        Conv1d(LEADS, WIDTHS[0], 15, stride=2, padding=7, bias=False, dtype=dtype),
        BatchNorm1d(WIDTHS[0], dtype=dtype),
        ReLU(),
        MaxPool1d(3, stride=2, padding=1),
    ]
    c = WIDTHS[0]
    for width in WIDTHS:
        for stride in ((2, 1) if width != c else (1, 1)):
            layers += [block(c, width, stride, dropout, dtype), ReLU()]
            c = width
    layers += [AdaptiveAvgPool1d(1), Flatten(), Linear(c, CLASSES, dtype=dtype)]
    return Sequential(*layers)


def torch_model(dtype: Any = np.float32, dropout: float = 0.2, seed: int = 0) -> Any:
    """The same network in PyTorch (needs torch), with random weights and BatchNorm statistics."""
    import torch
    from torch import nn

    class TorchResidual(nn.Module):
        def __init__(self, body: nn.Module, shortcut: nn.Module | None = None) -> None:
            super().__init__()
            self.body, self.shortcut = body, shortcut

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

    def torch_block(c_in: int, c_out: int, stride: int) -> nn.Module:
        body = nn.Sequential(
            nn.Conv1d(c_in, c_out, KERNEL, stride=stride, padding=KERNEL // 2, bias=False),
            nn.BatchNorm1d(c_out), nn.ReLU(), nn.Dropout(dropout),
            nn.Conv1d(c_out, c_out, KERNEL, padding=KERNEL // 2, bias=False),
            nn.BatchNorm1d(c_out),
        )
        shortcut = None
        if stride != 1 or c_in != c_out:
            shortcut = nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False),
                                     nn.BatchNorm1d(c_out))
        return TorchResidual(body, shortcut)

    torch.manual_seed(seed)
    layers: list[nn.Module] = [
        nn.Conv1d(LEADS, WIDTHS[0], 15, stride=2, padding=7, bias=False),
        nn.BatchNorm1d(WIDTHS[0]), nn.ReLU(), nn.MaxPool1d(3, stride=2, padding=1),
    ]
    c = WIDTHS[0]
    for width in WIDTHS:
        for stride in ((2, 1) if width != c else (1, 1)):
            layers += [torch_block(c, width, stride), nn.ReLU()]
            c = width
    layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(c, CLASSES)]
    model = nn.Sequential(*layers)
    with torch.no_grad():  # BatchNorm as if trained: statistics and affine parameters not 0/1
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.num_batches_tracked.fill_(100)
    return model.to(torch.float64 if np.dtype(dtype) == np.float64 else torch.float32)


def example_input(batch: int, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    """A random ECG-shaped batch ``(batch, 12, 1000)``."""
    return np.random.default_rng(seed).standard_normal((batch, LEADS, LENGTH)).astype(dtype)


def transfer(tmodel: Any, model: conv1d.Module, path: str | None = None) -> conv1d.Module:
    """PyTorch -> safetensors file -> conv1d, as a deployment would (keys are the same)."""
    import safetensors.torch

    with tempfile.TemporaryDirectory() as tmp:
        path = path or os.path.join(tmp, "ecg_resnet.safetensors")
        safetensors.torch.save_file(tmodel.state_dict(), path)
        return conv1d.load(model, path)


def check(dtype: Any = np.float32, batch: int = 4) -> float:
    """Build both models, move the weights, compare the eval-mode outputs; the largest error."""
    import torch

    tmodel = torch_model(dtype).eval()
    model = transfer(tmodel, numpy_model(dtype)).eval()
    x = example_input(batch, dtype)
    with torch.no_grad():
        expected = tmodel(torch.from_numpy(x)).numpy()
    y = model(x)
    tol = TOLERANCE[np.dtype(dtype)]
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * scale)
    return float(np.abs(y - expected).max())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args(argv)
    err = check(np.dtype(args.dtype), args.batch)
    model = numpy_model()
    n = sum(p.size for p in model.parameters())
    print(f"ECG ResNet, {n} parameters, input ({args.batch}, {LEADS}, {LENGTH}) {args.dtype}: "
          f"conv1d equals PyTorch (largest difference {err:.2g})")


if __name__ == "__main__":
    main()
