"""A script that starts a local Dask cluster without ``if __name__ == "__main__":`` fails at once.

Dask spawns its workers and each one imports the main script again; before the check, such a
script printed the bootstrapping error in every worker and waited for ever (issue 16, item 1).
The examples of ``docs/distributed.md`` run here as scripts, guard included.
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
GUARD_HINT = 'if __name__ == "__main__":'
SCRIPT = textwrap.dedent("""\
    from descend import distributed

    def run(c):
        return {"x": c["a"] * 2}

    r = distributed.sweep(run, {"a": [1, 2, 3]}, n_workers=2)
    print("finished", len(r.ok))
""")


def _run_script(path: Path, timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, str(path)], cwd=path.parent, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_unguarded_script_fails_at_once_naming_the_guard(tmp_path):
    script = tmp_path / "sweep_script.py"
    script.write_text(SCRIPT)
    proc = _run_script(script, timeout=30)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("descend.distributed.cluster.ClusterStartError: sweep:")
    assert "'sweep_script.py' (line 6)" in last and GUARD_HINT in last
    assert "finished" not in proc.stdout


def test_worker_importing_the_script_fails_the_start_within_30_s(tmp_path):
    # Not a .py file: the static look at the main script is skipped, so what stops the run is
    # the check in the spawned workers (they refuse to start a cluster while importing the
    # script) and the parent's reaction to workers that fail to start.
    script = tmp_path / "sweep_script.txt"
    script.write_text(SCRIPT)
    proc = _run_script(script, timeout=30)
    assert proc.returncode == 1
    assert "called while a spawned worker process imports the main script" in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "workers failed to start" in last and GUARD_HINT in last


def test_the_guard_is_recognised(tmp_path):
    from descend.distributed.cluster import _guarded

    script = tmp_path / "s.py"
    script.write_text(textwrap.dedent("""\
        import os
        x = 1
        if __name__ == "__main__" and os.name:
            x = 2
        else:
            x = 3
        if "__main__" == __name__:
            try:
                x = 4
            finally:
                pass
    """))
    assert not _guarded(str(script), 2)
    assert _guarded(str(script), 4)
    assert not _guarded(str(script), 6)
    assert _guarded(str(script), 9)


def _doc_examples():
    text = (ROOT / "docs" / "distributed.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return [b for b in blocks if "__main__" in b]


def test_every_doc_example_that_starts_a_cluster_shows_the_guard():
    text = (ROOT / "docs" / "distributed.md").read_text(encoding="utf-8")
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        starts = re.search(r"distributed\.(client|sweep|fit)\(", block)
        if starts:
            assert GUARD_HINT in block, block


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(_doc_examples())))
def test_doc_example_runs_as_a_script(tmp_path, index):
    script = tmp_path / f"example_{index}.py"
    script.write_text(_doc_examples()[index])
    proc = _run_script(script, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
