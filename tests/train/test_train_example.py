import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_linear_regression_example_fits_y_equals_2x():
    path = os.path.join(ROOT, "examples", "linear_regression.py")
    out = subprocess.run([sys.executable, path], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    thetas = [float(v) for v in re.findall(r"theta = ([0-9.]+)", out.stdout)]
    assert len(thetas) == 3
    for theta in thetas:
        assert abs(theta - 2.0) < 1e-5
    assert "1000 steps" in out.stdout
