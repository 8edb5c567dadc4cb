"""The TOML/flag configuration layer of `descend train` (descend.cli.config)."""

import pytest

pytest.importorskip("typer")

from descend.cli import config as C


def write(tmp_path, text, name="run.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults_are_complete_and_valid():
    cfg = C.merge({}, {}, set())
    assert cfg == C.DEFAULTS
    assert set(cfg) == {f.name for f in C.FIELDS}


def test_toml_values_are_typed_and_normalised(tmp_path):
    p = write(tmp_path, 'lr = 0.01\nmodel = "64, 32"\nbatch-size = "full"\nepochs = 5\n'
                        'standardize = false\noptimizer = "sgd"\nmomentum = 0.9\ndata = "d.csv"\n')
    vals = C.load_toml(p)
    assert vals["lr"] == 0.01 and isinstance(vals["lr"], float)
    assert vals["model"] == [64, 32]
    assert vals["batch_size"] is None  # full batch
    assert vals["epochs"] == 5 and vals["standardize"] is False
    # relative paths are relative to the config file's folder
    assert vals["data"] == str(tmp_path / "d.csv")


def test_model_accepts_list_int_and_empty():
    assert C.parse_model([64, 32]) == [64, 32]
    assert C.parse_model(16) == [16]
    assert C.parse_model("") == []
    assert C.parse_model("128") == [128]
    with pytest.raises(C.ConfigError, match="not an integer"):
        C.parse_model("64,x")
    with pytest.raises(C.ConfigError, match="positive"):
        C.parse_model([0])


def test_batch_size_forms():
    assert C.parse_batch_size("32") == 32
    assert C.parse_batch_size(1) == 1
    assert C.parse_batch_size("full") is None
    with pytest.raises(C.ConfigError, match="at least 1"):
        C.parse_batch_size(0)
    with pytest.raises(C.ConfigError, match="positive integer or 'full'"):
        C.parse_batch_size("many")


def test_precedence_defaults_file_flags(tmp_path):
    p = write(tmp_path, "lr = 0.05\nepochs = 7\nseed = 3\n")
    file_vals = C.load_toml(p)
    # typer passes every flag's value; only the typed ones ("given") override the file
    flags = {"lr": 0.2, "epochs": 30, "seed": 0, "optimizer": "adam"}
    cfg = C.merge(file_vals, flags, given={"lr"})
    assert cfg["lr"] == 0.2  # flag beats file
    assert cfg["epochs"] == 7 and cfg["seed"] == 3  # file beats default
    assert cfg["optimizer"] == "adam" and cfg["batch_size"] == 32  # defaults


def test_unknown_key_lists_valid_keys(tmp_path):
    p = write(tmp_path, "learning_rate = 0.1\n")
    with pytest.raises(C.ConfigError) as info:
        C.load_toml(p)
    msg = str(info.value)
    assert "unknown key 'learning_rate'" in msg
    assert "valid keys are:" in msg and "lr" in msg and "batch_size" in msg and "epochs" in msg


def test_typo_gets_a_suggestion(tmp_path):
    p = write(tmp_path, "epoch = 3\n")
    with pytest.raises(C.ConfigError, match="did you mean 'epochs'"):
        C.load_toml(p)


@pytest.mark.parametrize("text, key", [
    ("lr = 'fast'\n", "lr"),
    ("epochs = 2.5\n", "epochs"),
    ("standardize = 1\n", "standardize"),
    ("scheduler = 'sometimes'\n", "scheduler"),
    ("[train]\nlr = 0.1\n", "train"),
])
def test_bad_types_name_the_key(tmp_path, text, key):
    p = write(tmp_path, text)
    with pytest.raises(C.ConfigError) as info:
        C.load_toml(p)
    assert key in str(info.value)


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(C.ConfigError, match="not valid TOML"):
        C.load_toml(write(tmp_path, "lr = = 1\n"))
    with pytest.raises(C.ConfigError, match="does not exist"):
        C.load_toml(tmp_path / "nope.toml")


@pytest.mark.parametrize("key, value, match", [
    ("lr", 0.0, "positive"),
    ("test_size", 1.0, r"\(0, 1\)"),
    ("val_size", -0.1, r"\[0, 1\)"),
    ("dropout", 1.0, r"\[0, 1\)"),
    ("epochs", 0, "at least 1"),
    ("patience", 0, "at least 1"),
    ("seed", -1, "non-negative"),
    ("name", "a/b", "plain folder name"),
])
def test_range_checks(key, value, match):
    with pytest.raises(C.ConfigError, match=match) as info:
        C.merge({key: value}, {}, set())
    assert info.value.key == key


def test_flag_errors_name_the_flag():
    with pytest.raises(C.ConfigError) as info:
        C.merge({}, {"lr": -1.0}, {"lr"})
    assert info.value.source == "--lr"


@pytest.mark.parametrize("values, key, match", [
    ({"resume": True}, "resume", "needs --checkpoint-dir"),
    ({"checkpoint_every": 10}, "checkpoint_every", "needs --checkpoint-dir"),
    ({"max_time": 0.0}, "max_time", "positive"),
    ({"grad_tol": -1.0}, "grad_tol", "non-negative"),
    ({"steps": 1}, "steps", "at least 2"),
    ({"threads": 0}, "threads", "at least 1"),
    ({"name": ".hidden"}, "name", "not starting with '.'"),
    ({"patience": 3, "val_size": 0.0}, "patience", "val_size > 0"),
])
def test_checks_between_keys(values, key, match):
    with pytest.raises(C.ConfigError, match=match) as info:
        C.merge(values, {}, set())
    assert info.value.key == key


def test_every_fit_option_has_a_key():
    import inspect

    from descend.train import fit

    # fit's data/model/loss/metrics/callbacks are set by the command itself; scheduler_interval follows
    # from --scheduler; checkpoint_dir/resume/checkpoint_every are keys of their own
    internal = {"model", "train", "loss", "optimizer", "validation", "metrics", "callbacks", "scheduler_interval",
                "divergence_warning"}  # the command reports a divergence itself
    names = set(inspect.signature(fit).parameters) - internal
    assert names <= set(C.DEFAULTS), names - set(C.DEFAULTS)


def test_lr_find_keys_are_the_apis_names_and_defaults():
    import inspect

    from descend.train import lr_find

    api = inspect.signature(lr_find).parameters
    for key in C.LR_FIND_KEYS:
        assert C.DEFAULTS[key] == api[key].default, key


def test_a_key_the_command_does_not_read_is_refused_naming_it(tmp_path):
    p = write(tmp_path, "epochs = 2\nsteps = 50\n")
    train_keys = [k for k in C.valid_keys() if k not in C.LR_FIND_KEYS]
    with pytest.raises(C.ConfigError, match=r"key 'steps' is not read by descend train \(key of descend lr-find\)"):
        C.load_toml(p, keys=train_keys)
    with pytest.raises(C.ConfigError, match=r"key 'epochs' is not read by descend lr-find \(key of descend train\)"):
        C.load_toml(p, keys=["steps", "lr"], command="descend lr-find")
    # all of them in one message: a run's config.toml holds a dozen keys lr-find does not read
    many = write(tmp_path, "epochs = 2\nshuffle = true\nlr = 0.1\n", name="many.toml")
    with pytest.raises(C.ConfigError, match=r"keys 'epochs', 'shuffle' are not read by descend lr-find \(keys of "
                                            r"descend train\); remove them"):
        C.load_toml(many, keys=["steps", "lr"], command="descend lr-find")


def test_a_run_config_of_an_earlier_version_still_re_runs(tmp_path):
    # before lr-find's keys left train's stored configuration, a run's config.toml held them
    # (num_iter was lr-find's steps): descend train skips them there, and only there
    keys = "epochs = 2\nstart_lr = 1e-06\nend_lr = 1.0\nnum_iter = 100\n"
    train_keys = [k for k in C.valid_keys() if k not in C.LR_FIND_KEYS]
    old = write(tmp_path, f"# {C.RUN_CONFIG_TITLE} (2026-12-05 12:00:00); re-run with: descend train --config "
                          f"config.toml\n{keys}", name="config.toml")
    assert C.load_toml(old, keys=train_keys) == {"epochs": 2}
    with pytest.raises(C.ConfigError, match="start_lr"):
        C.load_toml(write(tmp_path, keys), keys=train_keys)
