"""conv1d.optim and conv1d.lr_scheduler against torch.optim over several steps."""

import numpy as np
import pytest
import torch

import conv1d
from conv1d import optim
from conv1d.lr_scheduler import CosineAnnealingLR, StepLR

SHAPES = [(3, 2, 5), (3,), (4, 4)]


def pair(seed=0):
    """The same float64 parameters as conv1d Parameters and torch leaf tensors."""
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s) for s in SHAPES]
    ours = [conv1d.Parameter(v) for v in values]
    theirs = [torch.tensor(v, requires_grad=True) for v in values]
    return ours, theirs


def set_grads(ours, theirs, rng, skip=()):
    """Random gradients; the parameters at the indices in ``skip`` get none this step."""
    for i, (p, t) in enumerate(zip(ours, theirs, strict=True)):
        if i in skip:
            p.grad, t.grad = None, None
        else:
            g = rng.standard_normal(p.shape)
            p.grad, t.grad = g, torch.from_numpy(g.copy())


def assert_same(ours, theirs, rtol=1e-12):
    for p, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p, t.detach().numpy(), rtol=rtol, atol=1e-14)


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
]


@pytest.mark.parametrize(("name", "kwargs"), CASES)
def test_steps_match_torch_with_late_and_missing_gradients(name, kwargs):
    ours, theirs = pair()
    opt = getattr(optim, name)(ours, **kwargs)
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    rng = np.random.default_rng(1)
    # Parameter 2 gets its first gradient at step 3; parameter 1 misses step 5.
    for step in range(8):
        skip = {2} if step < 3 else {1} if step == 5 else set()
        set_grads(ours, theirs, rng, skip)
        opt.step()
        topt.step()
        assert_same(ours, theirs)
    for p, t in zip(ours, theirs, strict=True):
        ts = topt.state[t]
        for key, value in opt.state[p].items():
            if key == "step":
                assert value == float(ts[key])
            else:
                np.testing.assert_allclose(value, ts[key].numpy(), rtol=1e-12, atol=1e-15)


def test_adam_counts_steps_per_parameter_issue_example():
    """Issue 10: a parameter whose first gradient arrives at step 3 must move by lr (0.9000)."""
    a, b = conv1d.Parameter(np.array([1.0])), conv1d.Parameter(np.array([1.0]))
    ta, tb = torch.tensor([1.0], requires_grad=True), torch.tensor([1.0], requires_grad=True)
    opt, topt = optim.Adam([a, b], lr=0.1), torch.optim.Adam([ta, tb], lr=0.1)
    for step in range(3):
        a.grad, ta.grad = np.array([1.0]), torch.tensor([1.0])
        b.grad, tb.grad = (np.array([1.0]), torch.tensor([1.0])) if step == 2 else (None, None)
        opt.step()
        topt.step()
    assert tb.item() == pytest.approx(0.9)
    assert b[0] == pytest.approx(tb.item(), rel=1e-7)


def test_param_groups_and_lr_changes_match_torch():
    ours, theirs = pair()
    opt = optim.Adam([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.1, "betas": (0.5, 0.9)}],
                     lr=0.01)
    topt = torch.optim.Adam([{"params": theirs[:2]},
                             {"params": theirs[2:], "lr": 0.1, "betas": (0.5, 0.9)}], lr=0.01)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.1]
    rng = np.random.default_rng(2)
    for step in range(6):
        if step == 3:
            opt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = 0.003
        set_grads(ours, theirs, rng)
        opt.step()
        topt.step()
        assert_same(ours, theirs)
    extra, textra = conv1d.Parameter(np.ones(2)), torch.ones(2, requires_grad=True)
    opt.add_param_group({"params": [extra], "lr": 0.5})
    topt.add_param_group({"params": [textra], "lr": 0.5})
    extra.grad, textra.grad = np.array([1.0, -2.0]), torch.tensor([1.0, -2.0], dtype=torch.float32)
    opt.step()
    topt.step()
    np.testing.assert_allclose(extra, textra.detach().numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="appear more than once"):
        opt.add_param_group({"params": [extra]})


@pytest.mark.parametrize(("name", "kwargs"), [("SGD", dict(lr=0.1, momentum=0.9)),
                                              ("Adam", dict(lr=0.01, amsgrad=True))])
def test_state_dict_resumes_exactly_and_loads_torchs(name, kwargs):
    ours, theirs = pair()
    opt = getattr(optim, name)(ours, **kwargs)
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    rng = np.random.default_rng(3)
    for step in range(3):
        set_grads(ours, theirs, rng, skip={0} if step == 0 else ())
        opt.step()
        topt.step()
    # Ours, saved and loaded into a fresh optimiser (other lr), continues identically to torch.
    sd = opt.state_dict()
    fresh = getattr(optim, name)(ours, lr=123.0)
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["lr"] == kwargs["lr"]
    sd["state"][1][next(k for k in sd["state"][1] if k != "step")][...] = 7  # a copy
    # Torch's state dict, tensors as arrays, loads into a third one.
    tsd = topt.state_dict()
    tsd = {"state": {k: {n: v.numpy() if torch.is_tensor(v) else v for n, v in s.items()}
                     for k, s in tsd["state"].items()},
           "param_groups": tsd["param_groups"]}
    from_torch = getattr(optim, name)(ours, lr=1.0)
    from_torch.load_state_dict({"state": tsd["state"], "param_groups": [
        {k: v for k, v in g.items() if k in from_torch.defaults or k == "params"}
        for g in tsd["param_groups"]]})
    for o in (fresh, from_torch):
        for p in ours:
            for key, value in opt.state[p].items():
                np.testing.assert_allclose(o.state[p][key], value, rtol=1e-12)
    set_grads(ours, theirs, rng)
    fresh.step()
    topt.step()
    assert_same(ours, theirs)
    with pytest.raises(ValueError, match="1 parameter groups given, the optimizer has 2"):
        optim.SGD([{"params": ours[:1]}, {"params": ours[1:]}], lr=0.1).load_state_dict(sd)


def test_argument_validation_names_the_argument():
    p = conv1d.Parameter(np.zeros(2))
    with pytest.raises(TypeError, match=r"SGD: lr must be a real number, got '0\.1' \(str\)"):
        optim.SGD([p], lr="0.1")
    with pytest.raises(ValueError, match="Adam: weight_decay must be >= 0, got -1"):
        optim.Adam([p], weight_decay=-1)
    with pytest.raises(ValueError, match="SGD: weight_decay must be >= 0"):
        optim.SGD([p], lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match="lr must be >= 0, got nan"):
        optim.Adam([p], lr=float("nan"))
    with pytest.raises(ValueError, match=r"betas\[1\] must be in \[0, 1\), got 1\.5"):
        optim.Adam([p], betas=(0.9, 1.5))
    with pytest.raises(TypeError, match="betas must be a pair"):
        optim.AdamW([p], betas=0.9)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        optim.Adam([p], eps=-1e-8)
    with pytest.raises(ValueError, match=r"dampening must be in \[0, 1\]"):
        optim.SGD([p], momentum=0.5, dampening=2)
    with pytest.raises(ValueError, match="nesterov needs momentum > 0 and dampening == 0"):
        optim.SGD([p], nesterov=True)
    with pytest.raises(TypeError, match="amsgrad must be True or False"):
        optim.Adam([p], amsgrad="yes")
    with pytest.raises(TypeError, match="got a single array"):
        optim.SGD(p)
    with pytest.raises(ValueError, match="unknown options"):
        optim.SGD([{"params": [p], "momentun": 0.9}])
    with pytest.raises(TypeError, match="lr must be a real number"):
        optim.SGD([{"params": [p], "lr": "0.1"}])


def test_float16_parameters_keep_float32_moments():
    p = conv1d.Parameter(np.ones(3, np.float16))
    opt = optim.Adam([p], lr=1e-2)
    p.grad = np.zeros(3, np.float16)
    opt.step()
    assert opt.state[p]["exp_avg_sq"].dtype == np.float32
    assert p.dtype == np.float16 and np.isfinite(p).all()


def run_schedule(make, tmake, epochs, groups=((0.1,), (0.5,))):
    ours = [{"params": [conv1d.Parameter(np.zeros(1))], "lr": lr} for (lr,) in groups]
    theirs = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for (lr,) in groups]
    opt, topt = optim.SGD(ours), torch.optim.SGD(theirs)
    sched, tsched = make(opt), tmake(topt)
    got, want = [], []
    for _ in range(epochs):
        got.append(sched.get_last_lr())
        want.append(tsched.get_last_lr())
        assert [g["lr"] for g in opt.param_groups] == got[-1]
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    return got, want


@pytest.mark.parametrize(("step_size", "gamma"), [(1, 0.5), (3, 0.1), (4, 0.9)])
def test_step_lr_equals_torch(step_size, gamma):
    got, want = run_schedule(
        lambda o: StepLR(o, step_size, gamma),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma), 20)
    assert got == want  # the same recursive formula: equal to the last bit


@pytest.mark.parametrize(("t_max", "eta_min"), [(5, 0.0), (10, 1e-3), (1, 0.01)])
def test_cosine_annealing_equals_torch_past_t_max(t_max, eta_min):
    got, want = run_schedule(
        lambda o: CosineAnnealingLR(o, t_max, eta_min),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, t_max, eta_min), 3 * t_max + 4)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-18)


def test_scheduler_state_dict_and_errors():
    opt = optim.SGD([conv1d.Parameter(np.zeros(1))], lr=1.0)
    sched = StepLR(opt, 2, 0.5)
    for _ in range(3):
        sched.step()
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 3
    other = StepLR(optim.SGD([conv1d.Parameter(np.zeros(1))], lr=1.0), 5)
    other.load_state_dict(sd)
    assert other.step_size == 2 and other.get_last_lr() == [0.5]
    assert conv1d.optim.lr_scheduler.StepLR is StepLR
    with pytest.raises(ValueError, match="step_size must be an int >= 1, got 0"):
        StepLR(opt, 0)
    with pytest.raises(ValueError, match="T_max must be an int >= 1"):
        CosineAnnealingLR(opt, 2.5)
    with pytest.raises(TypeError, match=r"optimizer must be a conv1d\.optim\.Optimizer"):
        StepLR([], 1)
    with pytest.raises(TypeError, match="gamma must be a real number"):
        StepLR(opt, 1, gamma="0.5")
