"""conv1d.torch: the drop-in torch.nn.Conv1d (gradcheck, equality with PyTorch) and convert()."""

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch

import conv1d.torch as ct
from conv1d.algorithms import ALGORITHMS, Problem
from tests.oracle import tolerance

# (in, out, kernel, length, constructor keywords): every argument of torch.nn.Conv1d.
GRID = {
    "plain": (4, 3, 3, 9, {}),
    "stride2_pad1": (4, 3, 3, 10, dict(stride=2, padding=1)),
    "stride3_dil2": (2, 4, 3, 13, dict(stride=3, dilation=2, padding=2)),
    "same_even_k_dil2": (3, 2, 4, 11, dict(padding="same", dilation=2)),
    "valid": (3, 2, 5, 8, dict(padding="valid")),
    "groups2": (4, 6, 3, 9, dict(groups=2, padding=1)),
    "depthwise": (4, 4, 5, 9, dict(groups=4, padding="same")),
    "reflect": (3, 2, 3, 7, dict(padding=2, padding_mode="reflect")),
    "replicate": (3, 2, 3, 7, dict(padding=3, padding_mode="replicate")),
    "circular": (3, 2, 3, 7, dict(padding=2, padding_mode="circular")),
    "same_reflect_even_k": (2, 2, 4, 8, dict(padding="same", padding_mode="reflect")),
    "same_circular_stride1": (2, 3, 3, 6, dict(padding="same", padding_mode="circular")),
    "no_bias": (3, 2, 3, 8, dict(bias=False, padding=1)),
    "kernel_1": (3, 5, 1, 6, {}),
}
CASES = [pytest.param(*v, id=k) for k, v in GRID.items()]


def make_pair(cin, cout, k, dtype, **kw):
    """A torch.nn.Conv1d and a conv1d.torch.Conv1d with the same parameters."""
    torch.manual_seed(0)
    ref = torch.nn.Conv1d(cin, cout, k, dtype=dtype, **kw)
    ours = ct.Conv1d(cin, cout, k, dtype=dtype, **kw)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize(("cin", "cout", "k", "length", "kw"), CASES)
def test_gradcheck_float64(cin, cout, k, length, kw, unbatched):
    _, m = make_pair(cin, cout, k, torch.float64, **kw)
    x = torch.randn(*(() if unbatched else (2,)), cin, length, dtype=torch.float64, requires_grad=True)
    params = (m.weight,) if m.bias is None else (m.weight, m.bias)

    def f(x, w, b=None):
        return ct.conv1d(x, w, b, m.stride, m.padding, m.dilation, m.groups, m.padding_mode)

    assert torch.autograd.gradcheck(f, (x, *params))


def close(ours, ref, dtype, n_terms, scale):
    """Within the summation-error bound of tests/oracle.py for ``n_terms`` products of ``scale``."""
    tol = tolerance(dtype, n_terms, np.array([scale]), np.ones(1))
    np.testing.assert_allclose(ours.detach().numpy(), ref.detach().numpy(), **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("cin", "cout", "k", "length", "kw"), CASES)
def test_equals_torch(cin, cout, k, length, kw, dtype):
    ref, ours = make_pair(cin, cout, k, dtype, **kw)
    x = torch.randn(3, cin, length, dtype=dtype)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    ys = [m(xi) for m, xi in zip((ref, ours), xs, strict=True)]
    gy = torch.randn_like(ys[0])
    for y in ys:
        y.backward(gy)
    n = cin // ref.groups * k
    bound = float(x.abs().max() * ref.weight.detach().abs().max()) + 1
    close(ys[1], ys[0], x.numpy().dtype, n + 1, bound)
    fold = 1 + 2 * max(ref._reversed_padding_repeated_twice)
    close(xs[1].grad, xs[0].grad, x.numpy().dtype, fold * cout * k,
          float(gy.abs().max() * ref.weight.detach().abs().max()))
    gx_scale = float(gy.abs().max() * x.abs().max())
    close(ours.weight.grad, ref.weight.grad, x.numpy().dtype, 3 * ys[0].shape[-1], gx_scale)
    if ref.bias is not None:
        close(ours.bias.grad, ref.bias.grad, x.numpy().dtype, 3 * ys[0].shape[-1], float(gy.abs().max()))
    else:
        assert ours.bias is None


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_gradcheck_every_algorithm(name):
    m = ct.Conv1d(4, 4, 5, stride=2, padding=3, dilation=2, groups=2, padding_mode="reflect",
                  dtype=torch.float64, algorithm=name)
    x = torch.randn(2, 4, 12, dtype=torch.float64, requires_grad=True)
    problem = Problem(batch=2, in_channels=4, out_channels=4, kernel_size=5, length=18, stride=2,
                      dilation=2, groups=2, dtype=np.dtype(np.float64))
    reason = ALGORITHMS[name].unsupported(problem)
    if reason is not None:
        pytest.skip(f"{name}: {reason}")
    assert repr(m).endswith(f"algorithm={name!r})") or name == "auto"
    assert torch.autograd.gradcheck(m, (x,))


def test_functional_takes_conv1d_paddings():
    """(left, right) pairs and 'causal', which torch.nn.Conv1d lacks, match F.pad + conv1d."""
    x = torch.randn(2, 3, 10, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    for padding, pads in (((1, 3), (1, 3)), ("causal", (4, 0))):
        y = ct.conv1d(x, w, padding=padding, dilation=2, padding_mode="replicate")
        ref = torch.nn.functional.conv1d(torch.nn.functional.pad(x, pads, mode="replicate"), w,
                                         dilation=2)
        torch.testing.assert_close(y, ref)
        assert torch.autograd.gradcheck(
            lambda x, w, p=padding: ct.conv1d(x, w, padding=p, dilation=2, padding_mode="replicate"),
            (x, w))


def test_state_dict_and_constructor_are_torchs():
    ref, ours = make_pair(6, 4, 3, torch.float32, stride=2, padding="valid", groups=2, bias=False)
    assert isinstance(ours, torch.nn.Conv1d)
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["weight"]
    assert repr(ours) == repr(ref)
    back = torch.nn.Conv1d(6, 4, 3, stride=2, padding="valid", groups=2, bias=False)
    back.load_state_dict(ours.state_dict())
    torch.testing.assert_close(back.weight, ref.weight)
    clone = copy.deepcopy(ct.Conv1d(2, 2, 3, algorithm="reference"))
    assert clone.algorithm == "reference"


def test_non_contiguous_input_and_needs_input_grad():
    ref, ours = make_pair(4, 3, 3, torch.float64, padding=1)
    x = torch.randn(2, 9, 4, dtype=torch.float64).transpose(1, 2)  # (N, C, L), not contiguous
    assert not x.is_contiguous()
    y = ours(x)  # x needs no gradient: only the parameters get one
    y.sum().backward()
    ref(x).sum().backward()
    torch.testing.assert_close(y, ref(x))
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad)
    torch.testing.assert_close(ours.bias.grad, ref.bias.grad)
    ours.weight.requires_grad_(False)  # bias alone
    ours.bias.grad = None
    ours(x).sum().backward()
    torch.testing.assert_close(ours.bias.grad, ref.bias.grad)
    with torch.no_grad():
        assert not ours(x).requires_grad


def test_zero_copy_on_contiguous_cpu_tensors():
    t = torch.randn(2, 3, 5)
    assert ct._to_numpy(t).ctypes.data == t.data_ptr()
    a = np.zeros((2, 3, 5), np.float32)
    assert ct._to_tensor(a).data_ptr() == a.ctypes.data
    b = torch.randn(4, 6, dtype=torch.bfloat16)
    assert ct._to_numpy(b).ctypes.data == b.data_ptr()
    assert torch.equal(ct._to_tensor(ct._to_numpy(b)), b)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
def test_half_precision_close_to_float64(dtype):
    _, m = make_pair(4, 3, 5, dtype, padding=2)
    x = torch.randn(2, 4, 16, dtype=dtype, requires_grad=True)
    y = m(x)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == m.weight.grad.dtype == dtype
    m64 = copy.deepcopy(m).double()
    x64 = x.detach().double().requires_grad_()
    y64 = m64(x64)
    y64.sum().backward()
    # One rounding to the half type at the end: within 1% of the float64 result's scale.
    for a, b in ((y.detach(), y64.detach()), (x.grad, x64.grad), (m.weight.grad, m64.weight.grad)):
        torch.testing.assert_close(a.double(), b, rtol=0, atol=0.01 * float(b.abs().max()))


def test_errors():
    m = ct.Conv1d(2, 3, 3)
    with pytest.raises(ValueError, match=r"CPU tensors only.*meta"):
        m(torch.empty(1, 2, 8, device="meta"))
    with pytest.raises(TypeError, match=r"dtype float32, float64.*torch.int64"):
        m(torch.zeros(1, 2, 8, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"same dtype.*torch.float64.*torch.float32"):
        m(torch.zeros(1, 2, 8, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"must be a torch.Tensor, got ndarray"):
        m(np.zeros((1, 2, 8), np.float32))
    with pytest.raises(ValueError, match=r"algorithm must be one of.*'fastest'"):
        ct.Conv1d(2, 3, 3, algorithm="fastest")
    with pytest.raises(ValueError, match=r"expected input with 2 channels"):
        m(torch.zeros(1, 5, 8))
    w = m.weight.detach().clone()
    with pytest.raises(ValueError, match=r"CPU only.*meta"):
        ct.convert(torch.nn.Sequential(torch.nn.Conv1d(2, 2, 3), torch.nn.Conv1d(2, 2, 3, device="meta")))
    with pytest.raises(TypeError, match=r"torch.nn.Module"):
        ct.convert(m.weight)
    torch.testing.assert_close(m.weight, w)


class Block(torch.nn.Module):
    def __init__(self, shared):
        super().__init__()
        self.conv = torch.nn.Conv1d(4, 4, 5, padding="same", groups=4, padding_mode="circular")
        self.shared = shared
        self.convs = torch.nn.ModuleList([torch.nn.Conv1d(4, 4, 1), shared])

    def forward(self, x):
        return self.convs[1](self.convs[0](torch.relu(self.conv(x))) + self.shared(x))


class Causal(torch.nn.Conv1d):
    """A subclass with its own forward: convert must leave it alone."""

    def forward(self, x):
        return super().forward(torch.nn.functional.pad(x, (2, 0)))


def test_convert_swaps_recursively_and_keeps_state():
    torch.manual_seed(1)
    shared = torch.nn.Conv1d(4, 4, 3, padding=1)
    model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3, padding=1, padding_mode="reflect"),
                                Block(shared), Causal(4, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    x = torch.randn(3, 2, 16)
    model(x)  # materialise the lazy layer
    model.eval()
    reference = copy.deepcopy(model)
    params = dict(model.named_parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = []
    model[0].register_forward_hook(lambda *a: calls.append(1))

    assert ct.convert(model) is model
    swapped = [n for n, m in model.named_modules() if isinstance(m, ct.Conv1d)]
    assert swapped == ["0", "1.conv", "1.shared", "1.convs.0"]  # 1.convs.1 is 1.shared
    assert model[1].shared is model[1].convs[1]
    assert type(model[2]) is Causal
    assert dict(model.named_parameters()) == params  # the very same Parameter objects
    assert not model[0].training and model[0].padding_mode == "reflect"
    torch.testing.assert_close(model(x), reference(x))
    assert calls == [1]

    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    for m, o in ((model, opt), (reference, ref_opt)):
        o.zero_grad()
        m(x).square().mean().backward()
        o.step()
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, msg=name)
    assert type(ct.convert(torch.nn.Conv1d(1, 1, 3))) is ct.Conv1d


def test_bench_torch_layer_runs():
    lines = ct.bench_torch_layer(steps=1, batch=2, length=512, channels=4)
    assert lines[0].startswith("## ")
    text = "\n".join(lines)
    assert "torch.nn.Conv1d" in text and "conv1d.torch.Conv1d" in text and "Ratio" in text


def test_torch_only_imported_with_conv1d_torch():
    code = (
        "import sys, conv1d\n"
        "assert 'torch' not in sys.modules and 'safetensors' not in sys.modules\n"
        "import conv1d.torch, torch\n"
        "assert hasattr(torch.nn, 'Conv1d') and 'conv1d' not in torch.__file__\n"
        "assert issubclass(conv1d.torch.Conv1d, torch.nn.Conv1d)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
