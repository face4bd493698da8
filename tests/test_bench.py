"""``conv1d bench``: the suite, the report it writes, its errors and its section hook.

No assertion here is about speed: the numbers are checked only for consistency with each
other (the ratio is the quotient of the times it sits beside, and so on).
"""

from __future__ import annotations

import importlib.util
import math
import sys
import types

import pytest

from conv1d import bench, cli
from conv1d.algorithms import ALGORITHMS
from conv1d.bench import roofline
from conv1d.spec import ConvSpec

# The issue's suite: name -> (N, C_in, C_out, K, L, stride, padding, dilation, groups, mode).
ISSUE_SUITE = {
    "seed_example": (20, 16, 33, 3, 50, 2, 0, 1, 1, "zeros"),
    "wavenet_dilated": (8, 64, 64, 3, 16000, 1, 8, 8, 1, "zeros"),
    "resnet1d_ecg": (32, 128, 128, 7, 1000, 1, 3, 1, 1, "zeros"),
    "depthwise_k4": (8, 512, 512, 4, 4096, 1, 3, 1, 512, "zeros"),
    "pointwise": (16, 256, 512, 1, 2048, 1, 0, 1, 1, "zeros"),
    "long_depthwise": (4, 64, 64, 1023, 16384, 1, 511, 1, 64, "zeros"),
    "long_dense": (2, 8, 8, 513, 65536, 1, 256, 1, 1, "zeros"),
    "wav2vec_stem": (4, 1, 512, 10, 160000, 5, 0, 1, 1, "zeros"),
    "har_small": (256, 3, 32, 5, 256, 1, 2, 1, 1, "zeros"),
    "reflect_pad": (8, 64, 64, 7, 8192, 1, 3, 1, 1, "reflect"),
    "grouped_g8": (8, 256, 256, 5, 4096, 2, 2, 1, 8, "zeros"),
}
COLUMNS = ["case", "pass", "algorithm", "conv1d median ms", "conv1d min ms", "torch median ms",
           "torch min ms", "ORT median ms", "ORT min ms", "conv1d GFLOP/s", "torch GFLOP/s",
           "ratio torch/conv1d", "ratio ORT/conv1d", "ratio rival/conv1d", "FMA peak %",
           "roofline %", "bound"]
# seed_example's forward: 2 * N * C_out * C_in * K * L_out, L_out = (50 - 3) // 2 + 1 = 24.
SEED_FLOPS = 2 * 20 * 33 * 16 * 3 * 24
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
HAS_ORT = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def results_table(markdown: str) -> list[dict[str, str]]:
    """The rows of the first table whose header starts with ``| case``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| case"))
    cells = lambda line: [c.strip() for c in line.strip().strip("|").split("|")]  # noqa: E731
    header = cells(lines[start])
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, cells(line), strict=True)))
    assert list(rows[0]) == COLUMNS
    return rows


def close(a: float, b: float, rel: float) -> bool:
    return math.isclose(a, b, rel_tol=rel)


@pytest.fixture
def fixed_roofline(monkeypatch):
    """Skip the few seconds of machine measurement where the test is not about it."""
    monkeypatch.setattr(roofline, "measure", lambda threads: roofline.Roofline(1e11, 1e10))


def test_suite_is_the_issues():
    assert {c.name: (c.batch, c.in_channels, c.out_channels, c.kernel_size, c.length, c.stride,
                     c.padding, c.dilation, c.groups, c.mode) for c in bench.SUITE} == ISSUE_SUITE
    for case in bench.SUITE:
        spec = ConvSpec.from_args(case.in_channels, case.out_channels, case.kernel_size,
                                  **case.kwargs)
        assert case.shapes()["y"][2] == spec.output_length(case.length)


def summary_has(markdown: str, label: str) -> bool:
    return any(line.startswith(f"| {label} ") for line in markdown.splitlines())


def geomean(markdown: str, label: str) -> float:
    """The overall geometric mean in the summary table's row ``| LABEL | Gx (n) | ...``."""
    row = next(line for line in markdown.splitlines() if line.startswith(f"| {label} "))
    return float(row.split("|")[2].split("x")[0])


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_report_table_is_consistent(tmp_path, capsys):
    import torch

    threads_before = torch.get_num_threads()
    out = tmp_path / "B.md"
    assert bench.main(["--case", "seed_example", "--repeat", "2", "--threads", "1",
                       "--output", str(out)]) == 0
    assert torch.get_num_threads() == threads_before
    md = out.read_text()
    printed = capsys.readouterr().out
    rows = results_table(md)
    assert rows == results_table(printed)
    assert [(r["case"], r["pass"]) for r in rows] == [
        ("seed_example", "forward"), ("seed_example", "forward+backward")]
    ratios, headlines = [], []
    for row, flops in zip(rows, (SEED_FLOPS, 3 * SEED_FLOPS), strict=True):
        assert row["algorithm"] in ALGORITHMS
        assert row["bound"] in ("compute", "memory")
        ours, theirs = float(row["conv1d median ms"]), float(row["torch median ms"])
        assert float(row["conv1d min ms"]) <= ours and float(row["torch min ms"]) <= theirs
        # Printed to 3 significant digits: each quotient is good to about 1%.
        ratio = float(row["ratio torch/conv1d"])
        assert close(ratio, theirs / ours, 0.02)
        assert close(float(row["conv1d GFLOP/s"]), flops / ours / 1e6, 0.02)
        assert close(float(row["torch GFLOP/s"]), flops / theirs / 1e6, 0.02)
        assert float(row["roofline %"]) > 0
        rivals = {"torch": theirs}
        if HAS_ORT and row["pass"] == "forward":  # ORT times the forward pass only
            ort = float(row["ORT median ms"])
            assert float(row["ORT min ms"]) <= ort
            assert close(float(row["ratio ORT/conv1d"]), ort / ours, 0.02)
            rivals["ORT"] = ort
        else:
            assert row["ORT median ms"] == row["ratio ORT/conv1d"] == "n/a"
        value, rival = row["ratio rival/conv1d"].split()
        assert rival == min(rivals, key=rivals.get)
        assert close(float(value), rivals[rival] / ours, 0.02)
        ratios.append(ratio)
        headlines.append(float(value))
    assert close(geomean(md, "torch"), math.sqrt(ratios[0] * ratios[1]), 0.02)
    headline = math.sqrt(headlines[0] * headlines[1])
    assert close(geomean(md, "faster rival"), headline, 0.02)
    assert f"ratios faster rival/conv1d: **{geomean(md, 'faster rival'):.3g}" in md
    assert summary_has(md, "ORT") == HAS_ORT
    for heading in ("## Machine", "## Versions", "float32 GEMM rate", "memory bandwidth",
                    "float32 FMA peak: ", "conv1d bench --case seed_example", "torch: 2.13",
                    "idle gap of 0.2 s"):
        assert heading in md
    assert ("onnxruntime: " in md) == HAS_ORT
    chart = tmp_path / "B.png"
    if HAS_MATPLOTLIB:
        assert "](B.png)" in md
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("how", ["missing", "flag"])
def test_without_rivals(how, tmp_path, capsys, monkeypatch, fixed_roofline):
    argv = ["--case", "seed_example", "--repeat", "1", "--output", str(tmp_path / "B.md")]
    if how == "missing":
        for name in ("torch", "onnxruntime"):
            monkeypatch.setitem(sys.modules, name, None)  # makes `import name` fail
    else:
        argv += ["--no-torch", "--no-onnx"]
    assert bench.main(argv) == 0
    md = (tmp_path / "B.md").read_text()
    err = capsys.readouterr().err
    whys = (["PyTorch is not installed", "onnxruntime is not installed"] if how == "missing"
            else ["--no-torch given", "--no-onnx given"])
    for why in whys:
        assert why in md and why in err
    rows = results_table(md)
    assert len(rows) == 2
    for row in rows:
        assert float(row["conv1d median ms"]) > 0
        for column in ("torch median ms", "ORT median ms", "ratio torch/conv1d",
                       "ratio ORT/conv1d", "ratio rival/conv1d", "FMA peak %"):
            assert row[column] == "n/a"
    assert "neither PyTorch nor ONNX Runtime was timed" in md
    assert not (tmp_path / "B.png").exists()


@pytest.mark.skipif(not HAS_ORT, reason="onnx or onnxruntime is not installed")
def test_ort_alone_is_the_rival(tmp_path, fixed_roofline):
    out = tmp_path / "B.md"
    assert bench.main(["--case", "seed_example", "--repeat", "1", "--threads", "1",
                       "--no-torch", "--output", str(out)]) == 0
    md = out.read_text()
    forward, both = results_table(md)
    assert forward["ratio rival/conv1d"].endswith(" ORT")
    assert both["ratio rival/conv1d"] == "n/a"  # ORT has no backward; torch was not timed
    assert summary_has(md, "ORT") and not summary_has(md, "torch")


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_chart_skipped_without_matplotlib(tmp_path, capsys, monkeypatch, fixed_roofline):
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    out = tmp_path / "B.md"
    assert bench.main(["--case", "seed_example", "--repeat", "1", "--threads", "1",
                       "--output", str(out), "--chart", str(tmp_path / "c.png")]) == 0
    assert "matplotlib is not installed" in out.read_text()
    assert "matplotlib is not installed" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("argv, expected", [
    (["--case", "nope"], "unknown case 'nope'; valid cases: seed_example, wavenet_dilated"),
    (["--repeat", "0"], "--repeat: must be a positive integer, got '0'"),
    (["--threads", "two"], "--threads: must be a positive integer, got 'two'"),
    (["--output", "{tmp}/missing/B.md"], "does not exist"),
    (["--output", "{tmp}"], "must be a file path"),
    (["--chart", "{tmp}/missing/c.png"], "--chart: directory"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_errors_are_one_line(argv, expected, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in argv]
    if "--output" not in argv:
        argv += ["--output", str(tmp_path / "B.md")]
    assert cli.main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("conv1d bench: error: ") and err.count("\n") == 1
    assert expected in err
    assert list(tmp_path.iterdir()) == []


def test_help_lists_cases_and_sections(capsys):
    assert cli.main(["bench", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ISSUE_SUITE)
    assert "--streaming" in out and "--torch-layer" in out and "--no-onnx" in out


def test_flags_parse(tmp_path):
    out = str(tmp_path / "B.md")
    args = bench.parse_args(["--no-onnx", "--no-torch", "--quick", "--output", out])
    assert args.no_onnx and args.no_torch
    assert [c.name for c in args.cases] == list(bench.suite.QUICK)
    assert args.repeat == bench.suite.QUICK_REPEAT
    args = bench.parse_args(["--case", "pointwise", "--threads", "3", "--output", out])
    assert not args.no_onnx and args.threads == 3 and args.repeat == bench.suite.REPEAT


def test_unavailable_section_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(bench.SECTIONS, "streaming", "conv1d.no_such_module:bench_streaming")
    assert bench.main(["--streaming", "--output", str(tmp_path / "B.md")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--streaming is not available" in err and "conv1d.no_such_module" in err


def test_section_hook(tmp_path, capsys, monkeypatch, fixed_roofline):
    seen = {}

    def section(context):
        seen["context"] = context
        timings = context.time({"noop": lambda: None})
        print("| fake | row |")
        return ["## Fake section", "", f"{len(timings['noop'].times)} repetitions"]

    module = types.ModuleType("fake_bench_section")
    module.run = section
    monkeypatch.setitem(sys.modules, "fake_bench_section", module)
    monkeypatch.setitem(bench.SECTIONS, "torch-layer", "fake_bench_section:run")
    out = tmp_path / "B.md"
    assert bench.main(["--torch-layer", "--case", "seed_example", "--repeat", "3",
                       "--no-torch", "--threads", "1", "--output", str(out)]) == 0
    context = seen["context"]
    assert (context.threads, context.repeat, context.torch) == (1, 3, None)
    assert "| fake | row |" in capsys.readouterr().out
    assert "## Fake section\n\n3 repetitions\n" in out.read_text()


def test_algorithms_section_checks_auto_against_every_algorithm(tmp_path, capsys):
    from conv1d import bench

    out = tmp_path / "b.md"
    code = bench.main(["--case", "seed_example", "--repeat", "1", "--no-torch", "--algorithms",
                       "--output", str(out), "--chart", str(tmp_path / "b.png")])
    assert code == 0
    text = out.read_text()
    assert "## Does `auto` pick the fastest algorithm?" in text
    rows = [line for line in text.splitlines() if line.startswith("| seed_example")]
    section_rows = [r for r in rows if "gemm" in r and ("yes" in r or "NO" in r)]
    assert len(section_rows) == 2  # forward and forward+backward
    for row in section_rows:  # every eligible algorithm was timed, not just auto's pick
        assert "fft" in row and "direct" in row


# Small shapes through every argument: (N, C_in, C_out, K, L, stride, padding, dilation,
# groups, bias).
ORT_CASES = [
    (2, 4, 6, 3, 17, 1, 2, 1, 1, True),
    (2, 4, 8, 3, 20, 2, 3, 2, 2, False),
    (1, 6, 12, 4, 15, 3, 1, 1, 6, True),  # depthwise, multiplier 2
    (3, 3, 5, 1, 9, 1, 0, 1, 1, True),  # pointwise, no padding
]


@pytest.mark.skipif(not (HAS_ORT and HAS_TORCH), reason="needs onnx, onnxruntime and torch")
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape", ORT_CASES)
def test_ort_graph_equals_torch(mode, shape):
    import numpy as np
    import torch

    from conv1d.bench import ort

    n, cin, cout, k, length, stride, padding, dilation, groups, has_bias = shape
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, cin, length), dtype=np.float32)
    w = rng.standard_normal((cout, cin // groups, k), dtype=np.float32)
    b = rng.standard_normal(cout, dtype=np.float32) if has_bias else None
    model = ort.conv_model(x.shape, w, b, stride=stride, padding=padding, dilation=dilation,
                           groups=groups, padding_mode=mode)
    assert [node.op_type for node in model.graph.node] == (
        ["Conv"] if mode == "zeros" or padding == 0 else ["Pad", "Conv"])
    y = ort.session(model, threads=1)(x)
    layer = torch.nn.Conv1d(cin, cout, k, stride, padding, dilation, groups, has_bias, mode)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
        if b is not None:
            layer.bias.copy_(torch.from_numpy(b))
        expected = layer(torch.from_numpy(x)).numpy()
    assert y.shape == expected.shape and y.dtype == np.float32
    # float32 sums of at most C_in/groups * K = 12 products of N(0, 1) values.
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not HAS_ORT, reason="onnx or onnxruntime is not installed")
def test_ort_rejects_an_unknown_padding_mode():
    import numpy as np

    from conv1d.bench import ort

    with pytest.raises(ValueError, match=r"padding_mode must be one of .* got 'mirror'"):
        ort.conv_model((1, 1, 8), np.ones((1, 1, 3), np.float32), None, padding=1,
                       padding_mode="mirror")


def test_time_interleaved_blocks_follow_an_idle_gap(monkeypatch):
    from conv1d.bench import suite

    events = []
    monkeypatch.setattr(suite.time, "sleep", lambda s: events.append(f"sleep {s}"))
    fns = {name: (lambda name=name: events.append(name)) for name in ("a", "b")}
    timings = suite.time_interleaved(fns, repeat=6, gap=0.25, block=4)
    assert {k: len(t.times) for k, t in timings.items()} == {"a": 6, "b": 6}
    # Warm-up a, b; then each block: the gap, one untimed call, up to 4 timed calls; the
    # second round in reversed order.
    assert events == ["a", "b",
                      "sleep 0.25", *"a" * 5, "sleep 0.25", *"b" * 5,
                      "sleep 0.25", *"b" * 3, "sleep 0.25", *"a" * 3]
    events.clear()
    suite.time_interleaved(fns, repeat=2, warmup=0, gap=0, block=1)
    assert events == ["a", "b", "b", "a"]  # no gap: single calls, alternating
    # A function whose warm-up call is long gets no waking call after the gap.
    events.clear()
    monkeypatch.setattr(suite, "WAKE_LIMIT", -1.0)
    suite.time_interleaved(fns, repeat=2, gap=0.25, block=4)
    assert events == ["a", "b", "sleep 0.25", "a", "a", "sleep 0.25", "b", "b"]
    # wake=False, no warm-up: blocks of timed calls straight after the gap (the streaming
    # latency blocks, with block=calls).
    events.clear()
    timings = suite.time_interleaved(fns, repeat=4, warmup=0, gap=0.25, block=2, wake=False)
    assert events == ["sleep 0.25", "a", "a", "sleep 0.25", "b", "b",
                      "sleep 0.25", "b", "b", "sleep 0.25", "a", "a"]
    assert {k: len(t.times) for k, t in timings.items()} == {"a": 4, "b": 4}


def test_fma_peak_runs_a_call_per_thread_at_once(monkeypatch):
    import threading
    import time

    seconds_per_iteration = 1e-7
    flops_per_iteration = 2000.0  # a fake rate of 2e10 FLOP/s per thread
    threads_seen = set()

    def fake_fma_loop(iterations):
        threads_seen.add(threading.get_ident())
        time.sleep(iterations * seconds_per_iteration)  # releases the GIL, as fma_loop does
        return iterations * flops_per_iteration

    monkeypatch.setattr(roofline, "fma_kernel", lambda: (fake_fma_loop, "conv1d._native_x"))
    monkeypatch.setattr(roofline, "FMA_SECONDS", 0.01)
    monkeypatch.setattr(roofline, "TIME_BUDGET", 0.0)
    peak, note = roofline.measure_fma(threads=3)
    rate = 3 * flops_per_iteration / seconds_per_iteration
    assert 0.6 * rate < peak <= 1.01 * rate  # below only by the sleeps' overheads
    assert len(threads_seen - {threading.get_ident()}) == 3
    assert note == "_native_x.fma_loop, 3 threads at once, best run"
    monkeypatch.setattr(roofline, "fma_kernel", lambda: None)
    assert roofline.measure_fma(threads=3) == (None, "n/a: conv1d's native extension "
                                                     "(fma_loop) is not built")


def test_fma_percent_column():
    from conv1d.bench.report import Result

    row = Result("c", "forward", "gemm", conv1d=(0.5, 0.4), torch=None, flops=1e9, nbytes=1.0,
                 roofline_time=0.1, bound="compute", fma_flops=8e9)
    # 1e9 FLOP in 0.5 s = 2 GFLOP/s, a quarter of 8.
    assert row.row()[COLUMNS.index("FMA peak %")] == "25.0"
