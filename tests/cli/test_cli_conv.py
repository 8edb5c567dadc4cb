"""``descend train --model conv``: the LeNet-style network on the bundled digits and on IDX images."""

import json
import struct

import numpy as np
import pytest

pytest.importorskip("typer")
pytest.importorskip("matplotlib")

from typer.testing import CliRunner

import descend
from descend.cli import app, job

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _only_run(runs_dir):
    (run,) = list(runs_dir.iterdir())
    return run


def _idx_bytes(arr: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def test_default_conv_run_on_the_digits_reaches_0985(tmp_path):
    """The issue's target: the default conv model on the 8x8 digits, with every other default."""
    result = _run("train", "--model", "conv", "--runs-dir", tmp_path / "runs", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "conv (LeNet-style, 1x8x8 images -> 10)" in result.output
    run = _only_run(tmp_path / "runs")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.985
    assert json.loads((run / "config.json").read_text())["config"]["model"] == "conv"
    assert 'model = "conv"' in (run / "config.toml").read_text()

    # the report shows the learned first-layer kernels and a few feature maps
    for picture in ("filters.png", "feature_maps.png"):
        assert (run / picture).read_bytes().startswith(b"\x89PNG")
    report = (run / "report.html").read_text()
    assert "Inside the convolutional network" in report
    assert report.count("data:image/png;base64,") >= 5  # loss, accuracy, lr, kernels, feature maps

    # the saved run rebuilds the same network: evaluate gives the same test accuracy
    evaluated = _run("evaluate", run, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["metrics"]["accuracy"] == pytest.approx(metrics["test_accuracy"])
    loaded = job.load_run(run)
    assert isinstance(loaded.model, descend.nn.LeNet)
    predicted = _run("predict", run)
    assert predicted.exit_code == 0 and predicted.output.startswith("prediction,target")


def test_conv_run_on_idx_images(tmp_path):
    """IDX image and label files (MNIST's format): the image shape comes from the data."""
    rng = np.random.default_rng(0)
    labels = np.arange(120, dtype=np.uint8) % 3
    images = rng.integers(0, 60, size=(120, 12, 12)).astype(np.uint8)
    for k in range(3):  # a bright bar whose place says the class
        images[labels == k, 4 * k:4 * k + 3, :] = 250
    ip, lp = tmp_path / "train-images-idx3-ubyte", tmp_path / "train-labels-idx1-ubyte"
    ip.write_bytes(_idx_bytes(images, 0x08))
    lp.write_bytes(_idx_bytes(labels, 0x08))
    result = _run("train", "--data", f"{ip},{lp}", "--model", "conv", "--epochs", "8",
                  "--runs-dir", tmp_path / "runs", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "1x12x12 images -> 3" in result.output
    run = _only_run(tmp_path / "runs")
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] >= 0.9


def test_conv_on_data_that_are_no_images_is_one_clear_error(tmp_path):
    result = _run("train", "--dataset", "breast_cancer", "--model", "conv", "--runs-dir", tmp_path / "runs",
                  "--no-progress")
    assert result.exit_code != 0
    assert "conv needs images: 30 features per example" in result.output
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_conv_image_shape_from_the_number_of_pixels():
    assert job.conv_image_shape(64) == (1, 8, 8)
    assert job.conv_image_shape(784) == (1, 28, 28)
    assert job.conv_image_shape(3 * 32 * 32) == (3, 32, 32)
    with pytest.raises(ValueError, match="not the pixels of square images"):
        job.conv_image_shape(30)


def _bar_images(n: int, shape: tuple, seed: int = 0):
    """``n`` uint8 images of ``shape`` (H, W) or (C, H, W) and labels 0..2: a bright band of rows whose
    place says the class."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.uint8) % 3
    images = rng.integers(0, 60, size=(n, *shape)).astype(np.uint8)
    rows = shape[-2]
    for k in range(3):
        images[labels == k, ..., k * rows // 3:(k + 1) * rows // 3, :] = 250
    return images, labels


def test_conv_on_non_square_idx_images_takes_their_shape_from_the_file(tmp_path):
    images, labels = _bar_images(120, (9, 14))
    ip, lp = tmp_path / "wide-images-idx3-ubyte", tmp_path / "wide-labels-idx1-ubyte"
    ip.write_bytes(_idx_bytes(images, 0x08))
    lp.write_bytes(_idx_bytes(labels, 0x08))
    result = _run("train", "--data", f"{ip},{lp}", "--model", "conv", "--epochs", "8",
                  "--runs-dir", tmp_path / "runs", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "1x9x14 images -> 3" in result.output
    run = _only_run(tmp_path / "runs")
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] >= 0.9
    # the run keeps the shape: it rebuilds the same network and evaluates the IDX pair
    loaded = job.load_run(run)
    assert loaded.model.in_shape == (1, 9, 14)
    evaluated = _run("evaluate", run, "--data", f"{ip},{lp}", "--json")
    assert evaluated.exit_code == 0, evaluated.output


def test_conv_on_channel_images_in_an_npz_file(tmp_path):
    images, labels = _bar_images(90, (2, 6, 10))
    path = tmp_path / "images.npz"
    np.savez(path, X=images.astype(np.float32) / 255, y=labels.astype(np.int64))
    result = _run("train", "--data", path, "--model", "conv", "--epochs", "2",
                  "--runs-dir", tmp_path / "runs", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "2x6x10 images -> 3" in result.output


def test_the_digits_record_their_image_shape():
    cfg = dict(job.DEFAULTS, dataset="digits", model="conv")
    X, y, _ = job.load_data(cfg)
    assert X.shape == (1797, 1, 8, 8)
    prep = job.prepare(cfg, X, y)
    assert prep.image_shape == (1, 8, 8) and prep.X_train.shape[1] == 64
    # an MLP sees the same rows of pixels as before
    assert job.prepare(dict(cfg, model=[16]), X, y).n_features == 64


def test_the_image_shape_is_guessed_only_where_nothing_is_known():
    assert job.conv_image_shape(60, (1, 6, 10)) == (1, 6, 10)  # recorded: no guess
    assert job.conv_image_shape(64, None) == (1, 8, 8)  # a table: square images guessed
    with pytest.raises(job.ConfigError, match=r"image shape \(1, 6, 9\) does not hold its 60 features"):
        job.conv_image_shape(60, (1, 6, 9))
    with pytest.raises(job.ConfigError, match="records no image shape"):
        job.conv_image_shape(60, None)


def test_test_images_of_another_shape_are_one_clear_error(tmp_path):
    images, labels = _bar_images(60, (9, 14))
    other, other_labels = _bar_images(30, (14, 9))
    paths = {}
    for name, (im, lb) in {"train": (images, labels), "test": (other, other_labels)}.items():
        paths[name] = (tmp_path / f"{name}-images-idx3-ubyte", tmp_path / f"{name}-labels-idx1-ubyte")
        paths[name][0].write_bytes(_idx_bytes(im, 0x08))
        paths[name][1].write_bytes(_idx_bytes(lb, 0x08))
    result = _run("train", "--data", ",".join(map(str, paths["train"])),
                  "--test-data", ",".join(map(str, paths["test"])), "--model", "conv",
                  "--runs-dir", tmp_path / "runs", "--no-progress")
    assert result.exit_code != 0
    assert "test_data: (14, 9) features per example, but the data has (9, 14)" in result.output
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
