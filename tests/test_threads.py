"""conv1d's own thread pool: results in order, errors raised, and where its threads may run."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

import conv1d
from conv1d import threads

linux_two_cpus = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or threads._sched_getcpu is None
    or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux's sched_getcpu and at least two CPUs",
)


@pytest.fixture
def two_workers():
    before = conv1d.get_num_threads()
    conv1d.set_num_threads(2)
    yield
    conv1d.set_num_threads(before)


def test_results_in_order_and_errors_raised(two_workers):
    assert threads.parallel_map(lambda i: i * i, range(5)) == [0, 1, 4, 9, 16]
    assert threads.parallel_map(lambda i: i + 1, [1, 2]) == [2, 3]

    def boom(i):
        if i == 1:
            raise ValueError("item 1")
        return i

    with pytest.raises(ValueError, match="item 1"):
        threads.parallel_map(boom, [0, 1])


@linux_two_cpus
def test_pool_threads_are_kept_off_the_callers_cpu(two_workers, monkeypatch):
    monkeypatch.setattr(threads, "place_threads", True)
    seen = {}

    def where(i):
        seen[i] = threading.get_native_id()
        return i

    threads.parallel_map(where, [0, 1])
    threads.parallel_map(where, [0, 1])  # the pool exists now: placed before this call
    cpu, allowed = threads._placed_for
    assert allowed == frozenset(os.sched_getaffinity(0))
    assert threads._pool_tids, "the pool registered its threads"
    for tid in threads._pool_tids:
        assert os.sched_getaffinity(tid) == set(allowed - {cpu})
    assert seen[0] == threading.get_native_id()  # the first item runs on the caller


@linux_two_cpus
def test_placement_can_be_switched_off():
    code = ("import os, conv1d\nfrom conv1d import threads\nconv1d.set_num_threads(2)\n"
            "threads.parallel_map(abs, [1, 2]); threads.parallel_map(abs, [1, 2])\n"
            "assert not threads.place_threads and threads._placed_for is None\n"
            "assert all(os.sched_getaffinity(t) == os.sched_getaffinity(0) "
            "for t in threads._pool_tids)\n")
    env = dict(os.environ, CONV1D_PLACE_THREADS="0")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
