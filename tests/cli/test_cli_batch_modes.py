"""``descend batch-modes`` through typer's CliRunner."""

import json

from typer.testing import CliRunner

from descend.cli import app

runner = CliRunner()


def test_writes_the_comparison(tmp_path):
    out = tmp_path / "modes"
    r = runner.invoke(app, ["batch-modes", "--epochs", "2", "--batch-size", "16", "--out", str(out)])
    assert r.exit_code == 0, r.output
    for name in ("batch", "stochastic", "mini-batch 16"):
        assert name in r.output
    for f in ("full_loss.png", "step_loss.png", "results.json", "report.html"):
        assert (out / f).stat().st_size > 0
    data = json.loads((out / "results.json").read_text())
    modes = {m["mode"]: m for m in data["modes"]}
    assert set(modes) == {"batch", "stochastic", "mini-batch 16"}
    assert all(list(m) == ["mode", "batch_size", "updates", "examples_seen", "final_loss", "noise",
                           "loss_rose", "seconds"] for m in data["modes"])
    n = data["n_examples"]
    assert modes["batch"]["updates"] == 2 and modes["stochastic"]["updates"] == 2 * n
    assert all(m["examples_seen"] == 2 * n for m in modes.values())
    assert modes["batch"]["noise"] == 0 and modes["stochastic"]["noise"] > modes["mini-batch 16"]["noise"]
    assert data["loss"] == "mse" and "descend batch-modes --dataset linear" in data["command"]
    page = (out / "report.html").read_text()
    assert "Batch, stochastic and mini-batch" in page and "data:image/png;base64," in page
    assert "<th>examples seen</th>" in page and "<th>loss rose</th>" in page


def test_classification_data_set_and_hidden_layer(tmp_path):
    out = tmp_path / "moons"
    r = runner.invoke(app, ["batch-modes", "--dataset", "moons", "--model", "8", "--epochs", "1", "--lr",
                            "0.1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "results.json").read_text())["loss"] == "cross_entropy"
    assert "1 epoch each" in r.output


def test_bad_values_are_usage_errors(tmp_path):
    for args, text in ((["--lr", "0"], "--lr"), (["--optimizer", "nope"], "--optimizer"),
                       (["--model", "conv"], "--model"), (["--dataset", "nope"], "nope")):
        r = runner.invoke(app, ["batch-modes", *args, "--out", str(tmp_path / "x")])
        assert r.exit_code == 2, (args, r.output)
        assert text in r.output
