"""End to end in a real browser: Debian's headless Chromium driven by Playwright.

The server runs in a thread on a free loopback port. Screenshots are written to
``tmp/artefacts/playground/`` under the repository (kept by CI as test artefacts).
Skipped, with the reason, where Chromium or Playwright is missing; ``.ci/run`` installs both.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does it)",
                allow_module_level=True)


from descend.playground import server  # noqa: E402

ARTEFACTS = pathlib.Path(__file__).resolve().parents[2] / "tmp" / "artefacts" / "playground"


@pytest.fixture(scope="module")
def base_url():
    with server.serving() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(page, name):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"))


def wait_js(page, expression, timeout=30_000):
    page.wait_for_function(expression, timeout=timeout)


def open_network(page, base_url, query=""):
    page.goto(base_url + query)
    wait_js(page, "Net.frame !== null && Net.ready !== null")


def boundary_png(page):
    return page.evaluate("document.getElementById('boundary').toDataURL()")


def test_play_until_the_test_loss_falls_and_the_boundary_changes(page, base_url):
    open_network(page, base_url, "?optimizer=adam&lr=0.03&hidden=[8,8]&steps_per_frame=20")
    assert page.input_value("#optimizer") == "adam"  # the URL's state was applied
    first_loss = page.evaluate("Net.frame.test_loss")
    before = boundary_png(page)
    page.click("#play")
    wait_js(page, f"Net.frame.test_loss < {first_loss} - 0.2")
    page.click("#play")  # pause
    wait_js(page, "!Net.playing")
    assert boundary_png(page) != before
    assert int(page.inner_text("#step-count")) > 0
    shot(page, "network-trained")


def test_switch_optimizer_and_batch_mode_and_the_url_keeps_them(page, base_url):
    open_network(page, base_url)
    page.select_option("#optimizer", "rmsprop")
    wait_js(page, "Net.config.optimizer === 'rmsprop'")
    assert "v ← 0.99·v" in page.inner_text("#equation")
    assert page.locator("#hyper-alpha").input_value() == "0.99"
    page.select_option("#batch_mode", "stochastic")
    wait_js(page, "Net.config.batch_mode === 'stochastic'")
    assert "|B| = 1" in page.inner_text("#equation")
    page.click("#step")
    wait_js(page, "Net.frame.step === 1")
    assert "optimizer=rmsprop" in page.url and "batch_mode=stochastic" in page.url
    page.reload()
    wait_js(page, "Net.ready !== null")
    assert page.input_value("#optimizer") == "rmsprop"
    assert page.input_value("#batch_mode") == "stochastic"


def test_a_link_with_a_bad_value_keeps_its_other_settings(page, base_url):
    open_network(page, base_url, '?optimizer=adam&hidden=[5,5]&lr=-5&dataset=xor')
    page.wait_for_selector("#error:not([hidden])")
    assert "lr must be between" in page.inner_text("#error-text")
    assert page.input_value("#optimizer") == "adam" and page.input_value("#dataset") == "xor"
    assert page.evaluate("Net.config.hidden") == [5, 5]
    assert "lr=0.03" in page.url and "lr=-5" not in page.url  # the link now says what runs


def test_a_bad_value_is_reported_and_the_page_goes_on(page, base_url):
    open_network(page, base_url)
    page.fill("#lr", "-5")
    page.dispatch_event("#lr", "change")
    page.wait_for_selector("#error:not([hidden])")
    assert "lr must be between" in page.inner_text("#error-text")
    wait_js(page, "document.getElementById('lr').value === '0.03'")  # the controls go back
    page.click("#step")
    wait_js(page, "Net.frame.step === 1")


def test_divergence_shows_the_guard_message_not_nan(page, base_url):
    open_network(page, base_url)
    page.select_option("#preset", "lr-too-high")
    wait_js(page, "Net.config.lr === 2")
    assert "overshoots" in page.inner_text("#preset-why")
    page.click("#play")
    page.wait_for_selector("#diverged:not([hidden])")
    banner = page.inner_text("#diverged")
    assert "training diverged" in banner and "last finite network" in banner
    assert "NaN" not in page.inner_text("#output-panel")
    # the page's curve has the climb step by step, up to the step the guard kept
    assert page.evaluate("Net.curve.map((p) => p[0])") == list(range(page.evaluate("Net.frame.step") + 1))
    shot(page, "network-diverged")


def test_a_deep_wide_network_draws(page, base_url):
    open_network(page, base_url, "?hidden=[32,32,32,32,32,32]&activation=relu&optimizer=adam"
                                 "&lr=0.01&features=[\"x1\",\"x2\",\"x1sq\",\"x2sq\",\"sinx1\"]")
    page.click("#play")
    wait_js(page, "Net.frame.step >= 200")
    page.click("#play")
    wait_js(page, "!Net.playing")
    assert page.evaluate("Net.frame.neurons.length") == 6
    shot(page, "network-deep")


def test_export_the_script_and_it_reproduces_the_loss(page, base_url, tmp_path):
    open_network(page, base_url, "?optimizer=nesterov&lr=0.01&hidden=[5]&dataset=moons")
    for k in range(1, 6):
        page.click("#step")
        wait_js(page, f"Net.frame.step === {k}")
    with page.expect_download() as info:
        page.click("[data-export=script]")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, check=True,
                         cwd=tmp_path, timeout=120).stdout
    train = float(re.search(r"train loss (\S+)", out).group(1))
    assert train == pytest.approx(page.evaluate("Net.frame.train_loss"), rel=1e-6)


def test_upload_a_csv_then_a_bad_one(page, base_url, tmp_path):
    open_network(page, base_url)
    good = tmp_path / "rings.csv"
    good.write_text("x,y,label\n" + "\n".join(
        f"{(i % 7) - 3},{(i * 3 % 11) - 5},{int(((i % 7) - 3) ** 2 + ((i * 3 % 11) - 5) ** 2 < 9)}"
        for i in range(60)))
    page.set_input_files("#csv-file", str(good))
    wait_js(page, "Net.config.dataset === 'csv' && Net.frame.step === 0")
    assert "rings.csv" in page.inner_text("#csv-name")
    assert page.evaluate("Net.ready.train.length") == 42
    bad = tmp_path / "broken.csv"
    bad.write_text("x,y\n1,2\n3,4\n5,6\n7,8\n")
    page.set_input_files("#csv-file", str(bad))
    page.wait_for_selector("#error:not([hidden])")
    assert "broken.csv: expected 3 columns" in page.inner_text("#error-text")
    assert page.evaluate("Net.config.dataset") == "csv"  # the good file is still the data
    page.reload()  # a new tab holds no upload: it says so and falls back to the defaults
    page.wait_for_selector("#error:not([hidden])")
    assert "upload a CSV first" in page.inner_text("#error-text")
    wait_js(page, "Net.config !== null && Net.config.dataset === 'circle'")


def test_landscape_race_search_and_basins(page, base_url):
    page.goto(base_url + "?tab=landscape&function=himmelblau")
    wait_js(page, "Land.info !== null")
    page.click("#land-canvas", position={"x": 150, "y": 380})
    page.wait_for_function("document.querySelectorAll('#race-table tbody tr').length === 3")
    wait_js(page, "Land.race !== null && Land.raceShown > 10")
    steps = page.locator("#race-table .race-step").all_inner_texts()
    assert all(int(s) > 0 for s in steps)
    page.click("#search")
    # the searches are animated on one clock, the evaluations spent: caught half way, every
    # method has spent the same part of the budget and drawn only that part of its path
    halfway = page.wait_for_function("""() => Land.search !== null && Land.searchShown >= 100
        && Land.searchShown < 400 && [Land.searchShown, [...document.querySelectorAll(
            '#search-table .search-evaluations')].map((c) => +c.textContent)]""").json_value()
    assert len(halfway[1]) == 5 and all(0 < n <= halfway[0] < 500 for n in halfway[1])
    wait_js(page, "Land.searchShown === 500")
    counts = page.locator("#search-table .search-evaluations").all_inner_texts()
    # tunnelling stops early once no direction leads lower (Himmelblau's minima are all global)
    assert counts[:4] == ["500"] * 4 and 0 < int(counts[4]) <= 500
    page.click("#basins")
    page.wait_for_function("document.getElementById('basin-share').textContent.includes('%')")
    shares = page.inner_text("#basin-share")
    assert "reach a global minimum" in shares
    # A start that settled in an unlisted minimum is told apart from one that diverged.
    assert "another minimum, or still moving" in shares and "diverged:" in shares
    shot(page, "landscape")


def test_a_diverging_racer_says_so(page, base_url):
    page.goto(base_url + "?tab=landscape&function=rastrigin")
    wait_js(page, "Land.info !== null")
    page.fill("#race-opts input[data-optimizer=sgd]", "5")
    page.click("#land-canvas", position={"x": 300, "y": 200})
    wait_js(page, "Land.race !== null && Land.raceShown >= "
                  "Math.max(...Land.race.runs.map((run) => run.path.length)) - 1")
    rows = page.locator("#race-table tbody tr").all_inner_texts()
    assert "diverged" in rows[0] and all("diverged" not in row for row in rows[1:])
    assert page.locator("#race-table .diverged-cell").get_attribute("title").startswith("diverged: f =")
