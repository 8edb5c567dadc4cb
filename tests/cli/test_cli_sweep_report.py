"""The sweep's report.html: a key for every line, mean and spread over seeds, a table that fits."""

import re

import numpy as np
import pytest

pytest.importorskip("typer")
pytest.importorskip("dask")

from descend.cli import sweep as S
from descend.distributed.sweep import SweepResult


def _result(n_lr=5, n_batch=7, seeds=(0, 1, 2), fail_index=4):
    rng = np.random.default_rng(0)
    grid = {"lr": [0.001 * 2 ** i for i in range(n_lr)], "batch_size": [2 ** (4 + i) for i in range(n_batch)],
            "seed": list(seeds)}
    records = []
    for i, (lr, b, s) in enumerate((lr, b, s) for lr in grid["lr"] for b in grid["batch_size"] for s in seeds):
        cfg = {"lr": lr, "batch_size": b, "seed": s}
        if i == fail_index:
            records.append({"index": i, "config": cfg, "status": "error", "result": None, "wall_time": 0.1,
                            "worker": "tcp://127.0.0.1:40000",
                            "error": "ValueError: " + "a very long message that must not widen the table " * 4})
            continue
        curve = list(np.exp(-np.arange(6) * lr * 50) + 0.01 * rng.random(6) + 0.05)
        records.append({"index": i, "config": cfg, "status": "ok", "wall_time": 1.25, "worker": "tcp://127.0.0.1:40000",
                        "result": {"val_loss": curve[-1], "test_accuracy": 0.9 + 0.01 * s, "epochs": 6,
                                   "stop_reason": "epochs", "val_loss_curve": curve, "train_loss_curve": curve,
                                   "run_dir": S.run_name(i, cfg)}})
    return grid, SweepResult(records, wall_time=3.0, n_workers=2)


def test_the_report_has_a_key_for_every_configuration_and_the_spread_over_seeds():
    grid, result = _result()
    best = min(result.ok, key=lambda r: r["result"]["val_loss"])
    page = S._report(result, grid, {"epochs": 6}, "val_loss", best, "s", "descend sweep g.toml", "a cluster")
    assert page.startswith("<!DOCTYPE html>") and "Loss curves" in page
    assert "(the mean over seeds, their range shaded)" in page
    # one row per configuration over its seeds: mean ± std (min–max), and how many seeds finished
    table = re.search(r"<h2>Over seeds</h2>.*?<table>(.*?)</table>", page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    assert len(rows) == 1 + 5 * 7
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[1])
    assert cells[:2] == ["0.001", "16"] and cells[2] == "3 of 3"
    accuracy = [r["result"]["test_accuracy"] for r in result.ok[:3]]
    mean, std = np.mean(accuracy), np.std(accuracy, ddof=1)
    assert cells[4] == f"{mean:.4g} ± {std:.2g} ({min(accuracy):.4g}–{max(accuracy):.4g})"
    failed_group = re.findall(r"<td[^>]*>(.*?)</td>", rows[2])
    assert failed_group[2] == "2 of 3"  # run 4 (second configuration, seed 1) failed


def test_the_all_runs_table_keeps_its_status_column_near_the_front():
    grid, result = _result(n_lr=1, n_batch=2)
    page = S._report(result, grid, {}, "val_loss", None, "s", "descend sweep g.toml", "a cluster")
    head = re.search(r"<h2>All runs</h2>\s*<div class=\"wide\"><table><tr>(.*?)</tr>", page).group(1)
    assert re.findall(r"<th>(.*?)</th>", head)[:2] == ["run", "status"]
    # a failure's message is listed below the table, not in a cell of it
    assert "<td>failed</td>" in page and "a very long message" in page.split("Failed runs")[1]
    assert ".wide{max-width:100%;overflow-x:auto}" in page and "max-width:1200px" in page


def test_sweep_text_is_escaped():
    grid, result = _result(n_lr=1, n_batch=1, seeds=(0,), fail_index=0)
    result.records[0]["error"] = "<script>x</script>"
    page = S._report(result, grid, {"data": "<b>"}, "val_loss", None, "<i>", "cmd <x>", "<cluster>")
    assert "<script>" not in page and "<b>" not in page and "&lt;script&gt;" in page


def test_the_report_fits_a_1280_pixel_window(tmp_path):
    """Opened in a real browser 1280 px wide, nothing of the page (the status column included)
    lies beyond the window's right edge."""
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api")
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        pytest.skip("no chromium to open the page in")
    grid, result = _result()
    grid["optimizer"] = ["adam"]
    for r in result.records:  # a long folder name and one more column, as a real sweep has
        r["config"]["optimizer"] = "adam"
    page_html = S._report(result, grid, {}, "val_loss", result.ok[0], "s", "descend sweep g.toml", "a cluster")
    path = tmp_path / "report.html"
    path.write_text(page_html)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(path.as_uri())
            width = page.evaluate("document.documentElement.scrollWidth")
            right = page.evaluate("Math.max(...[...document.querySelectorAll('th')]"
                                  ".filter(th => th.textContent === 'status')"
                                  ".map(th => th.getBoundingClientRect().right))")
        finally:
            browser.close()
    assert width <= 1280 and 0 < right <= 1280
