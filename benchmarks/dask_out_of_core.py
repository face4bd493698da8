"""Out of core: a Conv1d over a Dask signal several times larger than the workers' memory.

A virtual signal from ``dask.array.random`` (generated chunk by chunk on the workers, never
whole anywhere) goes through ``Conv1d`` and is reduced with ``.sum()``, so nothing big is
gathered. The workers run with a hard memory limit and spilling to disk turned off: a worker
that went over 95% of it would be killed and the run would fail. The peak resident memory
of each worker process is sampled with psutil every 10 ms while the graph runs.

The sum is checked against an independent computation: by linearity,
``sum(y) = sum_{o,c,k} w[o,c,k] * sum(x[:, c, k*dilation - pad_left :][:L_out]) +
N * L_out * sum(bias)`` (stride 1, zero padding), made of plain Dask slices and sums.

Run (about a minute on two cores)::

    python benchmarks/dask_out_of_core.py                  # 4 GiB float32, 2 x 400 MiB
    python benchmarks/dask_out_of_core.py --gib 0.25 --memory-limit 150MiB
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from contextlib import contextmanager

import numpy as np

import conv1d

MIB = 2**20
#: Spilling to disk would hide an unbounded computation; keep the limits, turn it off.
NO_SPILL = {
    "distributed.worker.memory.target": False,
    "distributed.worker.memory.spill": False,
    "distributed.worker.memory.pause": False,
    "distributed.worker.memory.terminate": 0.95,
}


@contextmanager
def peak_rss(pids: list[int], interval: float = 0.01):
    """Sample the resident memory of ``pids`` until the block ends; yields ``{pid: peak}``."""
    import psutil

    procs = {pid: psutil.Process(pid) for pid in pids}
    peaks = {pid: p.memory_info().rss for pid, p in procs.items()}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid, p in procs.items():
                peaks[pid] = max(peaks[pid], p.memory_info().rss)
            done.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        done.set()
        thread.join()


def expected_sum(x, layer: conv1d.Conv1d):
    """The lazy sum of ``layer(x)`` by linearity (stride 1, zero padding, groups 1)."""
    spec = layer.spec
    n, _, length = x.shape
    n_out = spec.output_length(length)
    w = np.asarray(layer.weight, np.float64)
    total = 0.0 if layer.bias is None else n * n_out * float(np.sum(layer.bias, dtype=np.float64))
    for k in range(spec.kernel_size):
        a = k * spec.dilation - spec.pad_left  # output t reads x[t + a]
        per_channel = x[:, :, max(a, 0) : max(min(a + n_out, length), 0)].sum(
            axis=(0, 2), dtype=np.float64
        )
        total = total + (w[:, :, k].sum(axis=0) * per_channel).sum()
    return total


def run(client, nbytes: int, *, channels: int = 8, chunk_bytes: int = 4 * MIB,
        dtype=np.float32, seed: int = 0) -> dict:
    """Convolve a virtual ``(1, channels, L)`` signal of ``nbytes`` on ``client``; measure it.

    Returns wall time, the per-worker peak RSS and baseline (MiB), the sum and its check.
    """
    import dask
    import dask.array as da

    itemsize = np.dtype(dtype).itemsize
    length = nbytes // (channels * itemsize)
    chunk = max(1, chunk_bytes // (channels * itemsize))
    x = da.random.default_rng(seed).standard_normal(
        (1, channels, length), dtype=dtype, chunks=(1, channels, chunk)
    )
    layer = conv1d.Conv1d(channels, channels, 5, padding="same", dilation=2, dtype=dtype,
                          rng=seed)
    y = layer(x)  # lazy: (1, channels, length), chunked like x
    total = y.sum(dtype=np.float64)
    check = expected_sum(x, layer)

    pids = client.run(os.getpid)
    before = set(pids.values())
    import psutil

    baseline = {pid: psutil.Process(pid).memory_info().rss for pid in before}
    start = time.perf_counter()
    with peak_rss(list(before)) as peaks:
        got, want = dask.compute(total, check, scheduler=client)
    wall = time.perf_counter() - start
    after = set(client.run(os.getpid).values())
    return {
        "signal_mib": x.nbytes / MIB,
        "chunks": x.numblocks[2],
        "wall_s": wall,
        "peak_mib": {pid: peaks[pid] / MIB for pid in before},
        "baseline_mib": {pid: baseline[pid] / MIB for pid in before},
        "sum": float(got),
        "expected_sum": float(want),
        "workers_restarted": before != after,
    }


def main(argv: list[str] | None = None) -> None:
    import dask
    from dask.distributed import Client, LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=4.0, help="signal size (default 4)")
    parser.add_argument("--memory-limit", default="400MiB", help="per worker (default 400MiB)")
    parser.add_argument("--chunk-mib", type=float, default=8.0, help="input chunk (default 8)")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    with dask.config.set(NO_SPILL), LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, memory_limit=args.memory_limit,
        dashboard_address=None,
    ) as cluster, Client(cluster) as client:
        for _ in range(args.repeat):
            r = run(client, int(args.gib * 2**30), channels=args.channels,
                    chunk_bytes=int(args.chunk_mib * MIB))
            rel = abs(r["sum"] - r["expected_sum"]) / max(1.0, abs(r["expected_sum"]))
            print(
                f"signal {r['signal_mib']:.0f} MiB float32 in {r['chunks']} chunks, 2 workers x "
                f"{args.memory_limit}: wall {r['wall_s']:.1f} s, peak RSS per worker "
                f"{', '.join(f'{v:.0f}' for v in r['peak_mib'].values())} MiB (baseline "
                f"{', '.join(f'{v:.0f}' for v in r['baseline_mib'].values())} MiB), "
                f"sum {r['sum']:.6g} vs linearity check {r['expected_sum']:.6g} "
                f"(rel. diff {rel:.1e}), workers restarted: {r['workers_restarted']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
