"""``conv1d demo``: the seed example, then a small 1D CNN trained from scratch.

The classifier tells sine, square and sawtooth waves apart (random frequency, phase,
amplitude and noise, generated from a fixed seed), using only ``conv1d``: Conv1d, ReLU,
global average pooling, cross-entropy and Adam.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import cast

import numpy as np

from . import Conv1d, CrossEntropyLoss, GlobalAvgPool1d, ReLU, Sequential, optim
from .progress import progress

CLASSES = ("sine", "square", "sawtooth")

DESCRIPTION = (
    "Show the seed example (Conv1d(16, 33, 3, stride=2) on a (20, 16, 50) input), then train a "
    "small 1D CNN from scratch to tell noisy sine, square and sawtooth waves apart, using only "
    "conv1d (Conv1d, ReLU, global average pooling, cross-entropy and Adam), and save a picture "
    "of its training curve and learned filters. The picture needs matplotlib "
    "(pip install 'conv1d[plot]'); without it the demo says so at the start and trains anyway."
)


def waveforms(n: int, length: int = 128, rng: np.random.Generator | None = None,
              noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy waves ``(n, 1, length)`` float32 and their class labels ``(n,)``.

    Examples
    --------
    >>> x, y = waveforms(6, rng=np.random.default_rng(0))
    >>> x.shape, x.dtype, y.shape
    ((6, 1, 128), dtype('float32'), (6,))
    """
    rng = np.random.default_rng(0) if rng is None else rng
    labels = rng.integers(0, len(CLASSES), n)
    t = np.arange(length) / length
    cycles = rng.uniform(2, 8, (n, 1))  # periods in the window
    phase = rng.uniform(0, 1, (n, 1))
    u = (cycles * t + phase) % 1.0  # position within the period, in [0, 1)
    waves = np.stack([np.sin(2 * np.pi * u), np.where(u < 0.5, 1.0, -1.0), 2 * u - 1])
    x = waves[labels, np.arange(n)] * rng.uniform(0.5, 2.0, (n, 1))
    x += noise * rng.standard_normal((n, length))
    return x[:, None, :].astype(np.float32), labels


def model(rng: np.random.Generator) -> Sequential:
    """An all-convolutional classifier: three conv layers, then the mean over time."""
    return Sequential(
        Conv1d(1, 16, 9, stride=2, padding=4, rng=rng), ReLU(),
        Conv1d(16, 32, 5, stride=2, padding=2, rng=rng), ReLU(),
        Conv1d(32, len(CLASSES), 3, padding=1, rng=rng),
        GlobalAvgPool1d(),
    )


def accuracy(net: Sequential, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of ``x`` that ``net`` classifies as ``y`` says.

    Examples
    --------
    >>> x, y = waveforms(30, rng=np.random.default_rng(0))
    >>> 0.0 <= accuracy(model(np.random.default_rng(0)), x, y) <= 1.0
    True
    """
    return float(np.mean(net(x).argmax(axis=1) == y))


def train(epochs: int = 8, seed: int = 0, n_train: int = 2000, n_test: int = 500,
          batch: int = 50, quiet: bool = False) -> tuple[Sequential, dict[str, list[float]]]:
    """Train the classifier; return it and its history (loss per step, accuracy per epoch)."""
    rng = np.random.default_rng(seed)
    x_train, y_train = waveforms(n_train, rng=rng)
    x_test, y_test = waveforms(n_test, rng=rng)
    net = model(rng)
    loss_fn = CrossEntropyLoss()
    opt = optim.Adam(net.parameters(), lr=3e-3)
    history: dict[str, list[float]] = {"loss": [], "test_accuracy": []}
    steps = range(epochs * (n_train // batch))
    order = np.arange(n_train)  # reshuffled at the start of each epoch
    devnull = open(os.devnull, "w") if quiet else None
    try:
        for step in progress(steps, desc="training", file=devnull):
            if step % (n_train // batch) == 0:
                order = rng.permutation(n_train)
            idx = order[(step % (n_train // batch)) * batch:][:batch]
            opt.zero_grad()
            loss = loss_fn(net(x_train[idx]), y_train[idx])
            net.backward(loss_fn.backward())
            opt.step()
            history["loss"].append(loss)
            if (step + 1) % (n_train // batch) == 0:
                history["test_accuracy"].append(accuracy(net, x_test, y_test))
    finally:
        if devnull is not None:
            devnull.close()
    return net, history


def save_figure(path: str, net: Sequential, history: dict[str, list[float]]) -> None:
    """The training curve and the learned first-layer filters, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_filt) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(history["loss"], lw=0.8, label="training loss")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("cross-entropy")
    ax_acc = ax_loss.twinx()
    steps_per_epoch = len(history["loss"]) // max(len(history["test_accuracy"]), 1)
    epochs_x = [(i + 1) * steps_per_epoch for i in range(len(history["test_accuracy"]))]
    ax_acc.plot(epochs_x, history["test_accuracy"], "o-", color="C1", label="held-out accuracy")
    ax_acc.set_ylim(0, 1.02)
    ax_acc.set_ylabel("held-out accuracy")
    ax_loss.set_title("Training")
    lines = ax_loss.get_lines() + ax_acc.get_lines()
    ax_loss.legend(lines, [line.get_label() for line in lines], loc="center right")
    first = np.asarray(cast(Conv1d, net[0]).weight)[:, 0, :]  # (16, K)
    lim = float(np.abs(first).max())
    image = ax_filt.imshow(first, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    fig.colorbar(image, ax=ax_filt, label="weight")
    ax_filt.set_title(f"Learned first-layer filters ({first.shape[0]} x {first.shape[1]} taps)")
    ax_filt.set_xlabel("tap")
    ax_filt.set_ylabel("filter")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def check_writable(path: str) -> None:
    """Raise ``OSError`` unless a file can be written at ``path`` (checked before any work).

    Examples
    --------
    >>> check_writable("/no/such/folder/demo.png")
    Traceback (most recent call last):
    OSError: cannot write '/no/such/folder/demo.png': folder '/no/such/folder' does not exist
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OSError(f"cannot write {path!r}: folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK) or os.path.isdir(path) or (
        os.path.exists(path) and not os.access(path, os.W_OK)
    ):
        raise OSError(f"cannot write {path!r}: permission denied or not a file")


def have_matplotlib() -> bool:
    """Whether matplotlib imports: asked before training, so a missing one costs no time.

    Examples
    --------
    >>> isinstance(have_matplotlib(), bool)
    True
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Run ``conv1d demo [--output PNG] [--epochs N] [--seed S]``; return the exit status.

    Without matplotlib the demo prints a one-line note first, trains, and saves no picture
    (exit status 0: the picture is the optional part). An output path that cannot be written
    is refused at once (exit status 2), as are bad options (argparse's usage error).

    Examples
    --------
    >>> main(["--epochs", "0"])  # checked before any work
    Traceback (most recent call last):
    SystemExit: 2
    """
    parser = argparse.ArgumentParser(prog="conv1d demo", description=DESCRIPTION)
    parser.add_argument("--output", default="conv1d-demo.png",
                        help="where to save the PNG (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=8, help="training epochs (default: 8)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the dataset and the initial weights (default: 0)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be positive, got {args.epochs}")
    plot = have_matplotlib()
    if plot:
        try:
            check_writable(args.output)
        except OSError as e:
            print(f"conv1d demo: error: {e}", file=sys.stderr)
            return 2
    else:
        print("conv1d demo: matplotlib is not installed, so no picture will be saved "
              "(pip install 'conv1d[plot]'); training anyway.", file=sys.stderr)

    print("The seed example: m = Conv1d(16, 33, 3, stride=2); y = m(x)")
    m = Conv1d(16, 33, 3, stride=2, rng=args.seed)
    x = np.random.default_rng(args.seed).standard_normal((20, 16, 50), dtype=np.float32)
    y = m(x)
    print(f"  {m}\n  input {x.shape} {x.dtype} -> output {y.shape} {y.dtype}\n")

    print(f"Training a 1D CNN to tell {', '.join(CLASSES)} waves apart (2000 train, 500 test)")
    start = time.perf_counter()
    net, history = train(epochs=args.epochs, seed=args.seed)
    elapsed = time.perf_counter() - start
    print(net)
    print("  held-out accuracy per epoch: "
          + " ".join(f"{a:.1%}" for a in history["test_accuracy"]))
    print(f"  final held-out accuracy {history['test_accuracy'][-1]:.1%} "
          f"after {elapsed:.1f} s of training")
    if not plot:
        return 0
    try:
        save_figure(args.output, net, history)
    except OSError as e:
        print(f"conv1d demo: error: cannot write {args.output!r}: {e}", file=sys.stderr)
        return 2
    print(f"  saved the training curve and first-layer filters to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
