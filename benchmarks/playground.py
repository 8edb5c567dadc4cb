"""Frames per second of the playground's decision boundary, and how fast a control answers.

The issue's target: at least 20 redrawn frames per second of the 100x100 decision boundary for a
2-8-8-1 network on 500 points with at least 10 optimizer steps between frames, and controls that
answer within 100 ms while training runs. Measured three ways, in one run:

* **server** — what one frame costs the server: ``steps`` optimizer steps (``Trainer.step``),
  the boundary and every neuron on the grid, the weights, train and test loss, and the JSON
  text the WebSocket carries; against its peer in the same run, the same ``steps`` optimizer
  steps alone (so the ratio is the price of drawing).
* **page** — frames the page drew per second in headless Chromium (Debian's ``chromium``,
  driven by Playwright), with training playing (the session caps itself at 60 frames per
  second; a frame that arrives before the last was drawn is replaced, not drawn, so the steps
  between drawn frames can exceed ``--steps``).
* **control** — from a click on pause to the page showing "paused" while training runs
  (median and worst of ``--clicks`` clicks).

    python benchmarks/playground.py                  # all three (the last two need chromium)
    python benchmarks/playground.py --server-only
    python benchmarks/playground.py --steps 10 --seconds 5 --json playground.json
    python benchmarks/playground.py --soak 120       # memory of a session playing 2 minutes

BLAS runs single-threaded (``--threads 1``), as ``descend playground`` does by default: its
products are small, and on a 2-core machine a second BLAS thread only contends with the server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import threading
import time

from descend.playground import config
from descend.playground.session import NetworkSession

SETUP = {"dataset": "circle", "n_samples": 500, "hidden": [8, 8], "activation": "tanh",
         "optimizer": "sgd", "lr": 0.03, "batch_mode": "minibatch", "batch_size": 10}


def server_side(steps: int, seconds: float) -> dict:
    """Frames per second of the whole frame (steps + drawing + JSON), against steps alone."""
    results = {}
    sent = []
    session = NetworkSession(sent.append)
    session.submit({"type": "config", "config": {**SETUP, "steps_per_frame": steps}})
    while not any(m["type"] == "frame" for m in sent):
        time.sleep(0.01)
    # The worker now waits for requests; this thread drives the run (no frame rate cap).
    trainer = session.run.trainer
    # Interleave the two candidates in rounds so that both see the same machine load.
    frame_times, step_times = [], []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.step()
        t1 = time.perf_counter()
        for _ in range(steps):
            trainer.step()
        json.dumps(session.frame(), allow_nan=False)
        t2 = time.perf_counter()
        step_times.append(t1 - t0)
        frame_times.append(t2 - t1)
    results["frames"] = len(frame_times)
    results["frame_ms_median"] = 1000 * statistics.median(frame_times)
    results["steps_alone_ms_median"] = 1000 * statistics.median(step_times)
    results["frames_per_second"] = 1 / statistics.median(frame_times)
    results["frame_over_steps_alone"] = statistics.median(frame_times) / statistics.median(step_times)
    session.close()
    return results


def resident_mib() -> float:
    """This process's resident memory (Linux: /proc/self/statm), in MiB."""
    import os

    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def soak(seconds: float, steps: int) -> dict:
    """A session playing for ``seconds`` with every frame taken at once: its memory over time.

    With ``steps`` optimizer steps a frame (default 500 here) two minutes go through as many
    steps as a tab playing 10 steps a frame at 60 frames per second does in over an hour.
    """
    sent = []
    lock = threading.Lock()

    def take(message):
        with lock:
            if message["type"] == "frame":
                sent.append(message["step"])
                session.frame_sent()

    session = NetworkSession(take)
    session.submit({"type": "config", "config": {**SETUP, "steps_per_frame": steps}})
    session.submit({"type": "play"})
    samples = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        time.sleep(min(10.0, seconds / 12))
        with lock:
            step = sent[-1] if sent else 0
        samples.append((round(time.perf_counter() - start), step, round(resident_mib(), 1)))
        print(f"  soak: {samples[-1][0]:>4} s  step {step:>8}  resident {samples[-1][2]} MiB")
    session.close()
    return {"samples": samples, "steps_per_frame": steps}


@contextlib.contextmanager
def serving_page(steps: int):
    """The playground served on a free loopback port and opened in headless Chromium, set up
    with SETUP and ``steps`` steps a frame: yields the Playwright page."""
    from playwright.sync_api import sync_playwright

    from descend.playground import server

    query = "?" + "&".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}"
                           for k, v in {**SETUP, "steps_per_frame": steps}.items())
    with server.serving() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + query)
        page.wait_for_function("Net.frame !== null")
        yield page
        browser.close()


def in_browser(steps: int, seconds: float, clicks: int) -> dict:
    """Frames per second the page draws, and click-to-paused latency, in headless Chromium."""
    out = {}
    with serving_page(steps) as page:
        page.click("#play")
        page.wait_for_function("Net.playing")
        time.sleep(1.0)  # warm up
        f0, s0, t0 = page.evaluate("[Net.framesDrawn, Net.frame.step, performance.now()]")
        time.sleep(seconds)
        f1, s1, t1 = page.evaluate("[Net.framesDrawn, Net.frame.step, performance.now()]")
        out["page_frames_per_second"] = (f1 - f0) / ((t1 - t0) / 1000)
        out["page_steps_per_frame"] = (s1 - s0) / max(f1 - f0, 1)
        latencies = []
        for _ in range(clicks):
            # click pause and wait for the server's "status" that stops the animation
            latencies.append(page.evaluate("""() => new Promise((resolve) => {
                const t = performance.now();
                document.getElementById('play').click();
                const check = () => Net.playing ? requestAnimationFrame(check)
                                                : resolve(performance.now() - t);
                check();
            })"""))
            page.click("#play")
            page.wait_for_function("Net.playing")
            time.sleep(0.3)
        out["pause_latency_ms_median"] = statistics.median(latencies)
        out["pause_latency_ms_worst"] = max(latencies)
    return out


def browser_soak(steps: int, seconds: float) -> dict:
    """A tab playing in headless Chromium for ``seconds``: the server's resident memory and the
    page's JavaScript heap over time (Chromium's ``performance.memory``)."""
    samples = []
    with serving_page(steps) as page:
        page.click("#play")
        page.wait_for_function("Net.playing")
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            time.sleep(min(30.0, seconds / 10))
            step, heap = page.evaluate(
                "[Net.frame.step, performance.memory ? performance.memory.usedJSHeapSize : -1]")
            samples.append((round(time.perf_counter() - start), step, round(resident_mib(), 1),
                            round(heap / 2**20, 1)))
            print(f"  browser soak: {samples[-1][0]:>4} s  step {step:>8}  server resident "
                  f"{samples[-1][2]} MiB  page heap {samples[-1][3]} MiB")
    return {"samples": samples, "steps_per_frame": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps between frames")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clicks", type=int, default=10)
    parser.add_argument("--server-only", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (threadpoolctl)")
    parser.add_argument("--soak", type=float, default=0,
                        help="instead: play one session this many seconds, print its memory")
    parser.add_argument("--browser-soak", type=float, default=0,
                        help="instead: play one tab in headless Chromium this many seconds, print "
                             "the server's memory and the page's heap")
    parser.add_argument("--hidden", default="8,8",
                        help="hidden layer sizes (e.g. 32,32,32,32,32,32 for the largest the issue "
                             "asks to stay responsive)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    from threadpoolctl import threadpool_info, threadpool_limits

    SETUP["hidden"] = [int(h) for h in args.hidden.split(",") if h]
    config.check({**SETUP, "steps_per_frame": args.steps})
    if args.browser_soak:
        with threadpool_limits(limits=args.threads, user_api="blas"):
            figures = browser_soak(args.steps, args.browser_soak)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(figures, fh, indent=2)
        return
    if args.soak:
        with threadpool_limits(limits=args.threads, user_api="blas"):
            figures = soak(args.soak, 500 if args.steps == 10 else args.steps)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(figures, fh, indent=2)
        return
    figures = {"setup": {**SETUP, "steps_per_frame": args.steps}}
    with threadpool_limits(limits=args.threads, user_api="blas"):
        blas = [(i["internal_api"], i.get("architecture"), i["num_threads"])
                for i in threadpool_info() if i["user_api"] == "blas"]
        print(f"BLAS: {blas}")
        figures["blas"] = blas
        figures["server"] = server_side(args.steps, args.seconds)
    s = figures["server"]
    print(f"server: {s['frames_per_second']:.0f} frames/s ({s['frame_ms_median']:.2f} ms a frame "
          f"of {args.steps} steps; the steps alone {s['steps_alone_ms_median']:.2f} ms; "
          f"ratio {s['frame_over_steps_alone']:.2f})")
    if not args.server_only:
        if shutil.which("chromium") is None:
            print("page: skipped (no chromium; apt-get install chromium)")
        else:
            with threadpool_limits(limits=args.threads, user_api="blas"):
                figures["page"] = in_browser(args.steps, args.seconds, args.clicks)
            b = figures["page"]
            print(f"page: {b['page_frames_per_second']:.1f} frames/s drawn, "
                  f"{b['page_steps_per_frame']:.1f} steps between frames; pause answered in "
                  f"{b['pause_latency_ms_median']:.0f} ms (median), "
                  f"{b['pause_latency_ms_worst']:.0f} ms (worst of {args.clicks})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)


if __name__ == "__main__":
    main()
