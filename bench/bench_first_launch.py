"""A fresh clone's first `streamlit run app.py`: seconds until the Value Map page shows the demo's value map.

The repository is cloned (git clone of the working copy's HEAD) into a temporary folder, so every cache is
empty: no maps, no embedding cache, no ONNX export, no numba cache (NUMBA_CACHE_DIR and UNIVAR_* are
removed from the environment). The app is started there and opened in headless chromium (selenium, as in
tests/test_browser.py); the clock runs from the launch until the map's Plotly chart is drawn. Beside it:
the server process's CPU seconds until then (machine shared: compare CPU, not only wall time), the load,
the demo value map's build stages (its manifest's timings_s) and when the plain demo, built afterwards in
the background, was stored. A second launch of the same clone (its caches and demo maps now there) is
timed the same way. Commit first: the clone is of HEAD.

    python bench/bench_first_launch.py
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else shutil.which("chromedriver")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system, with its waited-for children) of a process so far, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _wait_for_map(clone: Path, name: str, t0: float, timeout: float) -> float | None:
    """Seconds since t0 until maps/NAME/manifest.json exists (the plain demo, built in the background)."""
    while time.perf_counter() - t0 < timeout:
        if (clone / "maps" / name / "manifest.json").is_file():
            return round(time.perf_counter() - t0, 1)
        time.sleep(0.5)
    return None


def _manifest_timings(folder: Path) -> dict:
    import json

    try:
        return json.loads((folder / "manifest.json").read_text()).get("timings_s", {})
    except (OSError, ValueError):
        return {}


def launch(clone: Path, log: Path, timeout: float = 600) -> dict:
    from selenium.webdriver.common.by import By

    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIVAR_") and k != "NUMBA_CACHE_DIR"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    port = _free_port()
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true",
                                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                                cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT)
    driver = None
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        served = time.perf_counter() - t0
        driver = _driver()
        driver.get(url)
        shown = None
        while time.perf_counter() - t0 < timeout:
            traces = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .trace, "
                                                           ".js-plotly-plot .gl-container canvas")
            if traces:
                shown = time.perf_counter() - t0
                break
            time.sleep(0.5)
        cpu_shown = _cpu_s(proc.pid)
        load_shown = os.getloadavg()[0]
        selected = driver.execute_script("return document.body.innerText")
        map_line = next((line for line in selected.splitlines() if "demo" in line.lower()), "")
        plain = _wait_for_map(clone, "demo", t0, timeout)
        build_timings = _manifest_timings(clone / "maps" / "demo-values")
        return {"server_answers_s": round(served, 1), "map_shown_s": None if shown is None else round(shown, 1),
                "server_cpu_s_until_shown": None if cpu_shown is None else round(cpu_shown, 1),
                "load_when_shown": round(load_shown, 2), "plain_demo_ready_s": plain,
                "sidebar": map_line[:120], "demo_values_timings_s": build_timings}
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    if not CHROMIUM or not CHROMEDRIVER:
        sys.exit("chromium and chromedriver are needed")
    root = Path(tempfile.mkdtemp(prefix="univar_first_launch_"))
    clone = root / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    print(f"clone of {head}"
          f" in {clone}; load {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    first = launch(clone, root / "first.log")
    print(f"first launch (fresh clone, empty caches): {first}; load {os.getloadavg()[0]:.2f}", flush=True)
    second = launch(clone, root / "second.log")
    print(f"second launch (same clone): {second}; load {os.getloadavg()[0]:.2f}", flush=True)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
