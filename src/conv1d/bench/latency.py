"""``conv1d bench --latency`` and ``--streaming``: the cost of one small call, and of a chunk.

Deployed 1D CNNs run on small inputs (one ECG window, one audio buffer), where a call's cost is
its overhead, not its arithmetic. :func:`bench_latency` times layer calls on small shapes and
a streamed stack against PyTorch in one process; :func:`bench_streaming` the streamed stack
against the same stack run offline.

How it times
------------
Each timed block is one library calling one function :data:`CALLS` times in a row (each call
timed alone), after :data:`IDLE_S` seconds of sleep: both libraries' worker threads spin for a
while after their last call and would otherwise steal the other's cores. Blocks alternate
between the libraries, ``repeat`` blocks each; a row reports the median and the minimum over
all of a library's timed calls. Outputs are compared before timing (a benchmark of a wrong
answer is void).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .report import markdown_table, sig
from .suite import time_interleaved

__all__ = ["CALLS", "IDLE_S", "LAYERS", "bench_latency", "bench_streaming", "stack"]

#: Seconds of sleep before each timed block (see the module docstring).
IDLE_S = 0.2
#: Timed calls per block (``--quick``: :data:`QUICK_CALLS`).
CALLS = 200
QUICK_CALLS = 30
#: The layers timed: name, (N, C_in, C_out, K, L), and Conv1d's keyword arguments.
LAYERS: tuple[tuple[str, tuple[int, int, int, int, int], dict[str, Any]], ...] = (
    ("tiny layer", (1, 4, 8, 3, 32), {"padding": 1}),
    ("seed example", (20, 16, 33, 3, 50), {"stride": 2}),
    ("batch 1, 64 ch", (1, 64, 64, 3, 100), {}),
    ("batch 1, long", (1, 12, 32, 7, 5000), {}),
)
#: The streamed stack: causal Conv1d(CHANNELS, CHANNELS, 3) per dilation, ReLU between.
CHANNELS, DILATIONS, CHUNK, RATE = 64, (1, 2, 4, 8), 64, 48_000


def stack(channels: int = CHANNELS, dilations: tuple[int, ...] = DILATIONS,
          dtype: Any = np.float32) -> Any:
    """The streamed stack: causal ``Conv1d(channels, channels, 3)`` per dilation, ``ReLU`` between.

    Examples
    --------
    >>> net = stack(4, (1, 2))
    >>> net.stream().delay, net(np.zeros((1, 4, 10), np.float32)).shape
    (0, (1, 4, 10))
    """
    from ..conv import Conv1d
    from ..layers import ReLU
    from ..module import Module, Sequential

    layers: list[Module] = []
    for i, d in enumerate(dilations):
        if i:
            layers.append(ReLU())
        layers.append(Conv1d(channels, channels, 3, padding="causal", dilation=d, dtype=dtype,
                             rng=i))
    return Sequential(*layers)


def _blocks(fns: dict[str, Callable[[], Any]], repeat: int, calls: int) -> dict[str, list[float]]:
    """Per-call seconds of each function: ``repeat`` blocks of ``calls`` calls each, the
    libraries alternating, each block after :data:`IDLE_S` of sleep (the suite's timer)."""
    timings = time_interleaved(fns, repeat * calls, warmup=0, gap=IDLE_S, block=calls, wake=False)
    return {name: list(t.times) for name, t in timings.items()}


def _check(name: str, ours: Any, theirs: Any) -> None:
    ours, theirs = np.asarray(ours), theirs.detach().numpy()
    scale = max(float(np.abs(theirs).max(initial=0.0)), 1.0)
    err = float(np.abs(ours - theirs).max(initial=0.0))
    if ours.shape != theirs.shape or not err <= 1e-4 * scale:
        raise RuntimeError(f"conv1d and torch disagree on {name}: shapes {ours.shape} and "
                           f"{theirs.shape}, max abs difference {err:.3g}")


def _layer_fns(shape: tuple[int, ...], kwargs: dict[str, Any], backward: bool,
               torch: Any) -> dict[str, Callable[[], Any]]:
    """The conv1d and torch calls of one layer and pass, checked against each other."""
    from ..conv import Conv1d

    n, c_in, c_out, k, length = shape
    rng = np.random.default_rng(0)
    m = Conv1d(c_in, c_out, k, **kwargs, rng=0)
    x = rng.standard_normal((n, c_in, length), dtype=np.float32)
    gy = rng.standard_normal(m(x).shape, dtype=np.float32)

    def ours() -> Any:
        y = m(x)
        return m.backward(gy) if backward else y

    fns = {"conv1d": ours}
    if torch is None:
        return fns
    t = torch.nn.Conv1d(c_in, c_out, k, **kwargs)
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(np.asarray(m.weight)))
        t.bias.copy_(torch.from_numpy(np.asarray(m.bias)))
    xt, gyt = torch.from_numpy(x), torch.from_numpy(gy)
    xg = xt.clone().requires_grad_(True)

    def theirs() -> Any:
        if not backward:
            with torch.no_grad():
                return t(xt)
        t(xg).backward(gyt)
        gx, xg.grad = xg.grad, None  # a fresh input gradient each call, as conv1d's
        return gx

    _check(f"{shape} {'forward+backward' if backward else 'forward'}", ours(), theirs())
    fns["torch"] = theirs
    return fns


def _stream_fns(length: int, torch: Any) -> tuple[dict[str, Callable[[], Any]], Callable]:
    """Per-chunk calls of the streamed stack in conv1d and, cached_conv-style, in torch.

    Each function streams the next chunk of a long signal, starting again (a fresh stream,
    or emptied tails) when it runs out; the second return value checks a whole pass.
    """
    net = stack()
    x = np.random.default_rng(1).standard_normal((1, CHANNELS, length), dtype=np.float32)
    chunks = [x[..., i : i + CHUNK] for i in range(0, length - CHUNK + 1, CHUNK)]
    state: dict[str, Any] = {"s": net.stream(), "i": 0}

    def ours() -> Any:
        i = state["i"]
        if i == len(chunks):
            state["s"], i = net.stream(), 0
        state["i"] = i + 1
        return state["s"](chunks[i])

    fns: dict[str, Callable[[], Any]] = {"conv1d": ours}
    if torch is None:
        return fns, lambda: None
    F = torch.nn.functional
    convs = [m for m in net if hasattr(m, "weight")]
    params = [(torch.from_numpy(np.asarray(m.weight)), torch.from_numpy(np.asarray(m.bias)),
               m.dilation[0]) for m in convs]
    tchunks = [torch.from_numpy(c) for c in chunks]
    tstate: dict[str, Any] = {"i": 0}

    def fresh_tails() -> list[Any]:  # what each layer keeps: dilation * (K - 1) samples
        return [torch.zeros((1, CHANNELS, 2 * d)) for _, _, d in params]

    tstate["tails"] = fresh_tails()

    def theirs() -> Any:
        i = tstate["i"]
        if i == len(tchunks):
            tstate["tails"], i = fresh_tails(), 0
        tstate["i"] = i + 1
        y, tails = tchunks[i], tstate["tails"]
        with torch.no_grad():
            for j, (w, b, d) in enumerate(params):
                if j:
                    y = torch.relu(y)
                xc = torch.cat((tails[j], y), dim=-1)  # the kept tail, then the chunk
                tails[j] = xc[..., -2 * d :]
                y = F.conv1d(xc, w, b, dilation=d)  # no padding: the tail is the padding
        return y

    def check() -> None:
        ys = [ours() for _ in chunks]
        ts = [theirs() for _ in tchunks]
        _check("the streamed stack", np.concatenate(ys, axis=-1), torch.cat(ts, dim=-1))

    fns["torch"] = theirs
    return fns, check


def _row(label: str, times: dict[str, list[float]]) -> list[str]:
    ours = times["conv1d"]
    med = statistics.median(ours)
    row = [label, sig(med * 1e6), sig(min(ours) * 1e6)]
    if "torch" in times:
        theirs = times["torch"]
        tmed = statistics.median(theirs)
        row += [sig(tmed * 1e6), sig(min(theirs) * 1e6), f"{sig(tmed / med)}x"]
    return row


def bench_latency(context: Any = None) -> list[str]:
    """Microseconds per layer call and per streamed chunk, conv1d beside PyTorch.

    The layers of :data:`LAYERS` (float32, a ``Conv1d`` against a ``torch.nn.Conv1d`` with the
    same weights; forward under ``torch.no_grad()``, forward+backward with the input's
    gradient), and the stack of :func:`stack` streamed in 64-sample chunks at 48 kHz against
    the same stack streamed in PyTorch as cached_conv does it (per layer: the kept tail and
    the chunk concatenated, ``F.conv1d`` without padding, the tail kept).

    Parameters
    ----------
    context : conv1d.bench.Context, optional
        Given by ``conv1d bench --latency`` (its ``repeat``, ``quick`` and ``torch`` are
        used; ``torch`` ``None`` times conv1d alone). Alone: 5 blocks, PyTorch if installed.

    Returns
    -------
    list of str
        Markdown lines, starting with a ``##`` heading.

    Examples
    --------
    A section of ``conv1d bench``, after the suite's cases (``--quick``: three small
    cases and short runs)::

        conv1d bench --quick --latency

    Alone, in Python: ``bench_latency()`` prints the rows and returns the markdown.
    """
    torch = getattr(context, "torch", None) if context is not None else _torch()
    repeat = int(getattr(context, "repeat", 5))
    quick = bool(getattr(context, "quick", False))
    calls = QUICK_CALLS if quick else CALLS
    rows = []
    blank = [""] * (1 if torch is None else 2)  # the real-time factor columns
    for name, shape, kwargs in LAYERS:
        for backward in (False, True):
            fns = _layer_fns(shape, kwargs, backward, torch)
            times = _blocks(fns, repeat, calls)
            label = f"{name} {shape}, {'forward+backward' if backward else 'forward'}"
            rows.append(_row(label, times) + blank)
    length = (RATE // 4 if quick else RATE) // CHUNK * CHUNK
    fns, check = _stream_fns(length, torch)
    check()
    chunks = min(calls * 4, length // CHUNK)
    times = _blocks(fns, repeat, chunks)
    chunk_s = CHUNK / RATE
    rows.append(_row(f"streamed stack, per {CHUNK}-sample chunk", times)
                + [sig(chunk_s / statistics.median(t)) for t in times.values()])
    header = ["", "conv1d median us", "conv1d min us"]
    rtf = ["conv1d real-time factor"]
    if torch is not None:
        header += ["torch median us", "torch min us", "torch / conv1d"]
        rtf += ["torch real-time factor"]
    table = markdown_table(header + rtf, rows)
    print(table)
    return [
        "## Latency",
        "",
        "Layer calls on small inputs and a streamed stack, float32, "
        f"{'conv1d alone' if torch is None else 'conv1d beside PyTorch'} in one process: "
        f"{repeat} blocks of {calls} calls per library and row (streaming: {chunks} chunks), "
        f"the libraries alternating, each block after {IDLE_S:g} s idle; each call timed "
        "alone. Layers: `Conv1d` against `torch.nn.Conv1d` with the same weights; forward "
        "under `torch.no_grad()`, forward+backward with the input's gradient. Stream: 4 causal "
        "`Conv1d(64, 64, 3)` (dilations 1, 2, 4, 8, `ReLU` between), batch 1, 64-sample chunks at 48 kHz "
        f"(a chunk lasts {chunk_s * 1e6:.0f} us), conv1d's `net.stream()` against PyTorch "
        "cached_conv-style (per layer: `torch.cat` of the kept tail and the chunk, "
        "`F.conv1d` without padding, the tail kept). Real-time factor: the chunk's duration "
        "over the median time per chunk.",
        "",
        table,
    ]


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def bench_streaming(context: Any = None) -> list[str]:
    """Per-chunk cost of a streaming stack, beside the offline time for the same signal.

    The stack of :func:`stack`, float32, batch 1, fed 64-sample chunks of a 1 s signal at
    48 kHz (0.25 s with ``--quick``). Reports the median and minimum microseconds per chunk,
    the real-time factor (a chunk's duration over its processing time: above 1 keeps up with
    the signal) and the offline time.

    Parameters
    ----------
    context : conv1d.bench.Context, optional
        Given by ``conv1d bench --streaming`` (its ``quick`` and ``repeat`` are used); run
        alone, the defaults: a 1 s signal, 5 passes.

    Returns
    -------
    list of str
        Markdown lines, starting with a ``##`` heading.

    Examples
    --------
    A section of ``conv1d bench``, after the suite's cases (``--quick``: three small
    cases and short runs)::

        conv1d bench --quick --streaming

    Alone, in Python: ``bench_streaming()`` prints the rows and returns the markdown.
    """
    quick = bool(getattr(context, "quick", False))
    repeat = int(getattr(context, "repeat", 5))
    length = (RATE // 4 if quick else RATE) // CHUNK * CHUNK
    net = stack()
    x = np.random.default_rng(0).standard_normal((1, CHANNELS, length)).astype(np.float32)
    chunks = [x[..., i : i + CHUNK] for i in range(0, length, CHUNK)]

    per_chunk: list[float] = []
    offline: list[float] = []
    err = 0.0
    for r in range(repeat + 1):  # the first pass warms up and checks
        s = net.stream()
        times, ys = [], []
        for c in chunks:
            t0 = time.perf_counter()
            y = s(c)
            times.append(time.perf_counter() - t0)
            ys.append(y)
        ys.append(s.flush())
        t0 = time.perf_counter()
        y_off = net(x)
        t_off = time.perf_counter() - t0
        if r == 0:
            err = float(np.max(np.abs(np.concatenate(ys, axis=-1) - y_off)))
            continue
        per_chunk += times
        offline.append(t_off)
    med, best = statistics.median(per_chunk), min(per_chunk)
    off = statistics.median(offline)
    chunk_s = CHUNK / RATE
    rows = [
        ["streaming, per chunk", sig(med * 1e6), sig(best * 1e6), sig(chunk_s / med)],
        ["offline, whole signal", sig(off * 1e6), sig(min(offline) * 1e6), sig(length / RATE / off)],
        ["offline, per 64 samples", sig(off * 1e6 * CHUNK / length), "", ""],
    ]
    table = markdown_table(["", "median us", "min us", "real-time factor @ 48 kHz"], rows)
    print(table)
    return [
        "## Streaming",
        "",
        f"A stack of 4 causal `Conv1d({CHANNELS}, {CHANNELS}, 3)` (dilations 1, 2, 4, 8, `ReLU` "
        f"between), float32, batch 1, fed {CHUNK}-sample chunks of a {length}-sample signal "
        f"({length / RATE:g} s at 48 kHz; a chunk lasts {chunk_s * 1e6:.0f} us), {repeat} passes. "
        "Real-time factor: the audio's duration over the time spent on it (above 1 keeps up). "
        f"Largest difference from the offline output: {err:.2g}.",
        "",
        table,
    ]
