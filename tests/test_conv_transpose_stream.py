"""ConvTranspose1d beyond one in-memory call: streaming, Dask, safetensors, the torch drop-in."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import conv1d
from conv1d import functional as F
from conv1d.dask_transpose import plan_blocks
from conv1d.functional_transpose import ConvTransposeSpec

da = pytest.importorskip("dask.array")

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def layers(draw):
    """A random float64 ConvTranspose1d and a valid input length for it."""
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k, stride, dilation = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    op = draw(st.integers(0, max(stride, dilation) - 1))
    length = draw(st.integers(1, 30))
    full = (length - 1) * stride + dilation * (k - 1) + 1
    left = draw(st.integers(0, min(full + op - 1, 6)))
    right = draw(st.integers(0, min(full + op - 1 - left, 6)))
    # Symmetric when that fits (left + left <= left + right keeps L_out >= 1), else the pair.
    padding = left if draw(st.booleans()) and left <= right else (left, right)
    m = conv1d.ConvTranspose1d(cin, cout, k, stride, padding, op, groups, draw(st.booleans()),
                               dilation, dtype=np.float64, rng=draw(st.integers(0, 99)),
                               algorithm=draw(st.sampled_from(["auto", "gemm", "direct", "fft"])))
    return m, length


def split(draw, total):
    """Random cut points of ``range(total)``, pieces of length 0 and 1 included."""
    cuts = sorted(draw(st.lists(st.integers(0, total), max_size=6)))
    return [0, *cuts, total]


# --------------------------------------------------------------------------- streaming


@SETTINGS
@given(case=layers(), data=st.data())
def test_stream_equals_offline(case, data):
    m, length = case
    batched = data.draw(st.booleans())
    x = np.random.default_rng(0).standard_normal((2, m.in_channels, length) if batched
                                                 else (m.in_channels, length))
    s = m.stream()
    cuts = split(data.draw, length)
    parts = [s(x[..., a:b]) for a, b in itertools.pairwise(cuts)] + [s.flush()]
    np.testing.assert_allclose(np.concatenate(parts, axis=-1), m(x), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(case=layers())
def test_delay_says_when_each_output_comes(case):
    """Fed one sample at a time, output j comes with sample floor((j + delay) / stride)."""
    m, length = case
    s = m.stream()
    n_out = m.output_length(length)
    x = np.random.default_rng(1).standard_normal((1, m.in_channels, length))
    seen = 0
    for t in range(length):
        seen += s(x[..., t : t + 1]).shape[-1]
        assert seen == min(n_out, max(0, (t + 1) * s.stride - s.delay))
    assert seen + s.flush().shape[-1] == n_out
    assert s.stride == m.stride[0]


def test_stream_state_is_bounded_and_resets():
    m = conv1d.ConvTranspose1d(2, 3, 16, stride=4, padding=2, rng=0)
    s = m.stream()
    x = np.random.default_rng(0).standard_normal((1, 2, 400)).astype(np.float32)
    for i in range(0, 400, 7):
        s(x[..., i : i + 7])
        assert s.buffered <= m.spec.span
    assert s.samples == 400
    s.flush()
    with pytest.raises(RuntimeError, match="flushed"):
        s(x)
    s.reset()
    with pytest.raises(ValueError, match="before any chunk"):
        s.flush()
    s(x[0, :, :0])  # an empty unbatched chunk fixes the shape, and one sample is needed
    with pytest.raises(ValueError, match="input of length >= 1"):
        s.flush()
    with pytest.raises(ValueError, match="must match the first chunk"):
        s(x)
    with pytest.raises(ValueError, match="chunk must have 2 channels"):
        s(np.ones((3, 4)))


def test_stream_half_and_channels_last():
    m = conv1d.ConvTranspose1d(3, 2, 5, stride=2, padding=1, dtype=np.float16, rng=0,
                               data_format="channels_last")
    x = np.random.default_rng(0).standard_normal((2, 50, 3)).astype(np.float16)
    s = m.stream()
    y = np.concatenate([s(x[:, :17]), s(x[:, 17:]), s.flush()], axis=1)
    assert y.dtype == np.float16
    # Chunked sums round differently in float32 only; the float16 results agree to an ulp.
    np.testing.assert_allclose(y.astype(np.float32), m(x).astype(np.float32), rtol=1e-3,
                               atol=1e-3)


def test_stream_in_a_sequential_decoder():
    """Conv1d down, ConvTranspose1d up, streamed as one stack."""
    net = conv1d.Sequential(conv1d.Conv1d(1, 4, 4, stride=2, padding="causal", rng=0),
                            conv1d.ReLU(),
                            conv1d.ConvTranspose1d(4, 1, 4, stride=2, padding=1, rng=1))
    x = np.random.default_rng(0).standard_normal((1, 1, 101)).astype(np.float32)
    s = net.stream()
    parts = [s(x[..., i : i + 10]) for i in range(0, 101, 10)] + [s.flush()]
    np.testing.assert_allclose(np.concatenate(parts, axis=-1), net(x), rtol=1e-5, atol=1e-5)


# -------------------------------------------------------------------------------- dask


@SETTINGS
@given(case=layers(), data=st.data())
def test_dask_equals_in_memory(case, data):
    m, length = case
    x = np.random.default_rng(2).standard_normal((3, m.in_channels, length))
    cuts = split(data.draw, length)
    chunks = tuple(b - a for a, b in itertools.pairwise(cuts) if b > a)
    xd = da.from_array(x, chunks=(2, 1, chunks))
    y = m(xd)
    assert isinstance(y, da.Array) and y.shape == (3, m.out_channels, m.output_length(length))
    np.testing.assert_allclose(y.compute(scheduler="sync"), m(x), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(case=layers(), data=st.data())
def test_dask_halos_are_exact(case, data):
    """Each block reads the hull of the inputs that reach it: no sample more, none fewer."""
    m, length = case
    spec = m.spec
    cuts = split(data.draw, length)
    chunks = tuple(b - a for a, b in itertools.pairwise(cuts) if b > a)
    blocks = plan_blocks(chunks, spec)
    assert blocks[0].j0 == 0 and blocks[-1].j1 == spec.output_length(length)
    assert all(a.j1 == b.j0 for a, b in itertools.pairwise(blocks))
    k = np.arange(spec.kernel_size) * spec.dilation
    for blk in blocks:
        assert blk.j1 > blk.j0
        # Input t writes output t*s + k*d - left.
        reach = [t for t in range(length)
                 if np.any((t * spec.stride + k - spec.pad_left >= blk.j0)
                           & (t * spec.stride + k - spec.pad_left < blk.j1))]
        if reach:
            assert blk.lo <= reach[0] and reach[-1] < blk.hi
            if spec.dilation == 1:
                assert (blk.lo, blk.hi) == (reach[0], reach[-1] + 1)


def test_dask_functional_unbatched_channels_last_and_output_size():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((4, 50)), rng.standard_normal((4, 3, 6)), rng.standard_normal(3)
    kw = dict(stride=3, padding=2, output_padding=1)
    y = F.conv_transpose1d(da.from_array(x.T, chunks=(7, 4)), w, b, **kw,
                           data_format="channels_last")
    np.testing.assert_allclose(y.compute(), F.conv_transpose1d(x, w, b, **kw).T, rtol=1e-12,
                               atol=1e-12)
    m = conv1d.ConvTranspose1d(4, 3, 6, stride=3, dtype=np.float64, rng=0)
    y_mem = m(x[None], output_size=[153])
    yd = m(da.from_array(x[None], chunks=(1, 4, 11)), output_size=[153])  # forgets the input
    np.testing.assert_allclose(yd.compute(), y_mem, rtol=1e-12)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        m.backward(np.ones(yd.shape))
    with pytest.raises(TypeError, match="needs in-memory arrays"):
        F.conv_transpose1d_backward(yd, da.from_array(x), w)
    clone = pickle.loads(pickle.dumps(m))  # what a distributed scheduler ships
    np.testing.assert_allclose(clone(x), m(x), rtol=0, atol=0)


# ----------------------------------------------------------------- safetensors and torch


def test_safetensors_round_trip_with_pytorch(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    ours = conv1d.ConvTranspose1d(8, 4, 16, stride=8, padding=4, rng=0)
    path = tmp_path / "up.safetensors"
    conv1d.save(ours, path)
    theirs = torch.nn.ConvTranspose1d(8, 4, 16, stride=8, padding=4)
    theirs.load_state_dict(safetensors_torch.load_file(path))
    x = np.random.default_rng(0).standard_normal((2, 8, 30)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).numpy(), rtol=1e-5,
                                   atol=1e-5)
    back = conv1d.load(conv1d.ConvTranspose1d(8, 4, 16, stride=8, padding=4, rng=1), path)
    assert np.array_equal(back.weight, ours.weight)


@pytest.mark.parametrize("kwargs", [
    dict(), dict(stride=3, padding=1, output_padding=2), dict(groups=2, dilation=2, bias=False),
    dict(stride=2, output_padding=1, groups=4),
])
def test_torch_drop_in_gradcheck(kwargs):
    import conv1d.torch as ct

    torch.manual_seed(0)
    m = ct.ConvTranspose1d(4, 4, 3, **kwargs, dtype=torch.float64)
    ref = torch.nn.ConvTranspose1d(4, 4, 3, **kwargs, dtype=torch.float64)
    ref.load_state_dict(m.state_dict())
    x = torch.randn(2, 4, 9, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(m(x), ref(x))
    torch.testing.assert_close(m(x[0]), ref(x[0]))
    size = [ref(x).shape[-1] + 1] if m.stride[0] > 1 + m.output_padding[0] else None
    torch.testing.assert_close(m(x, output_size=size), ref(x, output_size=size))
    params = [p for p in m.parameters()]
    assert torch.autograd.gradcheck(lambda x, *p: ct.conv_transpose1d(
        x, p[0], p[1] if len(p) > 1 else None, m.stride, m.padding, m.output_padding, m.groups,
        m.dilation), (x, *params))


def test_torch_convert_covers_conv_transpose():
    import conv1d.torch as ct

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv1d(1, 8, 4, stride=2, padding=1), torch.nn.ReLU(),
                              torch.nn.ConvTranspose1d(8, 1, 4, stride=2, padding=1))
    x = torch.randn(2, 1, 64)
    before = net(x)
    weight = net[2].weight
    assert ct.convert(net, algorithm="gemm") is net
    assert type(net[2]) is ct.ConvTranspose1d and net[2].weight is weight
    assert net[2].algorithm == "gemm" and "algorithm='gemm'" in repr(net[2])
    torch.testing.assert_close(net(x), before, rtol=1e-5, atol=1e-5)
    net(x).sum().backward()
    assert net[2].weight.grad is not None
    single = ct.convert(torch.nn.ConvTranspose1d(2, 2, 3))
    assert type(single) is ct.ConvTranspose1d


def test_torch_drop_in_half():
    import conv1d.torch as ct

    torch.manual_seed(0)
    for dtype in (torch.float16, torch.bfloat16):
        m = ct.ConvTranspose1d(4, 2, 5, stride=2, dtype=dtype)
        ref = torch.nn.ConvTranspose1d(4, 2, 5, stride=2, dtype=torch.float32)
        ref.load_state_dict({k: v.float() for k, v in m.state_dict().items()})
        x = torch.randn(2, 4, 20).to(dtype)
        y = m(x)
        assert y.dtype == dtype
        # float32 accumulation, one rounding: within a half-precision ulp of the float32 result.
        torch.testing.assert_close(y.float(), ref(x.float()), rtol=1e-2, atol=1e-2)


def test_torch_drop_in_errors():
    import conv1d.torch as ct

    with pytest.raises(ValueError, match="algorithm must be one of"):
        ct.ConvTranspose1d(2, 2, 3, algorithm="nope")
    with pytest.raises(ValueError, match="zeros"):
        ct.ConvTranspose1d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(TypeError, match="same dtype"):
        ct.conv_transpose1d(torch.zeros(1, 2, 3), torch.zeros(2, 2, 3, dtype=torch.float64))


def test_spec_repr_and_problem():
    spec = ConvTransposeSpec.from_args(512, 256, 16, stride=8, padding=4)
    p = spec.problem(4, 256, np.dtype(np.float32))
    # The equivalent convolution: 256 channels in, 512 out, the full 2056 samples in.
    assert (p.in_channels, p.out_channels, p.length, p.output_length) == (256, 512, 2056, 256)


def test_bench_section_runs_and_checks_against_torch(capsys):
    from conv1d.bench import SECTIONS, load_section
    from conv1d.bench.transpose import CASES, TransposeCase, bench_transpose

    assert load_section("transpose") is bench_transpose and "transpose" in SECTIONS
    assert [c.name for c in CASES] == ["hifigan_up8", "tasnet_decoder", "unet_up2", "grouped_up2"]
    tiny = (TransposeCase("tiny", 2, 4, 2, 4, 20, 2, 1, 1, 2),)
    lines = bench_transpose(repeat=1, gap=0.0, cases=tiny)
    assert lines[0] == "## ConvTranspose1d"
    assert sum(line.startswith("| tiny") for line in lines) == 2
    assert any("Geometric mean" in line for line in lines)
