"""Per-call plans (``conv1d.plan``): same results bit for bit, same errors, bounded, thread-safe.

The unplanned path is the data path itself, called directly: ``functional._prepare`` (all the
validation) -> ``functional.forward`` / ``functional.backward``. Plans must equal it exactly
(``assert_array_equal``), whichever algorithm runs and whether the small-problem GEMM kernel or
the generic path does; PyTorch agreement then follows from the oracle tests of that path.
"""

from __future__ import annotations

import pickle
import re
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import conv1d
from conv1d import functional as F
from conv1d import plan
from conv1d.algorithms import ALGORITHMS, gemm
from conv1d.autotune import autotune, tuned
from conv1d.padding import pad, pad_backward
from conv1d.spec import DATA_FORMATS, ConvSpec
from tests.strategies import conv_cases

GRID = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def fresh_plans():
    plan.clear()
    yield
    plan.clear()


def as_layout(x, layout):
    """``x`` in another memory layout, same values: C order, Fortran order or a strided view."""
    if layout == "F":
        return np.asfortranarray(x)
    if layout == "strided":
        big = np.repeat(x, 2, axis=-1)
        big[..., 1::2] = np.nan  # what a view must never read
        return big[..., ::2]
    return x


def unplanned_forward(x, w, b, algorithm="auto", data_format="channels_first", **kw):
    args = (kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1), kw.get("groups", 1),
            kw.get("padding_mode", "zeros"))
    xx, ww, bb, spec, unbatched = F._prepare(x, w, b, *args, data_format)
    y = F.to_format(F.forward(xx, ww, bb, spec, algorithm), data_format)
    return y[0] if unbatched else y


def unplanned_backward(gy, x, w, b, algorithm="auto", data_format="channels_first", **kw):
    args = (kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1), kw.get("groups", 1),
            kw.get("padding_mode", "zeros"))
    xx, ww, bb, spec, unbatched = F._prepare(x, w, b, *args, data_format)
    gyy = F.grad_output_batch(gy, xx, spec, unbatched, data_format)
    g = F.backward(gyy, xx, ww, bb is not None, spec, algorithm)
    gx = F.to_format(g.input, data_format)
    return g._replace(input=gx[0] if unbatched else gx)


def assert_same(got, want):
    assert type(got) is type(want)
    if isinstance(want, tuple):
        for a, b in zip(got, want, strict=True):
            assert_same(a, b)
    elif want is None:
        assert got is None
    else:
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def raised(fn):
    """``(type, message)`` of what ``fn()`` raises."""
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


# ---------------------------------------------------------------------------------------
# exactness


@GRID
@given(case=conv_cases(), algorithm=st.sampled_from(sorted(ALGORITHMS)),
       data_format=st.sampled_from(DATA_FORMATS), layout=st.sampled_from(["C", "F", "strided"]))
def test_functional_plans_equal_the_unplanned_path(case, algorithm, data_format, layout):
    x, w, b, kw = case
    if data_format == "channels_last":
        x = np.swapaxes(x, -1, -2)
    x = as_layout(x, layout)
    try:
        want = unplanned_forward(x, w, b, algorithm, data_format, **kw)
    except ValueError as exc:  # an algorithm that cannot run this: the plan says the same
        assert raised(lambda: F.conv1d(x, w, b, **kw, algorithm=algorithm,
                                       data_format=data_format)) == (ValueError, str(exc))
        return
    for _ in range(2):  # the call that builds the plan, then one that finds it
        assert_same(F.conv1d(x, w, b, **kw, algorithm=algorithm, data_format=data_format), want)
    gy = np.random.default_rng(0).standard_normal(want.shape).astype(want.dtype)
    want_g = unplanned_backward(gy, x, w, b, algorithm, data_format, **kw)
    for _ in range(2):
        got_g = F.conv1d_backward(gy, x, w, b, **kw, algorithm=algorithm, data_format=data_format)
        assert_same(got_g, want_g)


@GRID
@given(case=conv_cases(), data_format=st.sampled_from(DATA_FORMATS),
       algorithm=st.sampled_from(["auto", "gemm"]))
def test_layer_plans_equal_the_unplanned_path(case, data_format, algorithm):
    x, w, b, kw = case
    c_out, cg, k = w.shape
    g = kw["groups"]
    m = conv1d.Conv1d(cg * g, c_out, k, kw["stride"], kw["padding"], kw["dilation"], g,
                      b is not None, kw["padding_mode"], dtype=x.dtype, algorithm=algorithm,
                      data_format=data_format)
    m.weight[...] = w
    if b is not None:
        m.bias[...] = b
    if data_format == "channels_last":
        x = np.swapaxes(x, -1, -2)
    want = unplanned_forward(x, w, b, algorithm, data_format, **kw)
    gy = np.random.default_rng(1).standard_normal(want.shape).astype(want.dtype)
    want_g = unplanned_backward(gy, x, w, b, algorithm, data_format, **kw)
    for i in range(2):
        assert_same(m(x), want)
        assert_same(m.backward(gy), want_g.input)
        assert_same(m.weight.grad, (i + 1) * want_g.weight if i else want_g.weight)
        if b is not None:
            np.testing.assert_array_equal(m.bias.grad, want_g.bias * (i + 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n", "c_in", "c_out", "k", "length", "conv"), [
    (1, 4, 8, 3, 32, dict(padding=1)),
    (20, 16, 33, 3, 50, dict(stride=2)),
    (3, 6, 4, 4, 19, dict(stride=3, dilation=2, padding=(5, 1), padding_mode="reflect", groups=2)),
    (2, 3, 6, 2, 11, dict(padding=(0, 4), padding_mode="replicate", groups=3)),
    (1, 2, 2, 1, 9, dict(stride=2)),
])
@pytest.mark.parametrize("bias", [True, False])
def test_small_problems_run_the_gemm_kernel_exactly_as_gemm(dtype, n, c_in, c_out, k, length,
                                                           conv, bias):
    """The kernel is gemm's one chunk: compare it with gemm itself on the padded input."""
    rng = np.random.default_rng(2)
    g = conv.get("groups", 1)
    x = rng.standard_normal((n, c_in, length)).astype(dtype)
    w = rng.standard_normal((c_out, c_in // g, k)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if bias else None
    y = F.conv1d(x, w, b, **conv, algorithm="gemm")
    p = plan.FUNCTIONAL_PLANS.get(plan.call_key(
        x, w, b, (conv.get("stride", 1), conv.get("padding", 0), conv.get("dilation", 1), g,
                  conv.get("padding_mode", "zeros"), "gemm", "channels_first")))
    assert p is not None
    assert p.kernel is not None or dtype == np.float64  # (the seed example's is too big then)
    spec = ConvSpec.from_args(c_in, c_out, k, conv.get("stride", 1), conv.get("padding", 0),
                              conv.get("dilation", 1), g, conv.get("padding_mode", "zeros"))
    xp = pad(x, spec.pad_left, spec.pad_right, spec.padding_mode)
    args = (spec.stride, spec.dilation, g)
    np.testing.assert_array_equal(y, gemm.forward(xp, w, *args, b))
    gy = rng.standard_normal(y.shape).astype(dtype)
    grads = F.conv1d_backward(gy, x, w, b, **conv, algorithm="gemm")
    gxp = gemm.grad_input(gy, w, xp.shape[-1], *args)
    np.testing.assert_array_equal(grads.input, pad_backward(gxp, spec.pad_left, spec.pad_right,
                                                            spec.padding_mode))
    np.testing.assert_array_equal(grads.weight, gemm.grad_weight(gy, xp, k, *args))


def test_big_problems_take_the_generic_path():
    x = np.zeros((4, 64, 4096), np.float32)
    w = np.zeros((64, 64, 3), np.float32)
    F.conv1d(x, w, algorithm="gemm")
    (p,) = plan.FUNCTIONAL_PLANS._plans.values()
    assert p.kernel is None and p.algo is ALGORITHMS["gemm"]


# ---------------------------------------------------------------------------------------
# keys: a new signature gets a new plan, and the errors it is due


def test_each_new_signature_gets_its_own_plan():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 20)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3)).astype(np.float32)
    calls = [
        (x, w, {}),
        (x[:, :, :19], w, {}),  # shape
        (x.astype(np.float64), w, {}),  # dtype
        (np.asfortranarray(x), w, {}),  # memory order
        (x[0], w, {}),  # unbatched
        (x.transpose(0, 2, 1), w, {"data_format": "channels_last"}),  # layout
        (x, w, {"padding": 1}),  # an argument
        (x, w, {"padding": (1,)}),  # the same value in another form
        (x, w, {"stride": np.int64(1)}),
        (x, w, {"algorithm": "reference"}),
        (x, w.astype(np.float64), {}),  # the weight's dtype
    ]
    plans = []
    for i, (xi, wi, kw) in enumerate(calls):
        y = F.conv1d(xi, wi, **kw)
        assert len(plan.FUNCTIONAL_PLANS) == i + 1
        np.testing.assert_array_equal(y, unplanned_forward(xi, wi, None, **kw))
        plans.append(plan.FUNCTIONAL_PLANS._plans[next(reversed(plan.FUNCTIONAL_PLANS._plans))])
    assert len({id(p) for p in plans}) == len(calls)
    F.conv1d(x, w)  # seen before: no new plan
    assert len(plan.FUNCTIONAL_PLANS) == len(calls)


BAD_AFTER_GOOD = [
    # (arguments that differ from a cached valid call's, in a way validation refuses)
    dict(stride=True),
    dict(stride=1.0),
    dict(stride=np.bool_(True)),
    dict(stride=(True,)),
    dict(padding=(1.0,)),
    dict(padding=(1, True)),
    dict(padding=[1, 2.0]),
    dict(dilation=0),
    dict(groups=2.0),
    dict(groups=np.float64(1)),
    dict(padding_mode="circle"),
    dict(algorithm="fast"),
    dict(data_format="channels_middle"),
    dict(padding="same", stride=2),
    dict(padding=30, padding_mode="reflect"),
    dict(input=np.zeros((2, 5, 20), np.float32)),  # channels
    dict(input=np.zeros((2, 4, 1), np.float32)),  # too short
    dict(input=np.zeros((2, 4, 20), np.complex64)),
    dict(input=np.zeros((2, 4, 20), bool)),
    dict(input=np.zeros((4, 20, 2), np.float32), data_format="channels_last"),
    dict(weight=np.zeros((6, 4, 3), np.int8).astype(object)),
    dict(weight=np.zeros((6, 2, 3), np.float32)),  # groups don't match
    dict(bias=np.zeros(5, np.float32)),
    dict(bias=np.zeros(6, complex)),
]


@pytest.mark.parametrize("bad", BAD_AFTER_GOOD, ids=lambda d: repr(d)[:60])
def test_a_refused_call_after_a_cached_one_raises_what_it_always_did(bad):
    good = dict(input=np.zeros((2, 4, 20), np.float32), weight=np.zeros((6, 4, 3), np.float32),
                bias=np.zeros(6, np.float32))
    call = good | bad
    args = (call.pop("input"), call.pop("weight"), call.pop("bias"))
    plan.clear()
    fresh = raised(lambda: F.conv1d(*args, **call))  # with no plan anywhere
    F.conv1d(*good.values())
    if call.get("data_format") == "channels_last":  # a cached channels-last plan too
        F.conv1d(good["input"].transpose(0, 2, 1), *args[1:], data_format="channels_last")
    assert raised(lambda: F.conv1d(*args, **call)) == fresh
    gy = np.zeros((2, 6, 18), np.float32)
    plan.clear()
    fresh_b = raised(lambda: F.conv1d_backward(gy, *args, **call))
    F.conv1d_backward(gy, *good.values())
    assert raised(lambda: F.conv1d_backward(gy, *args, **call)) == fresh_b
    assert len(plan.FUNCTIONAL_PLANS) == 1  # no refused call left a plan (only the good one)


@pytest.mark.parametrize("gy", [np.zeros((2, 6, 17)), np.zeros((6, 18)), np.zeros((2, 6, 18), complex),
                                [[[0.0] * 18] * 6] * 2, np.zeros((2, 6, 18), bool)],
                         ids=["shape", "unbatched", "complex", "list", "bool"])
def test_grad_output_is_checked_against_the_planned_output(gy):
    x, w = np.ones((2, 4, 20), np.float32), np.ones((6, 4, 3), np.float32)
    fresh = None
    try:
        fresh_value = unplanned_backward(gy, x, w, None)
    except (TypeError, ValueError) as exc:
        fresh = (type(exc), str(exc))
    F.conv1d(x, w)  # the plan exists
    if fresh is None:
        assert_same(F.conv1d_backward(gy, x, w), fresh_value)
    else:
        assert raised(lambda: F.conv1d_backward(gy, x, w)) == fresh
    m = conv1d.Conv1d(4, 6, 3, rng=0)
    m(x)
    if fresh is not None:
        want = fresh[1].replace("the output's shape", "the last output's shape")
        assert raised(lambda: m.backward(gy)) == (fresh[0], want)


def test_layer_errors_after_a_cached_plan():
    m = conv1d.Conv1d(4, 6, 3, padding=2, padding_mode="reflect", rng=0)
    m(np.zeros((2, 4, 20), np.float32))
    for bad in (np.zeros((2, 5, 20), np.float32), np.zeros((2, 4, 2), np.float32),
                np.zeros((2, 4, 20), complex), np.zeros((4, 20))[None, None]):
        new = conv1d.Conv1d(4, 6, 3, padding=2, padding_mode="reflect", rng=0)
        assert raised(lambda b=bad: m(b)) == raised(lambda b=bad, new=new: new(b))


# ---------------------------------------------------------------------------------------
# bounds


def test_functional_plans_are_bounded_least_recently_used_first():
    w = np.zeros((2, 1, 3), np.float32)
    first = np.zeros((1, 1, 3), np.float32)
    F.conv1d(first, w)
    for length in range(4, plan.MAX_PLANS + 20):
        F.conv1d(np.zeros((1, 1, length), np.float32), w)
        F.conv1d(first, w)  # used again and again: never the least recently used
        assert len(plan.FUNCTIONAL_PLANS) <= plan.MAX_PLANS
    assert len(plan.FUNCTIONAL_PLANS) == plan.MAX_PLANS
    assert plan.FUNCTIONAL_PLANS.get(plan.call_key(first, w, None, (
        1, 0, 1, 1, "zeros", "auto", "channels_first"))) is not None
    assert plan.FUNCTIONAL_PLANS.get(plan.call_key(np.zeros((1, 1, 4), np.float32), w, None, (
        1, 0, 1, 1, "zeros", "auto", "channels_first"))) is None


def test_layer_plans_are_bounded():
    m = conv1d.Conv1d(1, 2, 3, rng=0)
    for length in range(3, 30):
        m(np.zeros((1, 1, length), np.float32))
        assert len(m._plans) <= plan.MAX_LAYER_PLANS
    assert len(m._plans) == plan.MAX_LAYER_PLANS


def test_plans_keep_no_caller_arrays_and_one_idle_buffer_set():
    x = np.ones((1, 4, 32), np.float32)
    w = np.ones((8, 4, 3), np.float32)
    F.conv1d(x, w, padding=1, algorithm="gemm")
    (p,) = plan.FUNCTIONAL_PLANS._plans.values()
    assert p.w is None and p.b is None and p.kernel is not None
    assert len(p.kernel._free) == 1
    nbytes = sum(a.nbytes for a in p.kernel._free[0] if isinstance(a, np.ndarray)
                 and a.base is None)
    assert nbytes <= plan.SMALL_BYTES


# ---------------------------------------------------------------------------------------
# threads


@pytest.mark.parametrize("algorithm", ["auto", "gemm"])  # gemm: the kernel's buffer sets
@pytest.mark.parametrize("what", ["layer", "functional"])
def test_concurrent_calls_each_get_their_own_result(what, algorithm):
    """One layer (or one plan) called from 8 threads at once, each with its own input."""
    rng = np.random.default_rng(4)
    m = conv1d.Conv1d(4, 8, 3, padding=2, padding_mode="reflect", algorithm=algorithm, rng=0)
    w, b = np.asarray(m.weight), np.asarray(m.bias)
    xs = [rng.standard_normal((2, 4, 40)).astype(np.float32) for _ in range(8)]
    gys = [rng.standard_normal((2, 8, 42)).astype(np.float32) for _ in range(8)]
    kw = dict(padding=2, padding_mode="reflect", algorithm=algorithm)
    want = [unplanned_forward(x, w, b, **kw) for x in xs]
    want_g = [unplanned_backward(gy, x, w, b, **kw) for x, gy in zip(xs, gys, strict=True)]
    start = threading.Barrier(8)
    errors = []

    def work(i):
        try:
            start.wait()
            for _ in range(150):
                if what == "layer":
                    np.testing.assert_array_equal(m(xs[i]), want[i])
                else:
                    np.testing.assert_array_equal(F.conv1d(xs[i], w, b, **kw), want[i])
                    g = F.conv1d_backward(gys[i], xs[i], w, b, **kw)
                    np.testing.assert_array_equal(g.input, want_g[i].input)
                    np.testing.assert_array_equal(g.weight, want_g[i].weight)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


# ---------------------------------------------------------------------------------------
# what a layer's plan must not cache


def test_layer_sees_weights_changed_in_place_or_replaced():
    rng = np.random.default_rng(5)
    m = conv1d.Conv1d(3, 4, 3, padding=1, rng=0)
    x = rng.standard_normal((1, 3, 16)).astype(np.float32)
    m(x)
    m.weight *= 2  # an optimiser's in-place step
    m.bias[...] = 1
    assert_same(m(x), unplanned_forward(x, np.asarray(m.weight), np.asarray(m.bias), padding=1))
    m.weight = conv1d.Parameter(rng.standard_normal((4, 3, 3)).astype(np.float32))
    assert_same(m(x), unplanned_forward(x, np.asarray(m.weight), np.asarray(m.bias), padding=1))
    m.bias = None
    assert_same(m(x), unplanned_forward(x, np.asarray(m.weight), None, padding=1))
    m.algorithm = "reference"
    y = m(x)
    assert m._plan.algo is ALGORITHMS["reference"]
    assert_same(y, unplanned_forward(x, np.asarray(m.weight), None, "reference", padding=1))


def test_weights_replaced_between_forward_and_backward():
    rng = np.random.default_rng(6)
    m = conv1d.Conv1d(3, 4, 3, rng=0)
    x = rng.standard_normal((2, 3, 10)).astype(np.float32)
    gy = rng.standard_normal((2, 4, 8)).astype(np.float32)
    m(x)
    m.weight = conv1d.Parameter(rng.standard_normal((4, 3, 3)).astype(np.float32))
    got = m.backward(gy)
    want = unplanned_backward(gy, x, np.asarray(m.weight), np.asarray(m.bias))
    assert_same(got, want.input)
    np.testing.assert_array_equal(m.weight.grad, want.weight)


def test_a_pickled_layer_drops_its_plans_and_builds_new_ones():
    m = conv1d.Conv1d(2, 3, 3, rng=0)
    x = np.ones((1, 2, 8), np.float32)
    y = m(x)
    m2 = pickle.loads(pickle.dumps(m))
    assert m2._plans is None and m2._plan is None
    np.testing.assert_array_equal(m2(x), y)


def test_autotune_turned_on_after_a_plan_is_built_still_measures():
    x, w = np.ones((1, 4, 32), np.float32), np.ones((8, 4, 3), np.float32)
    F.conv1d(x, w)
    try:
        autotune(True, reset=True)
        y = F.conv1d(x, w)
        assert [kind for kind, _ in tuned()] == ["forward"]
    finally:
        autotune(False, reset=True)
    np.testing.assert_array_equal(y, unplanned_forward(x, w, None))


def test_call_key_examples():
    x, w = np.zeros((1, 2, 8)), np.zeros((3, 2, 3))
    args = (1, 0, 1, 1, "zeros", "auto", "channels_first")
    assert plan.call_key(x, w, None, args) == plan.call_key(x.copy(), w.copy(), None, args)
    assert plan.call_key(x, w, None, args) != plan.call_key(x, w, None, (1.0, *args[1:]))
    assert plan.call_key(x, w, None, (np.zeros(1), *args[1:])) is None  # unhashable
    with pytest.raises(TypeError, match=re.escape("stride must be an int or a 1-tuple of int")):
        F.conv1d(x, w, stride=np.zeros(1))


def test_backward_reuses_only_the_last_forwards_columns():
    """The layer keeps the GEMM columns of its last forward for backward, and only those."""
    rng = np.random.default_rng(7)
    m = conv1d.Conv1d(3, 4, 3, stride=2, padding=1, algorithm="gemm", rng=0)
    x1, x2 = (rng.standard_normal((2, 3, 21)).astype(np.float32) for _ in range(2))
    gy = rng.standard_normal((2, 4, 11)).astype(np.float32)
    w, b = np.asarray(m.weight), np.asarray(m.bias)
    kw = dict(stride=2, padding=1, algorithm="gemm")
    m(x1)
    m(x2)  # the columns of x1 go back to the kernel, x2's are kept
    kernel = m._plan.kernel
    assert kernel is not None and m._cols[2] is m._input
    got = m.backward(gy)
    want = unplanned_backward(gy, x2, w, b, **kw)
    assert_same(got, want.input)
    np.testing.assert_array_equal(m.weight.grad, want.weight)
    assert "_cols" not in m.__dict__ and len(kernel._free) == 1
    m.weight.grad = None
    m.backward(gy)  # a second backward recomputes the columns
    np.testing.assert_array_equal(m.weight.grad, want.weight)
    m(x1)
    assert m._cols is not None
    m(x1.tolist())  # the unplanned path gives back what a planned forward kept
    assert "_cols" not in m.__dict__ and len(kernel._free) == 1


# ---------------------------------------------------------------------------------------
# the native kernels' packed weights and the thread pool's hand-off


@pytest.mark.skipif("native" not in ALGORITHMS, reason="native kernels not built")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_packed_weights_follow_in_place_updates(dtype):
    """The dense kernel's packed weight is kept between calls and reused only while the weight
    holds the bytes it was packed from: each result equals the one from a fresh copy of the
    weight (packed afresh), bit for bit."""
    rng = np.random.default_rng(30)
    m = conv1d.Conv1d(16, 24, 3, padding=1, algorithm="native", dtype=dtype, rng=0)  # dense
    x = rng.standard_normal((1, 16, 50)).astype(dtype)
    w2 = rng.standard_normal((24, 16, 3)).astype(dtype)

    def fresh(w, b):
        return unplanned_forward(x, w.copy(), None if b is None else b.copy(), "native", padding=1)

    for step in range(4):
        assert_same(m(x), fresh(np.asarray(m.weight), np.asarray(m.bias)))
        if step == 0:
            m.weight *= -1  # an optimiser's in-place step
        elif step == 1:
            m.weight[3, 2, 1] = 7  # one element
        elif step == 2:
            m.weight[...] = w2
    # Two weights of one shape taking turns through the functional call.
    w1 = np.asarray(m.weight)
    for w in (w1, w2, w1, w2):
        assert_same(F.conv1d(x, w, padding=1, algorithm="native"), fresh(w, None))


@pytest.fixture
def two_threads():
    before = conv1d.get_num_threads()
    conv1d.set_num_threads(2)
    yield
    conv1d.set_num_threads(before)


def test_parallel_map_runs_the_first_item_inline_in_order_and_raises_after_all_finish(
        two_threads):
    caller = threading.get_ident()
    where = conv1d.threads.parallel_map(lambda i: (i, threading.get_ident()), [0, 1])
    assert [i for i, _ in where] == [0, 1] and where[0][1] == caller and where[1][1] != caller
    assert conv1d.threads.parallel_map(lambda i: i * i, range(5)) == [0, 1, 4, 9, 16]
    done = []

    def work(i):
        if i == 0:
            raise ValueError("first share")
        done.append(i)

    with pytest.raises(ValueError, match="first share"):
        conv1d.threads.parallel_map(work, [0, 1])
    assert done == [1]  # the pool's share finished before the error came out
