"""float16 and bfloat16: stored in half, accumulated in float32, no less accurate than PyTorch.

Error measure: the max-abs error against float64 on the same (half-rounded) data. Any result
stored in half precision is rounded once, so its max error is about half an ulp at the
output's scale whatever the algorithm; ours adds only float32 accumulation error, far below
that. So we ask ``ours <= torch's + 1 ulp`` at the output's scale (the ulp covers the luck of
where each rounding lands), and, independently of torch, that every element is within one
ulp of float64 plus the float32 summation bound.
"""

import dataclasses
import pickle
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import conv1d
import conv1d.conv
from conv1d import functional as F
from conv1d.optim import SGD, Adam
from conv1d.spec import ConvSpec
from tests.oracle import TORCH_MODE, tolerance
from tests.strategies import conv_cases

F16, BF16, F32, F64 = (np.dtype(t) for t in (np.float16, ml_dtypes.bfloat16, np.float32, np.float64))
HALVES = [pytest.param(F16, id="float16"), pytest.param(BF16, id="bfloat16")]
TORCH_DTYPE = {F16: torch.float16, BF16: torch.bfloat16, F64: torch.float64}


def ulp(v, dtype):
    """Spacing of ``dtype``'s numbers at ``|v|`` (elementwise; subnormal spacing near 0)."""
    info = ml_dtypes.finfo(dtype)
    mag = np.maximum(np.abs(np.asarray(v, np.float64)), float(info.smallest_normal))
    return np.exp2(np.floor(np.log2(mag))) * float(info.eps)


def to_torch(a, dtype):
    # torch.from_numpy takes no bfloat16; float32 holds float16 and bfloat16 values exactly.
    return None if a is None else torch.from_numpy(a.astype(np.float32)).to(TORCH_DTYPE[dtype])


def torch_run(x, w, b, gy, dtype, *, stride=1, padding=0, dilation=1, groups=1,
              padding_mode="zeros"):
    """PyTorch's output and three gradients in ``dtype``, as float64 NumPy arrays."""
    spec = ConvSpec.from_args(w.shape[1] * groups, w.shape[0], w.shape[2], stride, padding,
                              dilation, groups, padding_mode)
    xt, wt, bt = (None if a is None else to_torch(a, dtype).requires_grad_() for a in (x, w, b))
    if padding_mode == "zeros" and spec.pad_left == spec.pad_right:
        y = TF.conv1d(xt, wt, bt, spec.stride, spec.pad_left, spec.dilation, spec.groups)
    else:  # as torch.nn.Conv1d does for the other modes
        xp = TF.pad(xt, (spec.pad_left, spec.pad_right), TORCH_MODE[padding_mode])
        y = TF.conv1d(xp, wt, bt, spec.stride, 0, spec.dilation, spec.groups)
    y.backward(to_torch(gy, dtype))
    out = (y, xt.grad, wt.grad, None if bt is None else bt.grad)
    return [None if t is None else t.detach().double().numpy() for t in out]


def ours_run(x, w, b, gy, **kwargs):
    y = F.conv1d(x, w, b, **kwargs)
    g = F.conv1d_backward(gy, x, w, b, **kwargs)
    return [y, g.input, g.weight, g.bias]


def max_err(a, ref):
    return float(np.max(np.abs(a.astype(np.float64) - ref), initial=0))


CASES = [  # (N, C_in, C_out, K, L, kwargs): plain, strided/dilated, depthwise long kernel, wide
    (4, 16, 32, 3, 200, {}),
    (8, 32, 16, 5, 128, dict(stride=2, dilation=2, padding=3)),
    (2, 8, 8, 101, 400, dict(groups=8, padding="same")),
    (1, 64, 64, 31, 300, dict(padding=(20, 10))),
]


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_error_vs_float64_no_worse_than_torch(dtype, mode, case):
    n, c_in, c_out, k, length, kwargs = CASES[case]
    kwargs = dict(kwargs, padding_mode=mode)
    rng = np.random.default_rng(case)
    cg = c_in // kwargs.get("groups", 1)
    x = rng.standard_normal((n, c_in, length)).astype(dtype)
    w = (rng.uniform(-1, 1, (c_out, cg, k)) / np.sqrt(cg * k)).astype(dtype)
    b = rng.uniform(-0.5, 0.5, c_out).astype(dtype)
    y = F.conv1d(x, w, b, **kwargs)
    gy = rng.standard_normal(y.shape).astype(dtype)
    ours = ours_run(x, w, b, gy, **kwargs)
    theirs = torch_run(x, w, b, gy, dtype, **kwargs)
    exact = torch_run(*(a.astype(F64) for a in (x, w, b, gy)), F64, **kwargs)
    for name, o, t, ref in zip(("output", "input", "weight", "bias"), ours, theirs, exact,
                                  strict=True):
        assert o.dtype == dtype and o.shape == ref.shape, name
        scale = float(np.max(np.abs(ref)))
        assert max_err(o, ref) <= max_err(t, ref) + float(ulp(scale, dtype)), name


GRID = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@GRID
@given(case=conv_cases(), dtype=st.sampled_from([F16, BF16]))
def test_every_element_within_one_ulp_of_float64(case, dtype):
    x, w, b, kwargs = case
    x, w = x.astype(dtype), w.astype(dtype)
    b = None if b is None else b.astype(dtype)
    y = F.conv1d(x, w, b, **kwargs)
    gy = np.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    ours = ours_run(x, w, b, gy, **kwargs)
    exact = ours_run(*(None if a is None else a.astype(F64) for a in (x, w, b, gy)), **kwargs)
    spec = ConvSpec.from_args(w.shape[1] * kwargs["groups"], w.shape[0], w.shape[2],
                              kwargs["stride"], kwargs["padding"], kwargs["dilation"],
                              kwargs["groups"], kwargs["padding_mode"])
    c_out, cg, k = w.shape
    n_lo = y.size // c_out
    fold = 1 + spec.pad_left + spec.pad_right
    bias = np.zeros(1, F64) if b is None else b.astype(F64)
    # float32 summation bound (tests/oracle.py) for each result's sum of products.
    terms = [(cg * k + 1, x, w), (fold * (c_out // spec.groups) * k, gy, w), (n_lo, gy, x),
             (n_lo, gy, np.ones(1))]
    for name, o, ref, (n_terms, a1, a2) in zip(("output", "input", "weight", "bias"), ours,
                                                exact, terms, strict=True):
        if ref is None:
            assert o is None
            continue
        assert o.dtype == dtype, name
        a1, a2 = a1.astype(np.float32), a2.astype(np.float32)
        atol = tolerance(F32, n_terms, a1, a2)["atol"]
        if name == "output":
            atol += tolerance(F32, 1, bias, np.ones(1))["atol"]
        err = np.abs(o.astype(F64) - ref)
        assert np.all(err <= ulp(ref, dtype) + atol), name


@pytest.mark.parametrize(
    ("dtypes", "expected"),
    [
        ((F16, F16), F16), ((F16, F32), F32), ((F16, F64), F64), ((F16, np.int8), F16),
        ((F16, np.int16), F32), ((F16, np.int64), F64),
        ((BF16, BF16), BF16), ((BF16, F32), F32), ((BF16, F64), F64), ((BF16, np.int8), BF16),
        ((BF16, np.uint8), BF16), ((BF16, np.int16), F32), ((BF16, np.int64), F64),
        ((BF16, F16), F32), ((F16, BF16, F16), F32),
    ],
)
def test_promotion(dtypes, expected):
    """float16 as NumPy promotes it; bfloat16 as float16 would, except bf16 with f16 -> f32."""
    arrays = [np.ones((1, 2, 5), dtypes[0]), np.ones((3, 2, 2), dtypes[1])]
    bias = [np.ones(3, dtypes[2])] if len(dtypes) == 3 else []
    assert F.compute_dtype(*arrays, *bias) == expected
    y = F.conv1d(*arrays, *bias)
    assert y.dtype == expected
    g = F.conv1d_backward(np.ones_like(y), *arrays, *bias)
    assert g.input.dtype == g.weight.dtype == expected


def test_algorithms_never_see_half_types(monkeypatch):
    seen = []

    def spy(fn):
        def wrapped(*args):
            seen.extend(a.dtype for a in args if isinstance(a, np.ndarray))
            return fn(*args)
        return wrapped

    # The layer's own functional module: pytest's doctest import can leave a second copy
    # of conv1d.functional in sys.modules, and patching that one would spy on nothing.
    layer_f = conv1d.conv.F
    real = layer_f.get_algorithm

    def get_algorithm(name, problem):
        algo = real(name, problem)
        return dataclasses.replace(algo, forward=spy(algo.forward),
                                   grad_input=spy(algo.grad_input),
                                   grad_weight=spy(algo.grad_weight))

    monkeypatch.setattr(layer_f, "get_algorithm", get_algorithm)
    for dtype in (F16, BF16):
        m = conv1d.Conv1d(3, 4, 3, padding=1, padding_mode="reflect", dtype=dtype, rng=0)
        y = m(np.ones((2, 3, 9), dtype))
        m.backward(np.ones_like(y))
        assert y.dtype == dtype
    assert seen and set(seen) == {F32}


@pytest.mark.parametrize("dtype", HALVES)
def test_module_stores_half_parameters_initialised_as_float32(dtype):
    m = conv1d.Conv1d(4, 6, 3, groups=2, dtype=dtype, rng=7)
    m32 = conv1d.Conv1d(4, 6, 3, groups=2, rng=7)
    assert type(m.weight) is conv1d.Parameter and m.weight.dtype == m.bias.dtype == dtype
    np.testing.assert_array_equal(np.asarray(m.weight), np.asarray(m32.weight).astype(dtype))
    np.testing.assert_array_equal(np.asarray(m.bias), np.asarray(m32.bias).astype(dtype))
    x = np.random.default_rng(0).standard_normal((2, 4, 10))  # float64: cast to the layer's dtype
    y = m(x)
    gx = m.backward(np.ones(y.shape, np.float32))
    assert y.dtype == gx.dtype == m.weight.grad.dtype == m.bias.grad.dtype == dtype
    assert {v.dtype for v in m.state_dict().values()} == {dtype}
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.weight.dtype == dtype and np.array_equal(m2.weight, m.weight)


@pytest.mark.parametrize("dtype", ["float16", np.float16, "bfloat16", ml_dtypes.bfloat16, BF16])
def test_module_dtype_spellings(dtype):
    assert F.is_half(conv1d.Conv1d(1, 1, 1, dtype=dtype).weight.dtype)


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("make_opt", [
    lambda ps: SGD(ps, lr=0.05),
    lambda ps: SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3),
    # float16 cannot hold Adam's default eps=1e-8 (it rounds to 0, and 0/0 is NaN where a
    # gradient is 0: PyTorch's Adam does the same), so half layers take a representable eps.
    lambda ps: Adam(ps, lr=0.01, eps=1e-4),
], ids=["sgd", "sgd-momentum", "adam"])
def test_optimisers_train_half_parameters_in_place(dtype, make_opt):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 2, 32)).astype(np.float32)
    target = F.conv1d(x, rng.standard_normal((3, 2, 5)).astype(np.float32) / 3, padding=2)
    m = conv1d.Conv1d(2, 3, 5, padding=2, dtype=dtype, rng=1)
    params = list(m.parameters())
    ids = [id(p) for p in params]
    opt = make_opt(params)

    def loss_and_grad():
        y = m(x).astype(np.float32)
        return float(np.mean((y - target) ** 2)), 2 * (y - target) / y.size

    first, _ = loss_and_grad()
    for _ in range(30):
        opt.zero_grad()
        _, gy = loss_and_grad()
        m.backward(gy)
        opt.step()
    last, _ = loss_and_grad()
    assert [id(p) for p in m.parameters()] == ids
    for p in m.parameters():
        assert type(p) is conv1d.Parameter and p.dtype == dtype and np.all(np.isfinite(p))
    assert last < 0.5 * first


BAD = [np.complex64, np.complex128, np.bool_, object, np.str_, ml_dtypes.float8_e4m3fn]


@pytest.mark.parametrize("bad", BAD, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("where", ["input", "weight", "bias", "grad_output"])
def test_bad_dtypes_are_type_errors(bad, where):
    args = dict(input=np.ones((2, 4, 10), np.float16), weight=np.ones((3, 4, 3), np.float16),
                bias=np.ones(3, np.float16), grad_output=np.ones((2, 3, 8), np.float16))
    args[where] = np.zeros(args[where].shape, bad)
    with pytest.raises(TypeError, match=f"{where} must be a real floating-point or integer array"):
        if where == "grad_output":
            F.conv1d_backward(**args)
        else:
            F.conv1d(args["input"], args["weight"], args["bias"])


@pytest.mark.skipif(np.dtype(np.longdouble) == F64, reason="longdouble is float64 here")
def test_longdouble_is_a_type_error():
    with pytest.raises(TypeError, match="supported floating dtypes are float16, bfloat16"):
        F.conv1d(np.ones((1, 2, 5), np.longdouble), np.ones((1, 2, 3), np.float16))


@pytest.mark.parametrize("dtype", [np.complex64, np.int32, ml_dtypes.float8_e4m3fn])
def test_module_refuses_other_dtypes(dtype):
    with pytest.raises(ValueError, match="dtype must be float16, bfloat16, float32 or float64"):
        conv1d.Conv1d(2, 3, 3, dtype=dtype)


def test_ml_dtypes_is_imported_only_for_bfloat16():
    code = (
        "import sys, numpy as np, conv1d\n"
        "m = conv1d.Conv1d(2, 3, 3, dtype=np.float16, rng=0)\n"
        "m.backward(m(np.ones((1, 2, 8))))\n"
        "conv1d.functional.conv1d(np.ones((2, 6), np.float16), np.ones((1, 2, 3)))\n"
        "assert 'ml_dtypes' not in sys.modules, 'imported too early'\n"
        "assert conv1d.Conv1d(2, 3, 3, dtype='bfloat16').weight.dtype.name == 'bfloat16'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bfloat16_state_dict_round_trip():
    m = conv1d.Conv1d(2, 3, 3, dtype="bfloat16", rng=0)
    m2 = conv1d.Conv1d(2, 3, 3, dtype="bfloat16", rng=1)
    m2.load_state_dict(m.state_dict())
    assert np.array_equal(m2.weight, m.weight)
