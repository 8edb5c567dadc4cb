"""Regenerate the screenshots of docs/playground.md into docs/images/.

    python docs/make_playground_screenshots.py

Needs the ``ui`` extra, Playwright and Debian's ``chromium`` (``apt-get install chromium``).
Runs the playground on a free loopback port, drives it headless, and stores the pictures as
PNG (Pillow; 256-colour palettes where that loses nothing that matters, to keep them small).
"""

from __future__ import annotations

import io
import shutil
import sys
import warnings
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

from descend.playground import server

OUT = Path(__file__).resolve().parent / "images"


def save(page, name, clip=None, colours=256):
    """A screenshot as PNG; with ``colours`` a palette image (smaller), None keeps full colour."""
    png = page.screenshot(clip=clip)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    if colours:
        image = image.quantize(colors=colours)
    image.save(OUT / f"{name}.png", optimize=True)
    print(f"wrote docs/images/{name}.png")


def main() -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("needs Debian's chromium: apt-get install chromium", file=sys.stderr)
        return 1
    with server.serving() as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.wait_for_function("Net.frame !== null")
            page.select_option("#preset", "spiral-deep-tanh")
            page.wait_for_function("Net.config.dataset === 'spiral'")
            page.click("#play")
            page.wait_for_function("Net.frame.step >= 3000", timeout=120_000)
            page.click("#play")
            page.wait_for_function("!Net.playing")
            save(page, "playground_network", clip={"x": 0, "y": 0, "width": 1400, "height": 880})
            page.select_option("#preset", "lr-too-high")
            page.wait_for_function("Net.config.lr === 2")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                page.click("#play")
                page.wait_for_selector("#diverged:not([hidden])")
            save(page, "playground_diverged", clip={"x": 900, "y": 100, "width": 420, "height": 720})
            page.goto(url + "?tab=landscape&function=six_hump_camel")
            page.wait_for_function("Land.info !== null")
            for name in ("nesterov", "rmsprop"):
                page.check(f"#race-{name}")
            page.click("#land-canvas", position={"x": 120, "y": 140})
            page.wait_for_function("Land.race !== null")
            page.wait_for_timeout(3500)  # the animation
            page.select_option("#basin-opt", "momentum")
            page.click("#basins")
            page.wait_for_function("document.getElementById('basin-share').textContent !== ''")
            page.click("#search")
            # the searches are animated: wait until each has spent the whole budget
            page.wait_for_function("Land.search !== null && Land.searchShown === Land.search.budget")
            # full colour: a palette would merge the racers' colours
            save(page, "playground_landscape", clip={"x": 0, "y": 0, "width": 1400, "height": 900},
                 colours=None)
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
