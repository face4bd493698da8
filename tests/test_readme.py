"""The README's Python examples run, and print what their comments say they print."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example(index, tmp_path, monkeypatch):
    code = BLOCKS[index]
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"README.md block {index}", "exec"), {})
    # Each top-level `print(...)  # expected` line: the printed line must be the expected text
    # (up to a colon, after which the comment explains). Indented prints may not run here,
    # e.g. under `if __name__ == "__main__":`, which keeps the cluster example from starting.
    expected = [m.group(1).split(":")[0].strip() for line in code.splitlines()
                if line.startswith("print(") and (m := re.search(r"#\s*(.+)$", line))]
    printed = out.getvalue().splitlines()
    assert len(printed) >= len(expected)
    for want, got in zip(expected, printed, strict=False):
        assert got.strip() == want, (want, got)
