"""Dask arrays in, lazy Dask arrays out, equal to the in-memory result (conv1d.dask).

Threaded scheduler: the full hypothesis grid of :func:`tests.strategies.conv_cases` on random
chunkings (batch, channels, length; chunks of one sample included, so chunks shorter than the
kernel's halo). A two-process ``LocalCluster`` (started once for the module): fewer random
cases, the layer shipped to a worker, and a signal larger than a worker's memory limit.
"""

from __future__ import annotations

import importlib.util
import itertools
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import conv1d
from conv1d import functional as F
from conv1d.dask import plan_blocks
from conv1d.spec import ConvSpec
from tests.strategies import conv_cases

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "dask_out_of_core.py"
MEMORY_LIMIT = 192 * 2**20  # per worker; a bare worker process holds about 60-90 MiB

# float64: the blocks run the in-memory algorithm on the same samples, so only a different
# algorithm choice for a block's shape (or summation order) can differ: 1e-12 (issue 4).
# float32: the same, at float32's epsilon scale times the number of terms summed.
# float16: results are rounded once from float32 (2**-11 relative); allow a few units.
TOL = {np.dtype(np.float16): 4e-3, np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def split(draw, total: int, min_size: int = 1) -> tuple[int, ...]:
    """A random split of ``total`` into chunks of at least ``min_size`` (one chunk if 0)."""
    if total <= min_size:
        return (total,)
    cuts = sorted(draw(st.sets(st.integers(1, total - 1), max_size=8)))
    bounds = [0, *cuts, total]
    return tuple(b - a for a, b in itertools.pairwise(bounds) if b > a)


@st.composite
def dask_cases(draw, max_length=40):
    """``(x, w, b, kwargs, chunks)``: a conv_cases convolution and a random chunking."""
    x, w, b, kwargs = draw(conv_cases(max_length=max_length))
    chunks = tuple(split(draw, n) for n in x.shape)
    return x, w, b, kwargs, chunks


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    tol = TOL[want.dtype]
    scale = 1.0 + (np.abs(want).max() if want.size else 0.0)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


def check(case, scheduler) -> None:
    x, w, b, kwargs, chunks = case
    y = F.conv1d(da.from_array(x, chunks=chunks), w, b, **kwargs)
    want = F.conv1d(x, w, b, **kwargs)
    assert isinstance(y, da.Array)
    assert y.shape == want.shape and y.dtype == want.dtype
    # Chunked along batch like the input, one chunk along channels.
    assert y.chunks[-2] == (want.shape[-2],)
    if x.ndim == 3:
        assert y.chunks[0] == chunks[0]
    assert_same(y.compute(scheduler=scheduler), want)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dask_cases())
def test_equals_in_memory_threaded(case):
    check(case, "threads")


@settings(max_examples=60, deadline=None)
@given(conv_cases(max_length=60), st.data())
def test_plan_covers_outputs_and_reads_exactly_the_halo(case, data):
    """Blocks tile the output, line up with the stride, and read exactly their windows."""
    x, w, _, kwargs = case
    spec = ConvSpec.from_args(w.shape[1] * kwargs["groups"], w.shape[0], w.shape[2],
                              kwargs["stride"], kwargs["padding"], kwargs["dilation"],
                              kwargs["groups"], kwargs["padding_mode"])
    length = x.shape[-1]
    chunks = split(data.draw, length)
    blocks = plan_blocks(chunks, spec)
    assert [b.t0 for b in blocks[1:]] == [b.t1 for b in blocks[:-1]]
    assert blocks[0].t0 == 0 and blocks[-1].t1 == spec.output_length(length)
    bounds = np.cumsum((0, *chunks))
    for blk in blocks:
        assert blk.t1 > blk.t0
        assert blk.lo == blk.t0 * spec.stride - spec.pad_left
        assert blk.hi == (blk.t1 - 1) * spec.stride - spec.pad_left + spec.span
        # Inside the signal, the chunks read are exactly those overlapping [lo, hi).
        inside = {i for i in range(len(chunks))
                  if bounds[i] < min(blk.hi, length) and bounds[i + 1] > max(blk.lo, 0)}
        assert inside <= set(blk.sources)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_padding_only_at_true_ends(mode):
    """Chunks of 1 sample (far below the halo) with padding wider than a chunk, every mode."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 17))
    w = rng.standard_normal((4, 3, 4))
    kwargs = dict(padding=(5, 6), dilation=2, padding_mode=mode)
    y = F.conv1d(da.from_array(x, chunks=(1, 2, 1)), w, **kwargs)
    assert_same(y.compute(scheduler="threads"), F.conv1d(x, w, **kwargs))


def test_layer_channels_last_and_unbatched():
    rng = np.random.default_rng(2)
    m = conv1d.Conv1d(3, 5, 3, stride=2, padding="causal", padding_mode="replicate",
                      dtype=np.float64, rng=0, data_format="channels_last")
    x = rng.standard_normal((2, 50, 3))
    for xi in (x, x[0]):
        y = m(da.from_array(xi, chunks=(7, 3) if xi.ndim == 2 else (1, 7, 3)))
        assert isinstance(y, da.Array)
        assert_same(y.compute(scheduler="threads"), m(xi))


def test_half_precision_storage():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 40)).astype(np.float16)
    w = rng.standard_normal((4, 3, 3)).astype(np.float16)
    kwargs = dict(stride=2, padding=1, padding_mode="reflect")
    y = F.conv1d(da.from_array(x, chunks=(1, 3, 7)), w, **kwargs)
    assert_same(y.compute(scheduler="threads"), F.conv1d(x, w, **kwargs))


def test_lazy_and_snapshot_of_weights():
    """Nothing runs at call time; later in-place weight updates don't change the graph."""
    m = conv1d.Conv1d(2, 2, 3, padding="same", dtype=np.float64, rng=0)
    x = np.random.default_rng(3).standard_normal((1, 2, 30))
    want = m(x)
    y = m(da.from_array(x, chunks=(1, 2, 8)))
    m.weight[...] += 1.0
    assert_same(y.compute(scheduler="threads"), want)


def test_backward_after_dask_forward_is_refused():
    m = conv1d.Conv1d(2, 2, 3, rng=0)
    y = m(da.zeros((1, 2, 10), chunks=5, dtype=np.float32))
    with pytest.raises(RuntimeError, match="dask array"):
        m.backward(np.ones(y.shape, np.float32))


@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        (da.zeros((1, 2, 10), dtype=bool), {}, TypeError, "dtype bool"),
        (da.zeros((2, 2, 2, 10)), {}, ValueError, "2-D .* or 3-D"),
        (da.zeros((1, 3, 10)), {}, ValueError, "2 channels"),
        (da.zeros((1, 2, 4)), {"padding": 4, "padding_mode": "reflect"}, ValueError, "reflect"),
        (da.zeros((1, 2, 10)), {"algorithm": "nope"}, ValueError, "algorithm must be one of"),
    ],
)
def test_errors_are_raised_at_call_time(x, kwargs, error, match):
    with pytest.raises(error, match=match):
        F.conv1d(x, np.ones((2, 2, 3)), **kwargs)


def test_unknown_chunk_sizes():
    x = da.zeros((1, 2, 10), chunks=5)
    x = x[:, :, x[0, 0] >= 0]  # boolean indexing: lengths unknown until computed
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        F.conv1d(x, np.ones((2, 2, 3)))


# --- dask.distributed ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    import dask

    bench = load_benchmark()
    with dask.config.set(bench.NO_SPILL), distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, memory_limit=MEMORY_LIMIT,
        dashboard_address=None,
    ) as cluster, distributed.Client(cluster, set_as_default=False) as c:
        yield c


def load_benchmark():
    spec = importlib.util.spec_from_file_location("dask_out_of_core", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@settings(max_examples=25, deadline=None)
@given(case=dask_cases())
def test_equals_in_memory_distributed(client, case):
    check(case, client)


def test_layer_pickles_to_a_worker(client):
    m = conv1d.Conv1d(3, 4, 5, padding=2, padding_mode="circular", dtype=np.float64, rng=0)
    x = np.random.default_rng(4).standard_normal((2, 3, 40))
    m(x)  # remembers its input; the pickle leaves it out
    assert pickle.loads(pickle.dumps(m))._input is None
    assert_same(client.submit(m, x).result(), m(x))
    assert_same(m(da.from_array(x, chunks=(1, 3, 6))).compute(scheduler=client), m(x))


def test_out_of_core_bounded_memory(client):
    """A float64 signal larger than a worker's memory limit, reduced on the cluster.

    Spilling is off and a worker is killed at 95% of its limit, so finishing with the same
    workers means each stayed under the limit; the measured peak is checked as well.
    """
    bench = load_benchmark()
    nbytes = 256 * 2**20
    r = bench.run(client, nbytes, channels=2, chunk_bytes=4 * 2**20, dtype=np.float64)
    assert not r["workers_restarted"]
    assert r["sum"] == pytest.approx(r["expected_sum"], rel=1e-9)
    for pid, peak in r["peak_mib"].items():
        assert peak * 2**20 < MEMORY_LIMIT
        # The working set is a few chunks per task, far below the signal.
        assert (peak - r["baseline_mib"][pid]) * 2**20 < nbytes / 4


def test_sequential_stays_lazy_and_backward_refuses_dask():
    net = conv1d.Sequential(conv1d.Conv1d(2, 4, 3, padding=1, rng=0), conv1d.ReLU(),
                            conv1d.Conv1d(4, 1, 3, rng=1))
    x = np.random.default_rng(0).standard_normal((2, 2, 50))
    y = net(da.from_array(x, chunks=(1, 2, 10)))
    assert isinstance(y, da.Array)
    # The layers compute in float32: a 10-sample block and the whole signal run matrix products
    # of different sizes, whose summation order BLAS may choose differently (a few ulps).
    np.testing.assert_allclose(y.compute(), net(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="conv1d_backward needs in-memory arrays"):
        F.conv1d_backward(np.ones((2, 1, 48)), da.from_array(x), np.ones((1, 2, 3)))
