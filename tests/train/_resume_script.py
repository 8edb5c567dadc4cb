"""A training run used by the resume tests (also run as a script in a subprocess).

python _resume_script.py CHECKPOINT_DIR KILL_AT_STEP OUT_PREFIX
trains with checkpoints (resuming if a checkpoint exists), SIGKILLs itself after
optimizer step KILL_AT_STEP (0: never), and writes OUT_PREFIX.npz (parameters)
and OUT_PREFIX.json (history).
"""

import os
import signal
import sys

import numpy as np

import descend
from descend import nn, optim, train
from descend.optim import lr_scheduler


def data():
    X, y = descend.data.make_moons(n_samples=120, noise=0.2, seed=1)
    return (X, y), (X[:30], y[:30])


def run(checkpoint_dir, kill_at=0, resume=True, max_steps=None, checkpoint_every=3):
    train_data, val_data = data()
    descend.manual_seed(0)
    model = nn.MLP([2, 16, 16, 2], dropout=0.2)  # dropout draws from the global generator
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.9)
    callbacks = [train.LearningRateMonitor()]
    if kill_at:
        class Kill(train.Callback):
            def on_step_end(self, state):
                if state.step == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)

        callbacks.append(Kill())
    history = train.fit(
        model, train_data, loss="cross_entropy", optimizer=opt, scheduler=sched, batch_size=16,
        epochs=4, validation=val_data, patience=10, metrics=("loss", "accuracy"), seed=3,
        callbacks=callbacks, checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
        resume=resume, max_steps=max_steps, progress=False,
    )
    return model, history


if __name__ == "__main__":
    ckpt, kill, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    model, history = run(ckpt, kill_at=kill)
    np.savez(out + ".npz", **model.state_dict())
    history.to_json(out + ".json")
