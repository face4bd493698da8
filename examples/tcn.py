"""A temporal convolutional network (TCN), ported from PyTorch to NumPy with conv1d.

The TCN of Bai, Kolter & Koltun, "An Empirical Evaluation of Generic Convolutional and
Recurrent Networks for Sequence Modeling" (arXiv:1803.01271; github.com/locuslab/TCN): stacks
of residual blocks, each two causal dilated convolutions with weight normalisation, ReLU and
Dropout, a 1x1 convolution on the shortcut where the channels change, and a Linear layer
applied at every time step.

The PyTorch model uses ``torch.nn.utils.parametrizations.weight_norm`` and the paper's
"pad both sides, then chomp the right" causal convolution; the conv1d model has plain
``Conv1d(padding="causal")`` layers. ``conv1d.load`` folds each weight-normalised pair
``(g, v)`` into ``w = g * v / ||v||`` as it reads the safetensors file. The blocks are written
as an ordinary ``Module`` subclass with its own ``forward``, line for line the PyTorch one,
and the whole model streams (``model.stream()``), since every layer is causal.

Run it: ``python examples/tcn.py [--dtype float64] [--batch 8]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any

import numpy as np

import conv1d
from conv1d import Conv1d, Dropout, Linear, Module, ModuleList, ReLU

INPUTS = 1  # input channels
LENGTH = 1024  # time steps
OUTPUTS = 10  # per-step outputs (e.g. class scores)
CHANNELS = (32, 32, 32, 32)  # one block per entry, dilation 2**i
KERNEL = 3

#: Whole-network tolerances: float64 the oracle's relative 1e-10; float32 1e-4 of the output's
#: scale for ~10 layers of a few ulps each (see tests/oracle.py).
TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


class TemporalBlock(Module):
    """Two causal dilated convolutions with ReLU and Dropout, plus the (1x1) shortcut."""

    def __init__(self, n_in: int, n_out: int, kernel: int, dilation: int, dropout: float,
                 dtype: Any) -> None:
        self.conv1 = Conv1d(n_in, n_out, kernel, dilation=dilation, padding="causal", dtype=dtype)
        self.conv2 = Conv1d(n_out, n_out, kernel, dilation=dilation, padding="causal", dtype=dtype)
        self.dropout = Dropout(dropout)
        self.relu = ReLU()
        self.downsample = Conv1d(n_in, n_out, 1, dtype=dtype) if n_in != n_out else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self.dropout(self.relu(self.conv1(x)))
        out = self.dropout(self.relu(self.conv2(out)))
        res = x if self.downsample is None else self.downsample(x)
        return self.relu(out + res)


class TCN(Module):
    """``(N, 1, L) -> (N, L, 10)``: the blocks, then a Linear layer at each time step."""

    def __init__(self, dtype: Any = np.float32, dropout: float = 0.1) -> None:
        chans = (INPUTS, *CHANNELS)
        self.blocks = ModuleList([TemporalBlock(chans[i], chans[i + 1], KERNEL, 2**i, dropout, dtype)
                                  for i in range(len(CHANNELS))])
        self.linear = Linear(CHANNELS[-1], OUTPUTS, dtype=dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for block in self.blocks:
            x = block(x)
        return self.linear(np.swapaxes(x, -1, -2))  # (N, C, L) -> (N, L, C) -> (N, L, 10)


def numpy_model(dtype: Any = np.float32) -> TCN:
    """The conv1d model."""
    return TCN(dtype)


def torch_model(dtype: Any = np.float32, seed: int = 0, dropout: float = 0.1) -> Any:
    """The PyTorch TCN with weight normalisation (needs torch), random weights."""
    import torch
    from torch import nn
    from torch.nn.utils.parametrizations import weight_norm

    class TorchTemporalBlock(nn.Module):
        def __init__(self, n_in: int, n_out: int, kernel: int, dilation: int) -> None:
            super().__init__()
            self.pad = (kernel - 1) * dilation
            self.conv1 = weight_norm(nn.Conv1d(n_in, n_out, kernel, padding=self.pad,
                                               dilation=dilation))
            self.conv2 = weight_norm(nn.Conv1d(n_out, n_out, kernel, padding=self.pad,
                                               dilation=dilation))
            self.dropout = nn.Dropout(dropout)
            self.relu = nn.ReLU()
            self.downsample = nn.Conv1d(n_in, n_out, 1) if n_in != n_out else None

        def chomp(self, x: torch.Tensor) -> torch.Tensor:  # the paper's Chomp1d
            return x[:, :, : -self.pad].contiguous()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.dropout(self.relu(self.chomp(self.conv1(x))))
            out = self.dropout(self.relu(self.chomp(self.conv2(out))))
            res = x if self.downsample is None else self.downsample(x)
            return self.relu(out + res)

    class TorchTCN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            chans = (INPUTS, *CHANNELS)
            self.blocks = nn.ModuleList([TorchTemporalBlock(chans[i], chans[i + 1], KERNEL, 2**i)
                                         for i in range(len(CHANNELS))])
            self.linear = nn.Linear(CHANNELS[-1], OUTPUTS)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for block in self.blocks:
                x = block(x)
            return self.linear(x.transpose(1, 2))

    torch.manual_seed(seed)
    model = TorchTCN()
    with torch.no_grad():  # magnitudes g away from ||v|| (their initial value), as after training
        for m in model.modules():
            if hasattr(m, "parametrizations"):
                g = m.parametrizations.weight.original0
                g.mul_(torch.rand_like(g) + 0.5)
    return model.to(torch.float64 if np.dtype(dtype) == np.float64 else torch.float32)


def example_input(batch: int, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    """A random batch ``(batch, 1, 1024)``."""
    return np.random.default_rng(seed).standard_normal((batch, INPUTS, LENGTH)).astype(dtype)


def transfer(tmodel: Any, model: conv1d.Module, path: str | None = None) -> conv1d.Module:
    """PyTorch -> safetensors file -> conv1d; ``conv1d.load`` folds the weight norms."""
    import safetensors.torch

    state = {k: v.contiguous() for k, v in tmodel.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = path or os.path.join(tmp, "tcn.safetensors")
        safetensors.torch.save_file(state, path)
        return conv1d.load(model, path)


def check(dtype: Any = np.float32, batch: int = 4, chunk: int = 64) -> float:
    """Compare with PyTorch (eval mode), and streaming in ``chunk``-sample pieces with offline."""
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
    s = model.stream()
    parts = [s(x[..., i : i + chunk]) for i in range(0, LENGTH, chunk)] + [s.flush()]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), y, rtol=tol, atol=tol * scale)
    return float(np.abs(y - expected).max())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args(argv)
    err = check(np.dtype(args.dtype), args.batch)
    print(f"TCN, input ({args.batch}, {INPUTS}, {LENGTH}) {args.dtype}: conv1d equals PyTorch "
          f"with weight normalisation folded (largest difference {err:.2g}); streaming in "
          "64-sample chunks equals offline")


if __name__ == "__main__":
    main()
