"""The Value Map of a big map as a person sees it: `streamlit run app.py` driven by headless chromium.

bench_scale.py times the page on the server (AppTest); this adds what the browser does: the first render,
a box selection until its rows are listed, zoom / whole-map / pan round trips until the new chart is
drawn and the app is idle again, a zoom close enough for points, then the Compare and Value Lenses pages
(twice each: the second visit is warm) (chromium with no GPU: its software
WebGL, as on a machine without one). The server's RSS is read from /proc after each step. Baseline, in
the same run and browser: a page holding nothing but one 100-point Plotly chart (SVG, then WebGL) and a
button that changes it (first render, and a click's round trip).

    python bench/bench_scale.py --sizes 1000000          # builds the map syn1000000 (once)
    python bench/bench_browser_map.py [--map syn1000000] [--data-dir .cache/bench_scale/maps]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHART = ".st-key-value_map_chart .js-plotly-plot"   # the Value Map's chart (a big map's legend strip is another)
PLOT = f"const el = document.querySelector('{CHART}'); return !!el && !!el._fullData && "
TITLE = f"const el = document.querySelector('{CHART}'); return el && el._fullLayout && el._fullLayout.title.text"
BASELINE_APP = """import plotly.graph_objects as go
import streamlit as st
n = st.session_state.get("n", 0)
st.title("Baseline")
st.plotly_chart(go.Figure(go.TRACE(x=list(range(100)), y=[i * (n + 1) for i in range(100)], mode="markers"),
                          layout=dict(title=dict(text=f"round {n}"))), key="value_map_chart")
st.button("Next", on_click=lambda: st.session_state.update(n=n + 1))
"""


def server_rss(pid: int) -> str:
    fields = {line.split(":")[0]: line.split(":")[1].strip() for line in open(f"/proc/{pid}/status")}
    return (f"server RSS {int(fields['VmRSS'].split()[0]) / 2**20:.2f} GiB "
            f"(peak {int(fields['VmHWM'].split()[0]) / 2**20:.2f})")


def start_server(app: str, cwd: Path, env: dict) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", app, "--server.port", str(port),
                             "--server.headless", "true", "--browser.gatherUsageStats", "false",
                             "--server.fileWatcherType", "none"], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    return proc, url


def main() -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--map", default="syn1000000")
    ap.add_argument("--data-dir", type=Path, default=REPO / ".cache" / "bench_scale" / "maps")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not (args.data_dir / args.map / "manifest.json").exists():
        sys.exit(f"no map {args.map!r} in {args.data_dir}: build it with bench/bench_scale.py first")
    env = {**os.environ, "UNIVAR_DATA_DIR": str(args.data_dir), "HF_HUB_OFFLINE": "1"}
    print(f"# {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}; map {args.map}", flush=True)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1300",
                 "--use-angle=swiftshader", "--enable-unsafe-swiftshader"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    wait = WebDriverWait(driver, 300, poll_frequency=0.02)   # the default 0.5 s poll would round times up
    idle = lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidgetRunningIcon"]')  # noqa: E731
    procs: list[subprocess.Popen] = []

    def box(dx: int, dy: int) -> str:
        """Drag a box from (-dx, -dy) to (dx, dy) around the chart's centre; wait for its rows."""
        wait.until(idle)
        before = re.search(r"Selected QAs \(([\d,]*)\)", driver.find_element(By.TAG_NAME, "body").text)
        drag = driver.find_element(By.CSS_SELECTOR, f"{CHART} .nsewdrag")
        t0 = time.perf_counter()
        (ActionChains(driver).move_to_element_with_offset(drag, -dx, -dy).click_and_hold()
         .move_by_offset(dx, dy).move_by_offset(dx, dy).release().perform())
        released = time.perf_counter()   # the selection event fires on the release, the end of perform()
        found = wait.until(lambda d: (m := re.search(r"Selected QAs \(([1-9][\d,]*)\)",
                                                     d.find_element(By.TAG_NAME, "body").text))
                           and (before is None or m.group(1) != before.group(1)) and m)
        listed = time.perf_counter() - released
        wait.until(idle)
        print(f"box selection: rows listed {listed:.2f} s after the mouse is released, app idle "
              f"{time.perf_counter() - released:.2f} s ({found.group(1)} QAs; the drag itself, webdriver's "
              f"mouse moves: {released - t0:.2f} s); {server_rss(procs[-1].pid)}", flush=True)
        return found.group(1)

    def click(label: str, button: str) -> None:
        """Click a button; time until the chart's title changes (the new chart is drawn), then idle."""
        wait.until(idle)
        time.sleep(1)
        before = driver.execute_script(TITLE)
        driver.find_element(By.XPATH, f"//button[normalize-space(.)='{button}']").click()
        t0 = time.perf_counter()
        wait.until(lambda d: d.execute_script(TITLE) != before)
        drawn = time.perf_counter() - t0
        wait.until(idle)
        kinds = driver.execute_script(f"return document.querySelector('{CHART}')._fullData"
                                      ".map(t => t.type).filter((t, i, a) => a.indexOf(t) === i).join('+')")
        print(f"{label}: chart drawn {drawn:.2f} s, app idle {time.perf_counter() - t0:.2f} s ({kinds}); "
              f"{server_rss(procs[-1].pid)}", flush=True)

    try:
        for trace, kind in (("Scatter", "scatter"), ("Scattergl", "scattergl")):   # SVG, then WebGL
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "baseline.py").write_text(BASELINE_APP.replace("TRACE", trace))
                proc, url = start_server("baseline.py", Path(tmp), env)
                procs.append(proc)
                for visit in ["cold"] + ["warm"] * args.repeats:
                    t0 = time.perf_counter()
                    driver.get(url)
                    wait.until(lambda d, kind=kind: d.execute_script(PLOT + f"el._fullData[0].type === '{kind}'"))
                    print(f"baseline (one 100-point {kind} chart), first render, {visit}: "
                          f"{time.perf_counter() - t0:.2f} s", flush=True)
                for _ in range(args.repeats):
                    click(f"baseline ({kind}): a button's round trip to a new chart", "Next")
                proc.terminate()

        proc, url = start_server("app.py", REPO, env)
        procs.append(proc)
        for visit in ["cold: the server loads the map"] + ["warm: a new session"] * args.repeats:
            t0 = time.perf_counter()
            driver.get(f"{url}/?map={args.map}")
            wait.until(lambda d: d.execute_script(PLOT + "el._fullData[0].type === 'image'"))
            print(f"first render ({visit}): {time.perf_counter() - t0:.2f} s; {server_rss(proc.pid)}", flush=True)
            wait.until(idle)

        box(60, 40)
        for _ in range(args.repeats):
            click("zoom to the box", "Zoom to box")
            click("whole map", "Whole map")
        click("zoom to the box", "Zoom to box")
        for _ in range(args.repeats):
            click("pan right half a view", "→")
            click("pan left half a view", "←")
        box(25, 18)                                   # a box in the zoomed view, small enough for points
        click("zoom to the small box", "Zoom to box")
        click("whole map", "Whole map")
        charts = ("const els = [...document.querySelectorAll('.js-plotly-plot')];"
                  "return els.length > 0 && els.every(e => e._fullData)")
        for page in ("compare", "value_lenses") * 2:   # the other pages that draw the map (a 50k sample)
            t0 = time.perf_counter()
            driver.get(f"{url}/{page}?map={args.map}")
            wait.until(lambda d: d.execute_script(charts))
            drawn = time.perf_counter() - t0
            wait.until(idle)
            print(f"page {page}: charts drawn {drawn:.2f} s, app idle {time.perf_counter() - t0:.2f} s; "
                  f"{server_rss(proc.pid)}", flush=True)
    finally:
        driver.quit()
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
    print(f"# load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
