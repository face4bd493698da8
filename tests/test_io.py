"""conv1d.save / conv1d.load: safetensors under PyTorch's keys, never pickle, all-or-nothing."""

import os
import pickle
import struct
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

import conv1d
from conv1d import Conv1d, ReLU, Sequential

MODES = ("zeros", "reflect", "replicate", "circular")


def torch_stack(dtype=torch.float32):
    """Conv1d/ReLU layers with every padding mode, 'same', dilation, groups and no bias."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv1d(3, 8, 5, padding=2, padding_mode="zeros", dtype=dtype), torch.nn.ReLU(),
        torch.nn.Conv1d(8, 8, 4, padding="same", groups=4, padding_mode="reflect", dtype=dtype),
        torch.nn.ReLU(),
        torch.nn.Conv1d(8, 6, 3, padding=2, dilation=2, padding_mode="replicate", bias=False,
                        dtype=dtype), torch.nn.ReLU(),
        torch.nn.Conv1d(6, 2, 3, stride=2, padding=1, padding_mode="circular", dtype=dtype),
    )


def conv1d_stack(dtype=np.float32):
    """The same architecture in conv1d, with other (random) weights."""
    return Sequential(
        Conv1d(3, 8, 5, padding=2, padding_mode="zeros", dtype=dtype, rng=1), ReLU(),
        Conv1d(8, 8, 4, padding="same", groups=4, padding_mode="reflect", dtype=dtype, rng=2), ReLU(),
        Conv1d(8, 6, 3, padding=2, dilation=2, padding_mode="replicate", bias=False, dtype=dtype,
               rng=3), ReLU(),
        Conv1d(6, 2, 3, stride=2, padding=1, padding_mode="circular", dtype=dtype, rng=4),
    )


@pytest.mark.parametrize(("tdtype", "ndtype", "tol"), [(torch.float32, np.float32, 1e-5),
                                                      (torch.float64, np.float64, 1e-12)])
def test_file_written_by_pytorch_gives_torchs_outputs(tmp_path, tdtype, ndtype, tol):
    path = tmp_path / "model.safetensors"
    model = torch_stack(tdtype)
    safetensors.torch.save_file(model.state_dict(), path)
    net = conv1d_stack(ndtype)
    assert conv1d.load(net, path) is net
    x = np.random.default_rng(0).standard_normal((2, 3, 40)).astype(ndtype)
    expected = model(torch.from_numpy(x)).detach().numpy()
    y = net(x)
    assert y.dtype == ndtype
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


def test_file_written_by_conv1d_loads_into_pytorch(tmp_path):
    path = tmp_path / "model.safetensors"
    net = conv1d_stack()
    conv1d.save(net, path)
    model = torch_stack()
    model.load_state_dict(safetensors.torch.load_file(path))  # strict: exactly torch's keys
    x = np.random.default_rng(1).standard_normal((2, 3, 40)).astype(np.float32)
    np.testing.assert_allclose(net(x), model(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    with safetensors.safe_open(path, "np") as f:
        assert f.metadata() == {"format": "pt"}


class Encoder(conv1d.Module):
    def __init__(self):
        self.conv = Conv1d(2, 4, 3, rng=0)
        self.act = ReLU()


class Net(conv1d.Module):
    def __init__(self, seed):
        self.encoder = Encoder()
        self.head = Sequential(Conv1d(4, 4, 1, rng=seed), ReLU(), Conv1d(4, 1, 3, bias=False, rng=seed))
        self.encoder.conv.reset_parameters(seed)


def test_nested_keys_round_trip(tmp_path):
    path = tmp_path / "net.safetensors"
    a, b = Net(seed=1), Net(seed=2)
    conv1d.save(a, path)
    keys = set(safetensors.numpy.load_file(path))
    assert keys == {"encoder.conv.weight", "encoder.conv.bias", "head.0.weight", "head.0.bias",
                    "head.2.weight"}
    conv1d.load(b, path)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(p, q, err_msg=name)


def test_values_are_cast_to_the_parameters_dtype(tmp_path):
    """As torch's load_state_dict: float64 and bfloat16 files load into a float32 model."""
    m = Conv1d(2, 3, 3, rng=0)
    w = np.random.default_rng(0).standard_normal((3, 2, 3))
    for dtype in (np.float64, ml_dtypes.bfloat16, np.float16):
        path = tmp_path / f"{np.dtype(dtype).name}.safetensors"
        safetensors.numpy.save_file({"weight": w.astype(dtype), "bias": np.ones(3, dtype)}, path)
        conv1d.load(m, path)
        assert m.weight.dtype == np.float32
        np.testing.assert_array_equal(m.weight, w.astype(dtype).astype(np.float32))
        np.testing.assert_array_equal(m.bias, 1)


def test_non_strict_loads_the_subset(tmp_path):
    path = tmp_path / "part.safetensors"
    src, dst = Net(seed=1), Net(seed=2)
    before = dst.state_dict()
    safetensors.numpy.save_file({"head.0.weight": src.head[0].weight, "other": np.ones(2)}, path)
    conv1d.load(dst, path, strict=False)
    np.testing.assert_array_equal(dst.head[0].weight, src.head[0].weight)
    np.testing.assert_array_equal(dst.head[0].bias, before["head.0.bias"])
    np.testing.assert_array_equal(dst.encoder.conv.weight, before["encoder.conv.weight"])


@pytest.fixture
def model_and_state():
    net = Sequential(Conv1d(2, 4, 3, rng=0), ReLU(), Conv1d(4, 1, 3, rng=0))
    return net, net.state_dict()


def assert_unchanged(net, state):
    after = net.state_dict()
    assert list(after) == list(state)
    for k in state:
        np.testing.assert_array_equal(after[k], state[k], err_msg=k)


def good_tensors(net):
    return {k: np.asarray(v) + 1 for k, v in net.state_dict().items()}


@pytest.mark.parametrize(("change", "error", "match"), [
    (lambda t: t.pop("2.bias"), KeyError, r"missing keys \['2.bias'\]"),
    (lambda t: t.update(extra=np.zeros(2, np.float32)), KeyError, r"unexpected keys \['extra'\]"),
    (lambda t: t.update({"0.weight": np.zeros((4, 2, 5), np.float32)}), ValueError,
     r"'0.weight'.*shape \(4, 2, 5\).*\(4, 2, 3\)"),
    (lambda t: t.update({"2.weight": np.zeros((1, 4, 3), np.int64)}), TypeError, r"'2.weight'.*I64"),
    (lambda t: t.update({"0.bias": np.zeros(4, bool)}), TypeError, r"'0.bias'.*BOOL"),
], ids=["missing", "extra", "misshaped", "int64", "bool"])
def test_bad_tensors_are_refused_and_change_nothing(tmp_path, model_and_state, change, error, match):
    net, state = model_and_state
    tensors = good_tensors(net)  # loadable, except for the one change
    change(tensors)
    path = tmp_path / "bad.safetensors"
    safetensors.numpy.save_file(tensors, path)
    with pytest.raises(error, match=match) as info:
        conv1d.load(net, path)
    assert "bad.safetensors" in str(info.value)
    assert_unchanged(net, state)


def corrupt(data: bytes) -> dict[str, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    header = data[8 : 8 + n]
    return {
        "truncated": data[:-7],
        "header_cut": data[: 8 + n // 2],
        "bad_json": data[:8] + header.replace(b'"shape"', b'"shapf"') + data[8 + n :],
        "bad_offsets": data[:8]
        + header.replace(b'"data_offsets":[0,', b'"data_offsets":[9,')
        + data[8 + n :],
        "huge_header_length": struct.pack("<Q", 1 << 40) + data[8:],
        "empty": b"",
        "garbage": bytes(range(256)) * 4,
        "json_only": b'{"a": 1}',
    }


@pytest.mark.parametrize("kind", list(corrupt(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")))
def test_corrupt_and_truncated_files_are_refused(tmp_path, model_and_state, kind):
    net, state = model_and_state
    good = tmp_path / "good.safetensors"
    safetensors.numpy.save_file(good_tensors(net), good)
    path = tmp_path / "broken.safetensors"
    path.write_bytes(corrupt(good.read_bytes())[kind])
    with pytest.raises(ValueError, match=r"broken.safetensors"):
        conv1d.load(net, path)
    assert_unchanged(net, state)


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".ckpt", ".PT"])
def test_pickle_suffixes_are_refused_with_the_conversion(tmp_path, model_and_state, suffix):
    net, state = model_and_state
    path = tmp_path / f"model{suffix}"
    torch.save(torch_stack().state_dict(), path)
    with pytest.raises(ValueError, match=r"never pickle.*safetensors\.torch\.save_file\(torch\.load"):
        conv1d.load(net, path)
    with pytest.raises(ValueError, match=r"never pickle"):
        conv1d.save(net, path)
    assert_unchanged(net, state)


@pytest.mark.parametrize("kind", ["zip", "legacy", "malicious"])
def test_pickled_data_is_never_unpickled(tmp_path, model_and_state, kind):
    """Pickle bytes under a .safetensors name are recognised, not run."""
    net, state = model_and_state
    path = tmp_path / "model.safetensors"
    marker = tmp_path / "pwned"
    if kind == "malicious":

        class Evil:
            def __reduce__(self):
                return (os.mkdir, (str(marker),))

        path.write_bytes(pickle.dumps(Evil(), protocol=4))
    else:
        torch.save(net.state_dict(), path, _use_new_zipfile_serialization=kind == "zip")
    with pytest.raises(ValueError, match=r"pickled PyTorch checkpoint.*safetensors\.torch\.save_file"):
        conv1d.load(net, path)
    assert not marker.exists()
    assert_unchanged(net, state)


def test_other_errors(tmp_path, model_and_state, monkeypatch):
    net, state = model_and_state
    with pytest.raises(FileNotFoundError, match=r"nope.safetensors"):
        conv1d.load(net, tmp_path / "nope.safetensors")
    with pytest.raises(TypeError, match=r"must be a conv1d.Module.*got Conv1d"):
        conv1d.save(torch.nn.Conv1d(1, 1, 1), tmp_path / "m.safetensors")
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(ImportError, match=r"pip install conv1d\[safetensors\]"):
        conv1d.save(net, tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())  # no file, not even a temporary one
    assert_unchanged(net, state)


def test_save_overwrites_atomically(tmp_path, model_and_state):
    net, _ = model_and_state
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"old")
    conv1d.save(net, path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    assert set(safetensors.numpy.load_file(path)) == set(net.state_dict())


def test_import_conv1d_imports_neither_safetensors_nor_torch():
    code = "import sys, conv1d; print([m for m in ('torch', 'safetensors') if m in sys.modules])"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


# -- buffers and weight normalisation ---------------------------------------------------------


class Norm(conv1d.Module):
    """BatchNorm1d's state (parameters and buffers), as a stand-in needing no layer of its own."""

    def __init__(self, c):
        self.weight = conv1d.Parameter(np.ones(c, np.float32))
        self.bias = conv1d.Parameter(np.zeros(c, np.float32))
        self.register_buffer("running_mean", np.zeros(c, np.float32))
        self.register_buffer("running_var", np.ones(c, np.float32))
        self.register_buffer("num_batches_tracked", np.array(0, np.int64))


def test_buffers_round_trip_with_torch_files(tmp_path):
    torch.manual_seed(0)
    tnet = torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3), torch.nn.BatchNorm1d(3))
    tnet(torch.randn(4, 2, 10))  # training mode: the running statistics move
    path = tmp_path / "bn.safetensors"
    safetensors.torch.save_file(tnet.state_dict(), path)
    net = Sequential(Conv1d(2, 3, 3), Norm(3))
    conv1d.load(net, path)
    bn = tnet[1]
    np.testing.assert_array_equal(net[1].running_mean, bn.running_mean.numpy())
    np.testing.assert_array_equal(net[1].running_var, bn.running_var.numpy())
    assert net[1].num_batches_tracked == 1 and net[1].num_batches_tracked.dtype == np.int64
    back = tmp_path / "back.safetensors"
    net[1].num_batches_tracked[...] = 5
    conv1d.save(net, back)
    tnet.load_state_dict(safetensors.torch.load_file(back))  # strict: buffers included
    assert tnet[1].num_batches_tracked.item() == 5
    np.testing.assert_array_equal(tnet[1].running_mean.numpy(), net[1].running_mean)


def test_buffer_dtype_rules(tmp_path):
    net = Sequential(Conv1d(2, 3, 3), Norm(3))
    state = net.state_dict()
    tensors = dict(state)
    tensors["1.num_batches_tracked"] = np.array(1.5)
    path = tmp_path / "bad.safetensors"
    safetensors.numpy.save_file(tensors, path)
    with pytest.raises(TypeError, match=r"'1\.num_batches_tracked'.*F64; integer buffers"):
        conv1d.load(net, path)
    tensors = dict(state)
    tensors["1.running_mean"] = np.zeros(3, np.int64)
    safetensors.numpy.save_file(tensors, path)
    with pytest.raises(TypeError, match=r"'1\.running_mean'.*I64; floating-point buffers"):
        conv1d.load(net, path)
    assert_unchanged(net, state)


def weight_normed(parametrize, dim=0):
    torch.manual_seed(1)
    convs = [torch.nn.Conv1d(3, 8, 3, padding=2, dilation=2), torch.nn.Conv1d(8, 4, 1)]
    wn = torch.nn.utils.parametrizations.weight_norm if parametrize else torch.nn.utils.weight_norm
    with torch.no_grad():
        net = torch.nn.Sequential(wn(convs[0], dim=dim), torch.nn.ReLU(), wn(convs[1], dim=dim))
        # Move g away from ||v|| (its initial value) so that the folding is really tested.
        for m in (net[0], net[2]):
            g = m.parametrizations.weight.original0 if parametrize else m.weight_g
            g.mul_(torch.rand_like(g) + 0.5)
    return net


@pytest.mark.parametrize("parametrize", [True, False], ids=["parametrizations", "weight_g_v"])
@pytest.mark.parametrize("dim", [0, None])
def test_weight_normalised_torch_files_load_into_plain_layers(tmp_path, parametrize, dim):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm's deprecation
        tnet = weight_normed(parametrize, dim)
    keys = list(tnet.state_dict())
    assert any(("original0" if parametrize else "weight_g") in k for k in keys)
    path = tmp_path / "wn.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in tnet.state_dict().items()}, path)
    net = Sequential(Conv1d(3, 8, 3, padding=2, dilation=2), ReLU(), Conv1d(8, 4, 1))
    conv1d.load(net, path)
    x = np.random.default_rng(0).standard_normal((2, 3, 30)).astype(np.float32)
    with torch.no_grad():
        expected = tnet(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(net[0].weight, tnet[0].weight.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(net(x), expected, rtol=1e-5, atol=1e-5)


def test_fold_weight_norm_errors(tmp_path):
    from conv1d.io import fold_weight_norm

    with pytest.raises(KeyError, match=r"'0\.weight_g' without '0\.weight_v'"):
        fold_weight_norm({"0.weight_g": np.ones((2, 1, 1))})
    with pytest.raises(ValueError, match=r"magnitude's shape \(3, 1, 1\) does not fit"):
        fold_weight_norm({"weight_g": np.ones((3, 1, 1)), "weight_v": np.ones((2, 1, 1))})
    path = tmp_path / "sn.safetensors"
    safetensors.numpy.save_file({"parametrizations.weight.original": np.ones((1, 1, 1), np.float32),
                                 "bias": np.ones(1, np.float32)}, path)
    with pytest.raises(KeyError, match="other parametrizations are not supported"):
        conv1d.load(Conv1d(1, 1, 1), path)
