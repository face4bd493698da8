"""``conv1d bench --latency`` and ``--streaming``: the sections run, with tiny repeat counts.

No assertion here is about speed (timing belongs to the bench): the tables have their rows,
their columns and numbers that agree with each other.
"""

from __future__ import annotations

import importlib.util
import types

import pytest

from conv1d import bench
from conv1d.bench import latency, roofline

HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture
def tiny(monkeypatch):
    """No idle gaps, two calls per block, the smallest layers only."""
    monkeypatch.setattr(latency, "IDLE_S", 0.0)
    monkeypatch.setattr(latency, "QUICK_CALLS", 2)
    monkeypatch.setattr(latency, "LAYERS", latency.LAYERS[:2])


def table(lines: list[str]) -> list[list[str]]:
    rows = [line for line in "\n".join(lines).splitlines() if line.startswith("|")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows[:1] + rows[2:]]


def context(torch):
    return types.SimpleNamespace(torch=torch, repeat=1, quick=True, threads=1)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_latency_beside_torch(tiny, capsys):
    import torch

    lines = latency.bench_latency(context(torch))
    assert lines[0] == "## Latency"
    header, *rows = table(lines)
    assert header[1:] == ["conv1d median us", "conv1d min us", "torch median us", "torch min us",
                          "torch / conv1d", "conv1d real-time factor", "torch real-time factor"]
    assert [r[0].split(" (")[0] for r in rows] == [
        "tiny layer", "tiny layer", "seed example", "seed example",
        "streamed stack, per 64-sample chunk"]
    for row in rows:
        med, best, tmed, tbest = (float(v) for v in row[1:5])
        assert 0 < best <= med and 0 < tbest <= tmed
        assert float(row[5].rstrip("x")) == pytest.approx(tmed / med, rel=0.02)
    rtf = float(rows[-1][6])
    assert rtf == pytest.approx(latency.CHUNK / latency.RATE / (float(rows[-1][1]) * 1e-6), rel=0.02)
    assert "streamed stack" in capsys.readouterr().out


def test_latency_without_torch(tiny):
    header, *rows = table(latency.bench_latency(context(None)))
    assert header[1:] == ["conv1d median us", "conv1d min us", "conv1d real-time factor"]
    assert len(rows) == 5 and all(r[1] and r[2] for r in rows) and rows[-1][3]


def test_streaming_section():
    lines = latency.bench_streaming(types.SimpleNamespace(quick=True, repeat=1))
    assert lines[0] == "## Streaming"
    rows = table(lines)[1:]
    assert [r[0] for r in rows] == ["streaming, per chunk", "offline, whole signal",
                                    "offline, per 64 samples"]
    difference = float(lines[2].split("offline output: ")[1].rstrip("."))
    assert difference < 1e-4


def test_sections_are_registered(monkeypatch):
    assert bench.load_section("latency") is latency.bench_latency
    assert bench.load_section("streaming") is latency.bench_streaming


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_bench_latency_from_the_command_line(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(roofline, "measure", lambda threads: roofline.Roofline(1e11, 1e10))
    out = tmp_path / "b.md"
    status = bench.main(["--case", "seed_example", "--repeat", "1", "--quick", "--latency",
                         "--output", str(out), "--chart", str(tmp_path / "b.png")])
    assert status == 0
    assert "## Latency" in out.read_text()
