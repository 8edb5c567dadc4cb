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
        plots=[("png", R.png_bytes(np.zeros((3, 3), np.uint8)))],
        confusion=(cm, ["0", "1"]), misclassified=wrong, misclassified_shape=(8, 8),
        history_rows=[{"epoch": 1, "train_loss": 0.5}])
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "<script" not in html and "@import" not in html
    assert html.count("data:image/png;base64,") == 2  # the plot and the misclassified digit
    assert "true 3" in html and "pred 8" in html


def test_every_text_on_a_report_is_escaped():
    evil = '<script>alert("x")</script>'
    html = R.render_report(
        title=evil, subtitle=evil, config={evil: evil}, metrics={"test_loss": 0.5}, headline={evil: 1.0},
        plots=[(evil, R.png_bytes(np.zeros((2, 2), np.uint8)))], confusion=(np.eye(2, dtype=int), [evil, "b"]),
        misclassified=[{"x": np.zeros(3), "true": evil, "pred": "b"}], history_rows=[{evil: evil}],
        sections=[(evil, [(evil, R.png_bytes(np.zeros((2, 2), np.uint8)))])])
    assert "<script" not in html and html.count("&lt;script&gt;") >= 10


def test_the_reports_share_one_base_template():
    from descend.cli.report import _environment

    env = _environment()
    assert env.autoescape is True
    for name in ("run.html.j2", "sweep.html.j2", "landscape.html.j2"):
        source = env.loader.get_source(env, name)[0]
        assert '{% extends "base.html.j2" %}' in source, name
        assert "<style" not in source and "<html" not in source  # the page itself is the base's


def test_regression_metrics_say_which_units_they_are_in():
    html = R.render_report(title="t", config={}, task="regression",
                           metrics={"test_loss": 0.0048, "test_mse": 0.0255, "test_r2": 0.99})
    row = re.search(r"<tr><td>test_loss</td><td>0.0048</td><td[^>]*>([^<]*)</td>", html)
    assert row and "standardised target" in row.group(1)
    row = re.search(r"<tr><td>test_mse</td><td>0.0255</td><td[^>]*>([^<]*)</td>", html)
    assert row and "own units" in row.group(1)
    assert "standardised" not in R.render_report(title="t", config={}, task="classification",
                                                 metrics={"test_loss": 0.3, "test_accuracy": 0.9})


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


def _train(*args):
    from typer.testing import CliRunner

    from descend.cli import app

    return CliRunner().invoke(app, ["train", *[str(a) for a in args], "--no-progress"])


def test_two_feature_data_gets_the_learned_decision_regions(tmp_path):
    r = _train("--dataset", "spirals", "--model", "16", "--epochs", "3", "--runs-dir", tmp_path, "--name", "sp")
    assert r.exit_code == 0, r.output
    run = tmp_path / "sp"
    from PIL import Image

    with Image.open(run / "surface.png") as im:
        assert im.size[0] > 300
    page = (run / "report.html").read_text()
    assert "What the model learned" in page and "decision regions" in page
    assert page.count("data:image/png;base64,") == 4  # loss, accuracy, lr and the decision regions


def test_two_column_regression_gets_its_surface_and_names_its_units(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(120, 2))
    y = 3 * X[:, 0] - 2 * X[:, 1] ** 2 + 10
    path = tmp_path / "plane.csv"
    path.write_text("a,b,y\n" + "".join(f"{a:.5f},{b:.5f},{t:.5f}\n" for (a, b), t in zip(X, y, strict=True)))
    r = _train("--data", path, "--target", "y", "--model", "8", "--epochs", "3", "--runs-dir", tmp_path,
               "--name", "reg")
    assert r.exit_code == 0, r.output
    page = (tmp_path / "reg" / "report.html").read_text()
    assert (tmp_path / "reg" / "surface.png").exists() and "Regression surface" not in page  # title is in the PNG
    assert "predicted value (fill) against the targets (points)" in page
    assert "test loss (standardised target)" in page and "test MSE (target&#39;s units)" in page


def test_other_data_has_no_surface(tmp_path):
    r = _train("--dataset", "iris", "--model", "8", "--epochs", "2", "--runs-dir", tmp_path, "--name", "iris")
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "iris" / "surface.png").exists()
    assert "What the model learned" not in (tmp_path / "iris" / "report.html").read_text()


def test_the_report_names_the_data_file_not_the_default_dataset(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    path = tmp_path / "mine.csv"
    np.savetxt(path, np.column_stack([X, (X[:, 0] > 0).astype(int)]), delimiter=",", fmt="%g")
    r = _train("--data", path, "--model", "4", "--epochs", "1", "--runs-dir", tmp_path, "--name", "mine")
    assert r.exit_code == 0, r.output
    page = (tmp_path / "mine" / "report.html").read_text()
    assert "<td>dataset</td>" not in page and "digits" not in page and "mine.csv" in page


def test_the_two_train_losses_are_told_apart(tmp_path):
    # with mini-batches history.csv's last train_loss (the mean of the epoch's step losses) is not
    # metrics.json's (the saved parameters on the whole training set): the report says which is which
    import csv
    import json

    r = _train("--dataset", "iris", "--model", "8", "--epochs", "2", "--batch-size", "16", "--runs-dir", tmp_path,
               "--name", "two")
    assert r.exit_code == 0, r.output
    run = tmp_path / "two"
    with open(run / "history.csv") as f:
        last_epoch_mean = float(list(csv.DictReader(f))[-1]["train_loss"])
    final = json.loads((run / "metrics.json").read_text())["train_loss"]
    assert abs(last_epoch_mean - final) > 1e-3
    page = " ".join((run / "report.html").read_text().split())
    assert "the history&#39;s train_loss (history.csv) is the mean of each epoch&#39;s step losses" in page
    assert "The final metrics are those of the saved parameters" in page
    assert "train_loss is the mean of the epoch's step losses" in runs.__doc__
