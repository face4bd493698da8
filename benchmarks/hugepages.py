"""Page faults of a fresh output: what a 262 MB result (wav2vec_stem's) costs, fresh vs reused.

NumPy marks arrays of 4 MiB and more for transparent huge pages (``madvise``); glibc returns
such a large block to the system on free, so every fresh array of that size faults its pages in
again. Run ``python benchmarks/hugepages.py`` (and with ``NUMPY_MADVISE_HUGEPAGE=0``, or with
``--torch`` and ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``) to compare: it prints the median and
minimum time of filling a fresh array, and of refilling one reused buffer, with the minor page
faults per call.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time

import numpy as np

N = 4 * 512 * 31999  # wav2vec_stem's output, float32: 262 MB
REPEAT = 7


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def run(label: str, fill) -> None:
    times, counts = [], []
    for _ in range(REPEAT):
        f0, t0 = faults(), time.perf_counter()
        fill()
        times.append(time.perf_counter() - t0)
        counts.append(faults() - f0)
    print(f"{label:<44} median {statistics.median(times) * 1e3:6.1f} ms  "
          f"min {min(times) * 1e3:6.1f} ms  faults/call {statistics.median(counts):7.0f}")


def main() -> None:
    env = f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '-')}"
    if "--torch" in sys.argv:
        import torch

        torch.set_num_threads(1)
        run(f"torch.empty + fill_, {env}", lambda: torch.empty(N).fill_(1.0))
        return
    from numpy._core import multiarray

    tag = f"numpy madvise={int(multiarray._get_madvise_hugepage())}, {env}"
    run(f"fresh np.empty + fill, {tag}", lambda: np.empty(N, np.float32).fill(1.0))
    buffer = np.zeros(N, np.float32)
    run(f"reused buffer fill, {tag}", lambda: buffer.fill(1.0))


if __name__ == "__main__":
    main()
