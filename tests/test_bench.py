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
           "torch min ms", "conv1d GFLOP/s", "torch GFLOP/s", "ratio torch/conv1d",
           "roofline %", "bound"]
# seed_example's forward: 2 * N * C_out * C_in * K * L_out, L_out = (50 - 3) // 2 + 1 = 24.
SEED_FLOPS = 2 * 20 * 33 * 16 * 3 * 24
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


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
    ratios = []
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
        ratios.append(ratio)
    geomean = float(md.split("ratios torch/conv1d: **")[1].split("x**")[0])
    assert close(geomean, math.sqrt(ratios[0] * ratios[1]), 0.02)
    for heading in ("## Machine", "## Versions", "float32 GEMM rate", "memory bandwidth",
                    "conv1d bench --case seed_example", "torch: 2.13"):
        assert heading in md
    chart = tmp_path / "B.png"
    if HAS_MATPLOTLIB:
        assert "](B.png)" in md
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("how", ["missing", "flag"])
def test_without_torch(how, tmp_path, capsys, monkeypatch, fixed_roofline):
    argv = ["--case", "seed_example", "--repeat", "1", "--output", str(tmp_path / "B.md")]
    if how == "missing":
        monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    else:
        argv.append("--no-torch")
    assert bench.main(argv) == 0
    md = (tmp_path / "B.md").read_text()
    why = "PyTorch is not installed" if how == "missing" else "--no-torch given"
    assert why in md and why in capsys.readouterr().err
    rows = results_table(md)
    assert len(rows) == 2
    for row in rows:
        assert float(row["conv1d median ms"]) > 0
        assert row["torch median ms"] == row["ratio torch/conv1d"] == "n/a"
    assert not (tmp_path / "B.png").exists()


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
    assert "--streaming" in out and "--torch-layer" in out


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
