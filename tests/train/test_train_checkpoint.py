import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import descend
from descend import optim
from descend.train import CSVLogger, History, fit
from descend.train.checkpoint import CHECKPOINT_NAME, read_checkpoint

from . import _resume_script as script
from ._helpers import assert_same_params, params_of, small_mlp

SCRIPT = os.path.join(os.path.dirname(__file__), "_resume_script.py")
TIMES = ("time", "epoch_time")


def _records(h):
    return [{k: v for k, v in r.items() if k not in TIMES} for r in h.epochs]


def test_rng_state_survives_save(tmp_path):
    descend.manual_seed(123)
    descend.random.generator().standard_normal(5)
    state = descend.random.generator().bit_generator.state
    descend.save({"rng": state}, tmp_path / "r.npz")
    back = descend.load(tmp_path / "r.npz")["rng"]
    assert back == state
    expected = descend.random.generator().standard_normal(3)
    descend.manual_seed(0)
    descend.random.generator().bit_generator.state = back
    np.testing.assert_array_equal(descend.random.generator().standard_normal(3), expected)


def test_checkpoint_contents(tmp_path):
    model, h = script.run(tmp_path, resume=False)
    ck = read_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert ck["loop"]["finished"] == "epochs" and ck["loop"]["step"] == h.steps == 32
    assert ck["loader"]["seed"] == 3
    assert ck["scheduler"]["last_epoch"] == 4
    assert set(ck["optimizer"]) >= {"state", "param_groups"}
    assert isinstance(ck["rng"]["state"]["state"], int)
    np.testing.assert_array_equal(ck["history"]["step_loss"], h.step_loss)


def test_resume_after_a_stop_mid_epoch_is_bit_identical(tmp_path):
    ref_model, ref = script.run(tmp_path / "ref", resume=False)
    # stop after 13 steps (epoch 2 of 4, batch 5 of 8), then resume in a fresh setup
    _, part = script.run(tmp_path / "cut", max_steps=13)
    assert part.stop_reason == "max_steps" and part.steps == 13
    model, h = script.run(tmp_path / "cut")
    assert_same_params(params_of(model), params_of(ref_model))
    assert h.step_loss == ref.step_loss
    assert h.step_grad_norm == ref.step_grad_norm
    assert _records(h) == _records(ref)
    assert h.stop_reason == "epochs"


def test_resume_after_sigkill_mid_epoch_is_bit_identical(tmp_path):
    ref_model, ref = script.run(tmp_path / "ref", resume=False)
    ckpt = tmp_path / "run"
    out = str(tmp_path / "out")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    # step 20 = epoch 3, batch 4; the last checkpoint was at step 18
    killed = subprocess.run([sys.executable, SCRIPT, str(ckpt), "20", out], env=env,
                            capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert read_checkpoint(ckpt / CHECKPOINT_NAME)["loop"]["step"] == 18
    assert not os.path.exists(out + ".npz")
    done = subprocess.run([sys.executable, SCRIPT, str(ckpt), "0", out], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with np.load(out + ".npz") as f:
        resumed = {k: f[k] for k in f.files}
    assert_same_params(resumed, params_of(ref_model))
    h = History.from_json(out + ".json")
    assert h.step_loss == ref.step_loss
    assert _records(h) == _records(ref)


def test_resume_without_a_checkpoint_starts_fresh_and_a_finished_run_stays_finished(tmp_path):
    m1, h1 = script.run(tmp_path, resume=True)  # no checkpoint yet: a fresh run
    assert h1.steps == 32
    m2, h2 = script.run(tmp_path, resume=True)  # finished: nothing left to do
    assert h2.steps == 32 and h2.step_loss == h1.step_loss
    assert_same_params(params_of(m1), params_of(m2))


def test_resume_with_different_data_is_refused(tmp_path, blobs):
    X, y = blobs
    m = small_mlp(0)
    fit(m, (X, y), loss="cross_entropy", optimizer="sgd", epochs=1, checkpoint_dir=tmp_path,
        progress=False, seed=0)
    with pytest.raises(ValueError, match="cannot resume"):
        fit(m, (X[:50], y[:50]), loss="cross_entropy", optimizer="sgd", epochs=2,
            checkpoint_dir=tmp_path, resume=True, progress=False, seed=0)


def test_resumed_csv_log_has_no_duplicate_epochs(tmp_path, blobs):
    X, y = blobs
    log = tmp_path / "log.csv"

    def go(**kw):
        m = small_mlp(0)
        return fit(m, (X, y), loss="cross_entropy", optimizer=optim.SGD(m.parameters(), lr=0.1),
                   batch_size=20, epochs=3, checkpoint_dir=tmp_path / "ck", callbacks=[CSVLogger(log)],
                   progress=False, seed=0, **kw)

    go(max_steps=9)  # stops in epoch 2 (6 batches per epoch); the log has epochs 1 and 2 (partial)
    h = go(resume=True)
    lines = log.read_text().strip().splitlines()
    assert len(lines) == 4  # header + epochs 1, 2, 3
    assert [int(line.split(",")[0]) for line in lines[1:]] == [1, 2, 3]
    assert [r["epoch"] for r in h.epochs] == [1, 2, 3]


def test_corrupt_checkpoint_is_reported(tmp_path, blobs):
    X, y = blobs
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"garbage")
    m = small_mlp(0)
    with pytest.raises(descend.CheckpointError, match=CHECKPOINT_NAME):
        fit(m, (X, y), loss="cross_entropy", optimizer="sgd", checkpoint_dir=tmp_path, resume=True,
            progress=False)
