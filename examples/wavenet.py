"""A causal gated WaveNet, ported from PyTorch to NumPy with conv1d, streamed in 64-sample chunks.

The WaveNet of van den Oord et al. (arXiv:1609.03499) as guitar-amp models use it (the
"WaveNet" of Neural Amp Modeler, github.com/sdatkinson/neural-amp-modeler): a 1x1 input
convolution, then layers of a causal dilated convolution to twice the channels, a gate
``tanh(a) * sigmoid(b)``, a 1x1 mixer added back to the layer's input (residual sum) and the
gated signal added to a skip sum; a 1x1 head on the skip sum. Audio in, audio out, one sample
out per sample in, so it runs on a live signal: ``model.stream()`` takes 64-sample buffers
and returns 64 samples each, equal to the offline output.

The PyTorch model pads each convolution on the left by hand (``F.pad``); the conv1d one uses
``Conv1d(padding="causal")``, with the same state-dict keys. The layers are an ordinary
``Module`` subclass whose ``forward`` mixes conv1d layers with NumPy operations (``np.tanh``,
the sums): ``model.stream()`` keeps each convolution's state between chunks while that
``forward`` runs on each chunk.

Run it: ``python examples/wavenet.py [--dtype float64] [--batch 2]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any

import numpy as np

import conv1d
from conv1d import Conv1d, Module, ModuleList

CHANNELS = 16
KERNEL = 3
DILATIONS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
LENGTH = 8192  # samples: 0.19 s at 44.1 kHz
CHUNK = 64  # samples per buffer when streaming

#: Whole-network tolerances: float64 the oracle's relative 1e-10; float32 1e-4 of the output's
#: scale for ~30 layers of a few ulps each (see tests/oracle.py).
TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` without overflow: ``(1 + tanh(z / 2)) / 2``."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class Layer(Module):
    """One gated layer: returns the next layer's input and this layer's skip contribution."""

    def __init__(self, channels: int, kernel: int, dilation: int, dtype: Any) -> None:
        self.conv = Conv1d(channels, 2 * channels, kernel, dilation=dilation, padding="causal",
                           dtype=dtype)
        self.mixer = Conv1d(channels, channels, 1, dtype=dtype)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = self.conv(x)
        c = z.shape[1] // 2
        post = np.tanh(z[:, :c]) * sigmoid(z[:, c:])
        return x + self.mixer(post), post


class WaveNet(Module):
    """``(N, 1, L) -> (N, 1, L)``, causal: output ``t`` depends on inputs ``<= t`` only."""

    def __init__(self, dtype: Any = np.float32) -> None:
        self.rechannel = Conv1d(1, CHANNELS, 1, bias=False, dtype=dtype)
        self.layers = ModuleList([Layer(CHANNELS, KERNEL, d, dtype) for d in DILATIONS])
        self.head = Conv1d(CHANNELS, 1, 1, dtype=dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        h = self.rechannel(x)
        skip = np.zeros_like(h)
        for layer in self.layers:
            h, post = layer(h)
            skip = skip + post
        return self.head(skip)


def numpy_model(dtype: Any = np.float32) -> WaveNet:
    """The conv1d model."""
    return WaveNet(dtype)


def torch_model(dtype: Any = np.float32, seed: int = 0) -> Any:
    """The same network in PyTorch (needs torch), random weights."""
    import torch
    import torch.nn.functional as TF
    from torch import nn

    class TorchLayer(nn.Module):
        def __init__(self, channels: int, kernel: int, dilation: int) -> None:
            super().__init__()
            self.pad = (kernel - 1) * dilation
            self.conv = nn.Conv1d(channels, 2 * channels, kernel, dilation=dilation)
            self.mixer = nn.Conv1d(channels, channels, 1)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            z = self.conv(TF.pad(x, (self.pad, 0)))
            c = z.shape[1] // 2
            post = torch.tanh(z[:, :c]) * torch.sigmoid(z[:, c:])
            return x + self.mixer(post), post

    class TorchWaveNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rechannel = nn.Conv1d(1, CHANNELS, 1, bias=False)
            self.layers = nn.ModuleList([TorchLayer(CHANNELS, KERNEL, d) for d in DILATIONS])
            self.head = nn.Conv1d(CHANNELS, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.rechannel(x)
            skip = torch.zeros_like(h)
            for layer in self.layers:
                h, post = layer(h)
                skip = skip + post
            return self.head(skip)

    torch.manual_seed(seed)
    return TorchWaveNet().to(torch.float64 if np.dtype(dtype) == np.float64 else torch.float32)


def example_input(batch: int, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    """A random audio batch ``(batch, 1, 8192)``, roughly in [-1, 1]."""
    rng = np.random.default_rng(seed)
    return (0.3 * rng.standard_normal((batch, 1, LENGTH))).astype(dtype)


def transfer(tmodel: Any, model: conv1d.Module, path: str | None = None) -> conv1d.Module:
    """PyTorch -> safetensors file -> conv1d (the keys are the same)."""
    import safetensors.torch

    with tempfile.TemporaryDirectory() as tmp:
        path = path or os.path.join(tmp, "wavenet.safetensors")
        safetensors.torch.save_file(tmodel.state_dict(), path)
        return conv1d.load(model, path)


def stream(model: WaveNet, x: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """``model``'s output on ``x`` computed chunk by chunk, as on a live signal."""
    s = model.stream()
    parts = [s(x[..., i : i + chunk]) for i in range(0, x.shape[-1], chunk)] + [s.flush()]
    return np.concatenate(parts, axis=-1)


def check(dtype: Any = np.float32, batch: int = 2) -> float:
    """Compare with PyTorch, and the 64-sample stream with the offline output."""
    import torch

    tmodel = torch_model(dtype).eval()
    model = transfer(tmodel, numpy_model(dtype))
    x = example_input(batch, dtype)
    with torch.no_grad():
        expected = tmodel(torch.from_numpy(x)).numpy()
    y = model(x)
    tol = TOLERANCE[np.dtype(dtype)]
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * scale)
    np.testing.assert_allclose(stream(model, x), y, rtol=tol, atol=tol * scale)
    return float(np.abs(y - expected).max())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args(argv)
    err = check(np.dtype(args.dtype), args.batch)
    print(f"WaveNet, input ({args.batch}, 1, {LENGTH}) {args.dtype}: conv1d equals PyTorch "
          f"(largest difference {err:.2g}); streaming in {CHUNK}-sample chunks equals offline")


if __name__ == "__main__":
    main()
