"""report.html pieces and the run-folder helpers (descend.cli.report, descend.cli.runs)."""

import io
import os
import re
import tomllib

import numpy as np
import pytest

pytest.importorskip("typer")

from descend.cli import report as R
from descend.cli import runs


def test_png_bytes_round_trip_through_pillow():
    PIL = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, size=(5, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, size=(4, 3, 3), dtype=np.uint8)
    for img in (gray, rgb):
        back = np.asarray(PIL.open(io.BytesIO(R.png_bytes(img))))
        np.testing.assert_array_equal(back, img)


def test_png_bytes_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        R.png_bytes(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        R.png_bytes(np.zeros((2, 2, 4), np.uint8))


def test_image_shape_and_scaling():
    assert R.image_shape(64) == (8, 8)
    assert R.image_shape(784) == (28, 28)
    assert R.image_shape(30) is None and R.image_shape(4) is None
    img = R.to_uint8_image(np.arange(64.0), (8, 8), scale=2)
    assert img.shape == (16, 16)
    assert img[0, 0] == 255 and img[-1, -1] == 0  # low values light, high values dark


def test_confusion_table_counts_and_recall():
    cm = np.array([[5, 1], [0, 4]])
    html = R.confusion_table(cm, ["a", "b"])
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    # row a: 5, 1, recall 0.8333; row b: 0, 4, recall 1
    assert cells == ["5", "1", "0.8333", "0", "4", "1"]


def test_render_report_is_self_contained():
    cm = np.array([[3, 1], [2, 4]])
    wrong = [{"x": np.arange(64.0), "true": "3", "pred": "8", "confidence": 0.9}]
    html = R.render_report(
        title="t", config={"lr": 0.001, "model": "128"}, metrics={"test_accuracy": 0.7},
        headline={"test accuracy": 0.7},
        plots=[("png", R.png_bytes(np.zeros((3, 3), np.uint8))),
               ("svg", R.svg_line_chart({"train": [1.0, 0.5, 0.2]}, title="Loss", logy=True))],
        confusion=(cm, ["0", "1"]), misclassified=wrong, misclassified_shape=(8, 8),
        history_rows=[{"epoch": 1, "train_loss": 0.5}])
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "<script" not in html and "@import" not in html
    assert html.count("data:image/png;base64,") == 2  # the plot and the misclassified digit
    assert "true 3" in html and "pred 8" in html and "<svg" in html


def test_misclassified_table_for_non_image_data():
    html = R.misclassified_grid([{"x": np.array([1.5, 2.0, 3.0]), "true": "a", "pred": "b"}], None)
    assert "<table>" in html and "1.5" in html and "<img" not in html
    assert "No test example" in R.misclassified_grid([], (8, 8))


def test_new_run_dir_never_reuses(tmp_path):
    a = runs.new_run_dir(tmp_path / "runs", None, stem="digits")
    b = runs.new_run_dir(tmp_path / "runs", None, stem="digits")
    assert a != b and a.is_dir() and b.is_dir()
    named = runs.new_run_dir(tmp_path / "runs", "mine")
    assert named.name == "mine"
    with pytest.raises(runs.RunError, match="already exists"):
        runs.new_run_dir(tmp_path / "runs", "mine")


def test_toml_writer_round_trips(tmp_path):
    values = {"lr": 0.001, "model": [64, 32], "name": None, "standardize": True, "optimizer": "adam",
              "data": 'we"ird\\path'}
    runs.write_toml(tmp_path / "c.toml", values, header="a header")
    back = tomllib.loads((tmp_path / "c.toml").read_text())
    assert back == {k: v for k, v in values.items() if v is not None}


def test_write_json_and_csv_handle_nan(tmp_path):
    runs.write_json(tmp_path / "m.json", {"a": float("nan"), "b": np.float32(0.5), "c": np.arange(2)})
    assert runs.read_json(tmp_path / "m.json") == {"a": None, "b": 0.5, "c": [0, 1]}
    runs.write_csv(tmp_path / "h.csv", [{"epoch": 1, "loss": 0.25}, {"epoch": 2, "loss": None}])
    assert (tmp_path / "h.csv").read_text() == "epoch,loss\n1,0.25\n2,\n"


def test_atomic_writers(tmp_path):
    runs.write_bytes(tmp_path / "a.bin", b"one")
    runs.write_bytes(tmp_path / "a.bin", b"two")  # write_bytes replaces in one step
    assert (tmp_path / "a.bin").read_bytes() == b"two"
    runs.write_new(tmp_path / "b.bin", b"first")
    with pytest.raises(FileExistsError, match="already exists"):
        runs.write_new(tmp_path / "b.bin", b"second")
    assert (tmp_path / "b.bin").read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.bin"]  # no temporary files left
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's private 0600
