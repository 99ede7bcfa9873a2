"""The Value Map of a big map as a person sees it: `streamlit run app.py` driven by headless chromium.

bench_scale.py times the page on the server (AppTest); this adds what the browser does: the first render,
a box selection until its rows are listed, and zoom / whole-map round trips until the new chart is drawn
and the app is idle again (chromium's software WebGL, as on a machine without a GPU). The server's RSS is
read from /proc after each step.

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
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLOT = "const el = document.querySelector('.js-plotly-plot'); return !!el && !!el._fullData && "


def server_rss(pid: int) -> str:
    fields = {line.split(":")[0]: line.split(":")[1].strip() for line in open(f"/proc/{pid}/status")}
    return (f"server RSS {int(fields['VmRSS'].split()[0]) / 2**20:.2f} GiB "
            f"(peak {int(fields['VmHWM'].split()[0]) / 2**20:.2f})")


def main() -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--map", default="syn1000000")
    ap.add_argument("--data-dir", type=Path, default=REPO / ".cache" / "bench_scale" / "maps")
    args = ap.parse_args()
    if not (args.data_dir / args.map / "manifest.json").exists():
        sys.exit(f"no map {args.map!r} in {args.data_dir}: build it with bench/bench_scale.py first")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "UNIVAR_DATA_DIR": str(args.data_dir), "HF_HUB_OFFLINE": "1"}
    print(f"# {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}; map {args.map}", flush=True)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true", "--browser.gatherUsageStats", "false",
                             "--server.fileWatcherType", "none"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    driver = None
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1300",
                     "--use-angle=swiftshader", "--enable-unsafe-swiftshader"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                                  options=options)
        wait = WebDriverWait(driver, 300)
        idle = lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidgetRunningIcon"]')  # noqa: E731

        for visit in ("first render (cold: the server loads the map)", "first render (warm: a new session)"):
            t0 = time.perf_counter()
            driver.get(f"{url}/?map={args.map}")
            wait.until(lambda d: d.execute_script(PLOT + "el._fullData[0].type === 'image'"))
            print(f"{visit}: {time.perf_counter() - t0:.2f} s; {server_rss(proc.pid)}", flush=True)
        wait.until(idle)
        drag = driver.find_element(By.CSS_SELECTOR, ".js-plotly-plot .nsewdrag")
        t0 = time.perf_counter()
        (ActionChains(driver).move_to_element_with_offset(drag, -60, -40).click_and_hold()
         .move_by_offset(40, 30).move_by_offset(40, 30).release().perform())
        found = wait.until(lambda d: re.search(r"Selected QAs \(([1-9][\d,]*)\)",
                                               d.find_element(By.TAG_NAME, "body").text))
        print(f"box selection, rows listed: {time.perf_counter() - t0:.2f} s ({found.group(1)} QAs); "
              f"{server_rss(proc.pid)}", flush=True)
        steps = [("zoom to the box", "Zoom to box", "scattergl"), ("whole map", "Whole map", "image")] * 3
        for label, button, kind in steps:
            wait.until(idle)
            time.sleep(1)
            driver.find_element(By.XPATH, f"//button[normalize-space(.)='{button}']").click()
            t0 = time.perf_counter()
            wait.until(lambda d, kind=kind: d.execute_script(PLOT + f"el._fullData[0].type === '{kind}'"))
            drawn = time.perf_counter() - t0
            wait.until(idle)
            print(f"{label}: chart drawn {drawn:.2f} s, app idle {time.perf_counter() - t0:.2f} s; "
                  f"{server_rss(proc.pid)}", flush=True)
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        proc.wait(timeout=20)
    print(f"# load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
