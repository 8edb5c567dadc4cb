"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, capsys):
    pytest.importorskip("sklearn")  # the training example loads the bundled digits
    exec(compile(BLOCKS[index], f"README.md example {index + 1}", "exec"), {})
    out = capsys.readouterr().out
    assert out.strip(), "every example prints its result"
