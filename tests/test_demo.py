"""``conv1d demo``: it trains to the promised accuracy and writes its picture."""

import subprocess
import sys

import numpy as np

from conv1d import cli, demo


def test_demo_trains_and_writes_png(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert cli.main(["demo", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Conv1d(16, 33, kernel_size=(3,), stride=(2,))" in printed
    assert "(20, 33, 24)" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    final = float(printed.split("final held-out accuracy ")[1].split("%")[0])
    assert final >= 95.0


def test_training_history_reaches_accuracy():
    _, history = demo.train(epochs=6, seed=1, quiet=True)
    assert history["test_accuracy"][-1] >= 0.95
    assert np.mean(history["loss"][-20:]) < np.mean(history["loss"][:20]) / 3


def test_waveform_classes_differ():
    x, y = demo.waveforms(300, rng=np.random.default_rng(0), noise=0.0)
    assert set(y.tolist()) == {0, 1, 2}
    square = x[y == 1, 0]  # noiseless square waves take two values per example
    assert all(len(np.unique(np.round(np.abs(row), 6))) == 1 for row in square)


def test_unwritable_output_is_one_line_error(tmp_path):
    bad = tmp_path / "missing-folder" / "demo.png"
    r = subprocess.run([sys.executable, "-m", "conv1d.cli", "demo", "--output", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "does not exist" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_usage():
    r = subprocess.run([sys.executable, "-m", "conv1d.cli", "nonsense"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "invalid choice" in r.stderr
    assert cli.main([]) == 2
