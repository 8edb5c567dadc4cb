"""The kill-and-resume loop: SIGKILL a training run at random moments, resume, compare bit for bit.

A child process trains a small network (shuffled mini-batches, dropout drawing from the
generator, Adam, a step schedule) with a checkpoint every step, resuming from the checkpoint
folder whenever it starts. The test kills it again and again — after random delays, and while
it is inside a checkpoint write (the temporary file written, not yet renamed) — then lets it
finish. The final parameters and every step's loss must equal those of a run never
interrupted, bit for bit, and the temporary files the killed writers left must be gone.

``DESCEND_FAULT_KILLS`` sets the number of kills (default 8, a few seconds; the issue's
campaign used 29).
"""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import descend

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("DESCEND_FAULT_KILLS", "8"))
# A kill comes within a few steps of a checkpoint write (15 steps an epoch), so this is always
# more work than the kills let the run do
EPOCHS = 10 + KILLS

CHILD = textwrap.dedent("""\
    import os, sys, time
    import numpy as np
    import descend
    import descend.serialization as serialization
    from descend import nn, optim, train

    checkpoint_dir, out, pause_in_write = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    epochs = int(sys.argv[4])
    # Say when a checkpoint's temporary file is complete (not yet renamed): the parent counts
    # the writes and kills the process a random moment after one of them; with pause_in_write,
    # the first write waits there to be killed.
    write_atomically = serialization.write_atomically

    def announced(path, write, *, fsync=True):
        def write_and_announce(fh):
            write(fh)
            fh.flush()
            print("IN-WRITE", flush=True)
            if pause_in_write:
                time.sleep(30)
        return write_atomically(path, write_and_announce, fsync=fsync)

    serialization.write_atomically = announced
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 6))
    y = (X[:, 0] * X[:, 1] + X[:, 2] > 0).astype(np.int64)
    descend.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    print("STARTED", flush=True)
    history = train.fit(model, (X, y), loss="cross_entropy", optimizer=opt, scheduler=sched,
                        batch_size=16, epochs=epochs, seed=3, progress=False,
                        checkpoint_dir=checkpoint_dir or None, resume=bool(checkpoint_dir),
                        checkpoint_every=1 if checkpoint_dir else None)
    descend.save({"params": dict(model.state_dict()), "step_loss": np.array(history.step_loss),
                  "stop": history.stop_reason}, out)
    print("DONE", flush=True)
""")


def _start(script, ckpt, out, pause_in_write):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.Popen([sys.executable, str(script), str(ckpt), str(out), "1" if pause_in_write else "0",
                             str(EPOCHS)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(proc, marker, timeout=60.0):
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if line.strip() == marker:
            return True
        if time.monotonic() > deadline:
            break
    return False


def test_killed_runs_resume_bit_for_bit(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    reference = tmp_path / "reference.npz"
    proc = _start(script, "", reference, False)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err

    ckpt, out = tmp_path / "ck", tmp_path / "out.npz"
    chooser = random.Random(16)
    kills = kills_in_write = 0
    for k in range(KILLS):
        in_write = k % 2 == 1  # every other kill lands inside a checkpoint write
        proc = _start(script, ckpt, out, in_write)
        assert _wait_for(proc, "STARTED")
        if in_write:
            reached = _wait_for(proc, "IN-WRITE")
        else:  # a random moment: a random delay after a random checkpoint write
            reached = all(_wait_for(proc, "IN-WRITE") for _ in range(chooser.randint(1, 8)))
            time.sleep(chooser.uniform(0.0, 0.05))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
            kills_in_write += in_write and reached
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, (k, in_write, reached, kills, err[-2000:])
        assert not out.exists(), "the run finished before it could be killed; give it more work"
    leftovers = sorted(p.name for p in ckpt.iterdir() if p.name.endswith(".tmp"))
    assert kills == KILLS and kills_in_write == KILLS // 2 and len(leftovers) >= 1

    proc = _start(script, ckpt, out, False)  # the last resume runs to the end
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    got, want = descend.load(out), descend.load(reference)
    assert got["stop"] == want["stop"] == "epochs"
    assert np.array_equal(got["step_loss"], want["step_loss"])
    assert got["params"].keys() == want["params"].keys()
    for name in want["params"]:
        assert np.array_equal(got["params"][name], want["params"][name]), name
    # the temporaries of the writers killed mid-write were removed by the next checkpoint write
    assert [p.name for p in ckpt.iterdir()] == ["checkpoint.npz"], leftovers


def _small_run(checkpoint_dir=None, callbacks=(), resume=False):
    from descend import nn, optim, train

    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    descend.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = train.fit(model, (X, y), loss="cross_entropy", optimizer=opt, batch_size=16, epochs=3, seed=0,
                        progress=False, checkpoint_dir=checkpoint_dir, checkpoint_every=1 if checkpoint_dir else None,
                        resume=resume, callbacks=list(callbacks))
    return model, history


def test_resume_from_a_checkpoint_of_an_epochs_last_step_before_its_end(tmp_path):
    # The kill loop found it: killed between the checkpoint of an epoch's last step and the one
    # written when the epoch ends, the run resumed past the epoch's last batch (StopIteration).
    from descend.train import Callback

    class KilledAtEpochEnd(Callback):
        def on_epoch_end(self, state):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _small_run(tmp_path, callbacks=[KilledAtEpochEnd()])
    loop = descend.load(tmp_path / "checkpoint.npz")["loop"]
    assert (loop["epoch"], loop["batch"]) == (0, 3)  # the epoch's three steps taken, not ended
    resumed, h_resumed = _small_run(tmp_path, resume=True)
    straight, h_straight = _small_run()
    assert h_resumed.step_loss == h_straight.step_loss and len(h_resumed.epochs) == 3
    assert [e["train_loss"] for e in h_resumed.epochs] == [e["train_loss"] for e in h_straight.epochs]
    for a, b in zip(resumed.parameters(), straight.parameters(), strict=True):
        assert np.array_equal(a.data, b.data)
