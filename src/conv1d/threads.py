"""How many threads conv1d computes with: BLAS's, ``scipy.fft``'s and its own.

:func:`set_num_threads` sets all three at once: the BLAS behind NumPy's ``matmul`` (through
threadpoolctl), the module-level :data:`workers` that the FFT algorithm passes to
``scipy.fft(..., workers=)``, and the size of the small thread pool the direct algorithm splits
its chunks over (NumPy's loops release the GIL, so chunks run in parallel). On Linux the
pool's threads are kept off the calling thread's CPU while it runs its own share of a call
(:data:`place_threads`).
"""

from __future__ import annotations

import numbers
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

__all__ = ["get_num_threads", "parallel_map", "set_num_threads", "workers"]


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


#: Threads for conv1d's own parallel loops and for ``scipy.fft``'s ``workers=``. Read it at
#: call time (``threads.workers``), never copy it at import.
workers: int = _available_cores()

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_tids: list[int] = []  # the pool threads' kernel thread ids


def _getcpu() -> Callable[[], int] | None:
    """``sched_getcpu`` from the C library (Linux), else ``None``."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).sched_getcpu
    except (OSError, AttributeError):
        return None
    fn.restype, fn.argtypes = ctypes.c_int, []
    return fn


_sched_getcpu = _getcpu()
#: While the calling thread runs its own share of a split call, keep the pool's threads off
#: the CPU it is on (Linux; ``CONV1D_PLACE_THREADS=0`` in the environment turns it off); when
#: its share is done they may run anywhere again, so that a pool thread still waiting for a
#: CPU can take the caller's. After an idle moment Linux tends to wake a pool thread on its
#: waker's CPU, and both halves of the call then share one core until the load balancer moves
#: one (milliseconds): on the 2-core VM, unet_up2's transposed forward in blocks of 4 calls
#: after 0.2 s idle ran at 3.7-7.3 ms unplaced, 3.1-4.5 ms placed; two processes contending
#: for the 2 cores made 341-348 calls/s together either way.
place_threads: bool = os.environ.get("CONV1D_PLACE_THREADS", "1") != "0"
#: (caller's CPU, caller's allowed CPUs) while the pool is kept off that CPU, else None.
_placed_for: tuple[int, frozenset[int]] | None = None


def _register() -> None:
    """A new pool thread: recorded, and placed as the others are (the placement in force)."""
    _pool_tids.append(threading.get_native_id())
    placed = _placed_for
    if placed is not None:
        cpu, allowed = placed
        try:
            os.sched_setaffinity(0, (allowed - {cpu}) or allowed)
        except OSError:
            pass


def _set_pool_affinity(cpus: frozenset[int]) -> None:
    for tid in list(_pool_tids):
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:  # the thread has ended, or the system refuses: no placement then
            pass


def _place() -> None:
    """Keep the pool threads off the CPU the caller is on now (see :data:`place_threads`)."""
    global _placed_for
    if _sched_getcpu is None:
        return
    cpu = _sched_getcpu()
    allowed = frozenset(os.sched_getaffinity(0))
    if len(allowed) < 2 or cpu not in allowed:
        return
    _placed_for = (cpu, allowed)  # first: a pool thread starting now places itself so
    _set_pool_affinity(allowed - {cpu})


def _release() -> None:
    """Let the pool threads run on every CPU the caller may use again."""
    global _placed_for
    placed, _placed_for = _placed_for, None
    if placed is not None:
        _set_pool_affinity(placed[1])


def set_num_threads(n: int) -> None:
    """Use ``n`` threads: BLAS (via threadpoolctl), ``scipy.fft`` and conv1d's own loops.

    Parameters
    ----------
    n : int
        A positive number of threads. The BLAS limit applies to the BLAS libraries loaded
        when it is called (NumPy's is always loaded).

    Raises
    ------
    TypeError
        If ``n`` is not an int.
    ValueError
        If ``n < 1``.

    Examples
    --------
    >>> import conv1d
    >>> before = conv1d.get_num_threads()
    >>> conv1d.set_num_threads(1)
    >>> conv1d.get_num_threads()
    1
    >>> conv1d.set_num_threads(before)
    """
    global workers
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n}")
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=int(n), user_api="blas")
    workers = int(n)


def get_num_threads() -> int:
    """The number of threads conv1d uses (set by :func:`set_num_threads`; default: all cores).

    Examples
    --------
    >>> get_num_threads() >= 1
    True
    """
    return workers


def parallel_map(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``[fn(i) for i in items]``, spread over :data:`workers` threads (in order).

    Runs inline when there is one worker or one item, so small calls pay nothing. With at
    most :data:`workers` items the first runs on the calling thread while the pool runs the
    rest: one hand-off to the pool instead of one per item, and the caller does not sit idle
    (a hand-off, a thread wake-up, costs 20-80 us on the 2-core VM).

    Examples
    --------
    >>> parallel_map(lambda i: i * i, range(4))
    [0, 1, 4, 9]
    """
    global _pool, _pool_size, _placed_for
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    if _pool is None or _pool_size != workers:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool_tids.clear()
        _placed_for = None
        _pool = ThreadPoolExecutor(workers, thread_name_prefix="conv1d", initializer=_register)
        _pool_size = workers
    if len(items) > workers:
        return list(_pool.map(fn, items))
    placed = place_threads and _placed_for is None  # (another call may be placing it)
    if placed:
        _place()
    futures = []
    try:
        futures = [_pool.submit(fn, i) for i in items[1:]]
        first = fn(items[0])
    finally:
        if placed:
            _release()
        wait(futures)  # the pool's items finish (or fail) before this returns or raises
    return [first, *(f.result() for f in futures)]
