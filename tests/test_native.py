"""The native kernels: the oracle grid on every instruction-set level this machine runs, the
float32 accuracy bound, edge tiles, threads, the zero-padding contract and the switches.

The registry-wide tests (test_against_torch, test_algorithms, test_memory) pick ``"native"`` up
by themselves at the default level; here each level is forced with ``native.set_level``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import conv1d
from conv1d import functional as F
from conv1d.algorithms import ALGORITHMS, Algorithm, native
from tests.oracle import check, torch_conv
from tests.strategies import conv_cases
from tests.test_algorithms import SUITE, _suite_case, _torch_all

needs_native = pytest.mark.skipif(not native.AVAILABLE, reason="native kernels not built")
LEVELS = native.available_levels() or ("none",)
GRID = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SRC = str(Path(native.__file__).resolve().parents[2])


@pytest.fixture(params=LEVELS)
def level(request):
    if request.param == "none":
        pytest.skip("native kernels not built")
    before = native.get_level()
    native.set_level(request.param)
    yield request.param
    native.set_level(before)


@pytest.fixture
def restore_threads():
    before = conv1d.get_num_threads()
    yield
    conv1d.set_num_threads(before)


@GRID
@given(case=conv_cases())
def _grid(case):
    x, w, b, kwargs = case
    check(x, w, b, algorithm="native", **kwargs)


def test_grid_on_every_level(level):
    _grid()


@pytest.mark.parametrize("case", list(SUITE))
def test_float32_forward_error_within_1_5x_torch(level, case):
    """Max-abs error of the output against float64: at most 1.5x float32 PyTorch's."""
    x, w, kw = _suite_case(case)
    y = F.conv1d(x, w, **kw, algorithm="native")
    gy = np.zeros(y.shape, np.float32)
    exact = _torch_all(x.astype(np.float64), w.astype(np.float64), gy.astype(np.float64), kw)[0]
    theirs = _torch_all(x, w, gy, kw)[0]
    floor = np.finfo(np.float32).eps * np.max(np.abs(exact))
    err, torch_err = np.max(np.abs(y - exact)), max(np.max(np.abs(theirs - exact)), floor)
    assert err <= 1.5 * torch_err, (err, torch_err)


@pytest.mark.parametrize("length", [1, 7, 47, 48, 49, 95, 97, 200])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_edge_tiles(level, length, dtype):
    """Lengths around the register tile's width (16-48 positions), padded on both sides."""
    rng = np.random.default_rng(length)
    # dense, grouped, depthwise (x1, x3), and more channels per group than one register
    # partial takes (40 x 5 taps > 128 products: the per-tile panels and in-place rows)
    for cin, cout, groups in ((6, 9, 1), (6, 12, 3), (6, 6, 6), (6, 18, 6), (40, 20, 1),
                              (80, 20, 2)):
        x = rng.standard_normal((2, cin, length)).astype(dtype)
        w = rng.standard_normal((cout, cin // groups, 5)).astype(dtype)
        for stride in (1, 2):
            check(x, w, rng.standard_normal(cout).astype(dtype), padding=(2, 5), groups=groups,
                  stride=stride, algorithm="native")


@pytest.mark.parametrize("stride, dilation, kernel", [(7, 1, 3), (3, 9, 4), (16, 5, 2), (1, 33, 3),
                                                      (5, 1, 10), (2, 1, 200), (1, 3000, 3),
                                                      (2, 1001, 4)])
def test_big_strides_dilations_and_long_kernels(level, stride, dilation, kernel):
    rng = np.random.default_rng(stride * 100 + dilation)
    length = dilation * (kernel - 1) + 150
    # 4 channels (whole-row panels) and 300 (per-tile panels, per tap for huge dilations)
    for cin, cout, groups in ((4, 20, 1), (4, 4, 4), (300, 8, 1)):
        x = rng.standard_normal((2, cin, length))
        w = rng.standard_normal((cout, cin // groups, kernel))
        check(x, w, None, stride=stride, dilation=dilation, padding=3, groups=groups,
              algorithm="native")


@needs_native
def test_non_contiguous_input_and_weight():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 100, 6))[:, ::2].transpose(0, 2, 1)  # (4, 6, 50), strided
    w = np.asfortranarray(rng.standard_normal((10, 6, 3)))
    check(x, w, rng.standard_normal(10), padding=1, algorithm="native")
    check(x, w[::2], None, padding=2, stride=2, algorithm="native")


@needs_native
def test_empty_batch_and_empty_output():
    x, w = np.zeros((0, 4, 20), np.float32), np.ones((6, 2, 3), np.float32)
    assert F.conv1d(x, w, groups=2, algorithm="native").shape == (0, 6, 18)
    y = native.forward(np.ones((2, 3, 2)), np.ones((4, 3, 3)), 1, 1, 1, None, 0, 0)
    assert y.shape == (2, 4, 0)


@needs_native
@pytest.mark.parametrize("groups, cout", [(1, 64), (64, 64), (8, 32)])
def test_threads_split_without_changing_a_bit(groups, cout, restore_threads, monkeypatch):
    """Shares over samples or positions give bit-identical results to one thread."""
    monkeypatch.setattr(native, "PARALLEL_MIN_MACS", 0)  # every case splits
    rng = np.random.default_rng(4)
    for n in (1, 3, 4):  # one sample (position split), odd (position split), even (samples)
        x = rng.standard_normal((n, 64, 3001)).astype(np.float32)
        w = rng.standard_normal((cout, 64 // groups, 5)).astype(np.float32)
        conv1d.set_num_threads(1)
        one = F.conv1d(x, w, padding=2, groups=groups, algorithm="native")
        conv1d.set_num_threads(2)
        two = F.conv1d(x, w, padding=2, groups=groups, algorithm="native")
        np.testing.assert_array_equal(one, two)


@needs_native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_weights_packed_into_the_threads_buffer(level, dtype, restore_threads):
    """Weights over PACK_MAX_BYTES are packed afresh each call into a buffer each thread
    reuses: two different large weights back to back, and the small one between them (kept
    packings), each give their own correct answer, forward and input gradient."""
    rng = np.random.default_rng(11)
    big = [rng.standard_normal((80, 48, 9)).astype(dtype) for _ in range(2)]  # grouped, 2
    assert big[0].astype(np.float32).nbytes > native.PACK_MAX_BYTES
    small = rng.standard_normal((8, 48, 3)).astype(dtype)
    # 40 samples: few multiply-adds per weight, the large packings are kept (and checked);
    # 400: packed afresh each call
    for length in (40, 400):
        x = rng.standard_normal((2, 96, length)).astype(dtype)
        for threads in (1, 2):
            conv1d.set_num_threads(threads)
            for w in (big[0], small, big[1], big[0]):
                check(x, w, None, padding=4, groups=2, algorithm="native")
                gy = rng.standard_normal((2, w.shape[0], length + 9 - w.shape[2])).astype(dtype)
                ours = native.grad_input(gy, w, length, 1, 1, 2, 4, 4)
                wt = w.astype(np.float64)
                ref = ALGORITHMS["reference"].grad_input(gy.astype(np.float64), wt,
                                                         length + 8, 1, 1, 2)
                np.testing.assert_allclose(ours, ref[..., 4:4 + length], rtol=0,
                                           atol=1e-3 if dtype == np.float32 else 1e-10)


@needs_native
def test_kept_large_packings_follow_in_place_updates(restore_threads):
    """A kept large packing is reused only while the weight's bytes are unchanged."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 64, 16)).astype(np.float32)
    w = rng.standard_normal((96, 64, 8)).astype(np.float32)  # 192 KiB, 8 MACs per weight
    assert w.nbytes > native.PACK_MAX_BYTES
    first = F.conv1d(x, w, padding=4, algorithm="native")
    kept = [v[1] for k, v in native._large_packs.items() if k[1] == w.shape]
    assert len(kept) == 1
    again = F.conv1d(x, w, padding=4, algorithm="native")
    assert next(v[1] for k, v in native._large_packs.items() if k[1] == w.shape) is kept[0]
    np.testing.assert_array_equal(first, again)
    w[3, 5, 2] += 1.0  # in place: the next call repacks
    check(x, w, None, padding=4, algorithm="native")


@needs_native
def test_padded_and_unpadded_contracts_agree():
    """The pre-padded contract (pads 0, as streaming and ConvTranspose1d call it) and the
    in-kernel zero padding give the same numbers."""
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 8, 77)), rng.standard_normal((16, 4, 5)), rng.standard_normal(16)
    xp = np.pad(x, ((0, 0), (0, 0), (3, 6)))
    for args in ((1, 1, 2), (2, 3, 2), (3, 1, 2)):
        np.testing.assert_allclose(native.forward(x, w, *args, b, 3, 6),
                                   native.forward(xp, w, *args, b), rtol=1e-13, atol=1e-13)
        gy = rng.standard_normal(native.forward(xp, w, *args).shape)
        np.testing.assert_allclose(native.grad_input(gy, w, 77, *args, 3, 6),
                                   native.grad_input(gy, w, 86, *args)[..., 3:80], atol=1e-12)
        np.testing.assert_allclose(native.grad_weight(gy, x, 5, *args, 3, 6),
                                   native.grad_weight(gy, xp, 5, *args), atol=1e-12)


def _spy(monkeypatch, name):
    """Wrap ALGORITHMS[name] so that it records the input lengths its functions receive."""
    algo, seen = ALGORITHMS[name], []

    def record(fn, arg):
        def wrapped(*args, **kwargs):
            seen.append(args[arg].shape[-1] if arg is not None else args[2])
            return fn(*args, **kwargs)
        return wrapped

    spy = Algorithm(name, record(algo.forward, 0), record(algo.grad_input, None),
                    record(algo.grad_weight, 1), algo.unsupported, algo.cost,
                    algo.fuses_bias, algo.zero_pads)
    monkeypatch.setitem(ALGORITHMS, name, spy)
    return seen


@needs_native
@pytest.mark.parametrize("mode, unpadded", [("zeros", True), ("reflect", False)])
def test_zero_padding_reaches_the_kernel_unpadded(monkeypatch, mode, unpadded):
    seen = _spy(monkeypatch, "native")
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 4, 30)), rng.standard_normal((4, 4, 3))
    check(x, w, None, padding=2, padding_mode=mode, algorithm="native")
    assert seen == ([30] * 3 if unpadded else [34] * 3)


@needs_native
def test_auto_routes_padding_to_either_contract(monkeypatch):
    """"auto" hands zero padding to an algorithm that takes it, pads for one that does not."""
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((2, 4, 30)), rng.standard_normal((4, 4, 3))
    for name, length in (("native", 30), ("gemm", 34)):
        seen = _spy(monkeypatch, name)
        monkeypatch.setattr("conv1d.algorithms.choose", lambda problem, name=name: name)
        check(x, w, None, padding=2, algorithm="auto")
        assert seen == [length] * 3, name


@needs_native
def test_levels_and_set_level_validation():
    assert native.get_level() in native.available_levels()
    assert native.available_levels()[-1] == "baseline"
    with pytest.raises(ValueError, match="level must be one of"):
        native.set_level("sse9")
    assert native.get_level() in native.available_levels()  # unchanged


@needs_native
def test_fma_loop_counts_flops():
    mod = native._mod
    assert mod.fma_loop(1000) == 1000 * (16 if mod.VEC_BYTES >= 64 else 12) * mod.VEC_BYTES // 4 * 2
    assert mod.fma_loop(0) == 0
    assert native.fma_loop(1000) == mod.fma_loop(1000)
    with pytest.raises(ValueError, match="iterations"):
        mod.fma_loop(-1)


@needs_native
def test_glue_refuses_short_buffers():
    x, y = np.zeros((1, 2, 10), np.float32), np.zeros((1, 2, 8), np.float32)
    w = np.zeros((2, 2, 3), np.float32)
    with pytest.raises(ValueError, match="need"):
        native._mod.forward_rows(x, w, None, y, 1, 2, 10, 2, 3, 9, 1, 1, 1, 0, 0, 1, 0, 2, 0, 9)


def _run(env: dict, code: str) -> str:
    full = {**os.environ, "PYTHONPATH": SRC, **env}
    out = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_conv1d_native_0_runs_numpy_only():
    code = (
        "import numpy as np\n"
        "from conv1d.algorithms import ALGORITHMS, native\n"
        "from tests.oracle import check\n"
        "assert 'native' not in ALGORITHMS and not native.AVAILABLE\n"
        "rng = np.random.default_rng(0)\n"
        "x, w = rng.standard_normal((2, 6, 40)), rng.standard_normal((8, 3, 3))\n"
        "for a in ALGORITHMS:\n"
        "    check(x, w, None, padding=1, groups=2, stride=2, algorithm=a)\n"
        "print(sorted(ALGORITHMS))\n"
    )
    out = _run({"CONV1D_NATIVE": "0"}, code)
    assert "native" not in out and "gemm" in out


@needs_native
def test_conv1d_simd_forces_a_level():
    out = _run({"CONV1D_SIMD": "baseline"},
               "from conv1d.algorithms import native; print(native.get_level())")
    assert out.strip() == "baseline"


@needs_native
def test_torch_oracle_sanity():
    """The oracle helper itself: a 1x1 identity kernel returns the input."""
    x = np.arange(12.0).reshape(1, 2, 6)
    w = np.eye(2).reshape(2, 2, 1)
    y, _ = torch_conv(x, w, None, np.zeros((1, 2, 6)))
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(F.conv1d(x, w, algorithm="native"), x)


@needs_native
def test_long_rows_past_the_whole_row_panel(restore_threads):
    """Few channels but rows longer than the whole-row panel (1 MiB): per-tile panels."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 200_001)).astype(np.float32)
    w = rng.standard_normal((16, 2, 3)).astype(np.float32)
    for threads_ in (1, 2):
        conv1d.set_num_threads(threads_)
        check(x, w, rng.standard_normal(16).astype(np.float32), padding=1, algorithm="native")


def test_oracle_grid_with_native_switched_off():
    """The hypothesis grid through "auto" with CONV1D_NATIVE=0: the pure-NumPy algorithms."""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_against_torch.py", "-k", "test_grid and auto"],
        env={**os.environ, "PYTHONPATH": SRC, "CONV1D_NATIVE": "0"}, cwd=root,
        capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "1 passed" in out.stdout


@pytest.mark.parametrize("length", [1, 47, 1000, 1024])
def test_pointwise_per_tile_panels_and_rows_in_place(level, length):
    """1x1 kernels over more than one register partial's channels take per-tile panels, or
    read rows in place (stride 1, no padding, rows not 4 KiB apart: length 1000 but not 1024)."""
    rng = np.random.default_rng(length)
    x = rng.standard_normal((2, 260, length)).astype(np.float32)
    w = rng.standard_normal((12, 260, 1)).astype(np.float32)
    for stride, padding in ((1, 0), (1, (2, 5)), (2, 0), (3, 1)):
        check(x, w, None, stride=stride, padding=padding, algorithm="native")
