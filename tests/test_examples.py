"""The examples/ scripts: each model ported from PyTorch matches it; the ResNet trains as it."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import conv1d

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NAMES = ["ecg_resnet", "tcn", "wavenet"]


def load_example(name):
    """The script as a module, imported by path (examples/ is not a package)."""
    key = f"conv1d_example_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_example_matches_pytorch(name, dtype):
    # check() asserts the outputs (and for tcn/wavenet the 64-sample stream) within the
    # example's tolerances: float64 relative 1e-10 as the oracle, float32 1e-4 of the scale.
    err = load_example(name).check(dtype, batch=2)
    assert err < (1e-4 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_example_script_runs(name, capsys):
    load_example(name).main(["--batch", "1"])
    assert "equals PyTorch" in capsys.readouterr().out


def test_wavenet_streams_in_64_sample_chunks_like_offline():
    ex = load_example("wavenet")
    model = ex.numpy_model(np.float64)
    x = ex.example_input(1, np.float64)[..., :1000]  # not a multiple of 64
    y = model(x)
    np.testing.assert_allclose(ex.stream(model, x), y, rtol=1e-12, atol=1e-14)
    s = model.stream()
    assert (s.delay, s.stride) == (0, 1)
    assert s(x[..., :64]).shape == (1, 1, 64)


def test_example_state_dict_keys_equal_torchs():
    for name in NAMES:
        ex = load_example(name)
        tkeys = list(ex.torch_model().state_dict())
        keys = list(ex.numpy_model().state_dict())
        if name == "tcn":  # weight norm pairs fold into one weight (torch lists it after bias)
            tkeys = sorted(k.replace("parametrizations.weight.original0", "weight") for k in tkeys
                           if not k.endswith("original1"))
            keys = sorted(keys)
        assert keys == tkeys, name


def test_resnet_training_step_matches_torch_optim():
    """One step of the ECG ResNet (Sequential/Residual) in training mode: BatchNorm with batch
    statistics, SGD with momentum and weight decay; gradients, parameters and running
    statistics equal torch's. Dropout is put in eval mode on both sides (its random masks
    cannot be shared)."""
    ex = load_example("ecg_resnet")
    tmodel = ex.torch_model(np.float64).train()
    model = ex.transfer(tmodel, ex.numpy_model(np.float64)).train()
    for m in list(model.modules()) + list(tmodel.modules()):
        if type(m).__name__ == "Dropout":
            m.eval()
    opt = conv1d.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    rng = np.random.default_rng(0)
    x = ex.example_input(6, np.float64)
    target = rng.integers(0, ex.CLASSES, 6)
    loss_fn, tloss_fn = conv1d.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    for step in range(2):
        opt.zero_grad()
        loss = loss_fn(model(x), target)
        model.backward(loss_fn.backward())
        topt.zero_grad()
        tloss = tloss_fn(tmodel(torch.from_numpy(x)), torch.from_numpy(target))
        tloss.backward()
        assert loss == pytest.approx(tloss.item(), rel=1e-10)
        tparams = dict(tmodel.named_parameters())
        for name, p in model.named_parameters():
            t = tparams[name]
            scale = float(np.abs(t.grad.numpy()).max()) + 1e-300
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-8, atol=1e-9 * scale,
                                       err_msg=f"step {step} gradient of {name}")
        opt.step()
        topt.step()
    tstate = tmodel.state_dict()
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(value, tstate[name].numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=name)


def test_bench_models_section(monkeypatch, capsys):
    from conv1d.bench import SECTIONS, Context
    from conv1d.bench import models as bench_models

    assert SECTIONS["models"] == "conv1d.bench.models:bench_models"
    monkeypatch.setattr(bench_models, "BATCHES", (1,))
    lines = bench_models.bench_models(Context(1, 1, True, torch, None))
    assert lines[0] == "## Models"
    table = [line for line in lines[-1].splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(bench_models.EXAMPLES)  # header and one row per model
    assert "ratio" in capsys.readouterr().out
    skipped = bench_models.bench_models(Context(1, 1, True, None, None))
    assert "Skipped" in skipped[-1]
