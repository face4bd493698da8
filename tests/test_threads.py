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
def test_pool_threads_are_kept_off_the_callers_cpu_during_its_share(two_workers, monkeypatch):
    monkeypatch.setattr(threads, "place_threads", True)
    threads.parallel_map(abs, [1, 2])  # the pool and its thread exist from here on
    during = {}

    def share(i):
        if i == 0:  # the caller's own share: the pool is kept off the caller's CPU
            during["placed"] = threads._placed_for
            during["pool"] = [os.sched_getaffinity(t) for t in threads._pool_tids]
            during["caller"] = threading.get_native_id()
        return i

    assert threads.parallel_map(share, [0, 1]) == [0, 1]
    cpu, allowed = during["placed"]
    assert allowed == frozenset(os.sched_getaffinity(0))
    assert during["pool"] and all(a == set(allowed - {cpu}) for a in during["pool"])
    assert during["caller"] == threading.get_native_id()
    # released once the caller's share is done
    assert threads._placed_for is None
    assert all(os.sched_getaffinity(t) == set(allowed) for t in threads._pool_tids)


@linux_two_cpus
def test_placement_can_be_switched_off():
    code = ("import os, conv1d\nfrom conv1d import threads\nconv1d.set_num_threads(2)\n"
            "threads.parallel_map(abs, [1, 2]); threads.parallel_map(abs, [1, 2])\n"
            "assert not threads.place_threads\n"
            "threads.parallel_map(lambda i: threads._placed_for is None or 1 / 0, [1, 2])\n"
            "assert all(os.sched_getaffinity(t) == os.sched_getaffinity(0) "
            "for t in threads._pool_tids)\n")
    env = dict(os.environ, CONV1D_PLACE_THREADS="0")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
