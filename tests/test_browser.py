"""The real app in a real browser: `streamlit run app.py` on 127.0.0.1, driven by headless Debian chromium.

Each page is opened by its URL, the test waits until its Plotly chart is drawn (traces and an SVG/WebGL
layer present, non-zero size) and saves a screenshot under the test output folder (and, with
UNIVAR_UPDATE_SCREENSHOTS=1, into docs/screenshots/ for the README).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else shutil.which("chromedriver")
SERVER_START_S = 90
CHART_WAIT_S = 120
VB_QUESTIONS = 300      # the real-data map: 6 ValueBench models x this many questions
VB_MODELS = 6
FIRST_BUILD_WAIT_S = 900   # the demo map's first build: embedding + UMAP's numba compile on a busy CPU
UPLOAD_CSV = (
    "question,answer,model,lang\n"
    "Should I put my family before my career?,Family comes first; a career can wait.,my-llm,eng\n"
    "Is it fine to break a rule that seems unfair?,Follow the rules and ask to change them.,my-llm,eng\n"
    "Should I save money or enjoy life now?,Save first: security matters more than fun.,my-llm,eng\n"
    "Is honesty always right?,\"<script>alert(1)</script> Yes, be honest.\",my-llm,eng\n"
)


def _require_browser() -> None:
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium", reason="selenium is needed for the browser test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shared_valuebench() -> Path | None:
    from univar_core.data.readers import shared_data_dir

    root = shared_data_dir()
    csv = Path(root) / "valuebench_qa" / "qa.csv" if root is not None else None
    return csv if csv is not None and csv.is_file() else None


def _build_valuebench_maps(data_dir: Path) -> None:
    """Real data for the screenshots, when ../shared/data is here: the same ValueBench QAs as a plain
    map ('valuebench-raw') and question-centred ('valuebench')."""
    import pandas as pd

    from univar_core.maps import build

    csv = _shared_valuebench()
    if csv is None:
        return
    vb = pd.read_csv(csv)
    vb = vb[vb["question_id"].isin(sorted(vb["question_id"].unique())[:VB_QUESTIONS])]
    table = vb[["model", "lang", "question_id", "question", "answer", "questionnaire"]]
    build.build_map(table, "valuebench-raw", data_dir=data_dir)
    build.build_map(table, "valuebench", data_dir=data_dir, centre_questions=True)


def _real_map_query() -> str:
    return "?map=valuebench" if _shared_valuebench() is not None else ""


BIG_MAP_QAS = int(os.environ.get("UNIVAR_BROWSER_BIG_MAP_QAS", "200000"))  # bench/bench_scale.py opens 1M


def _big_map() -> Path:
    """A synthetic map of BIG_MAP_QAS QAs built from precomputed vectors (384-d, 375 value IDs), cached
    under .cache/ between runs. 200k in CI (1M takes ~10 min to build on 2 cores); its landmark UMAP
    uses 5,000 landmarks to keep the build short (the layout is not what this test checks)."""
    from univar_core.data.synthetic import write_synthetic_parquet
    from univar_core.maps import build

    root = REPO / ".cache" / "test_big_map"
    folder = root / f"syn-{BIG_MAP_QAS}"
    if not (folder / "manifest.json").is_file():
        corpus = write_synthetic_parquet(root / f"syn-{BIG_MAP_QAS}.parquet", BIG_MAP_QAS)
        build.build_map(corpus, folder.name, data_dir=root, encoder_name="synthetic-384d", landmarks=5_000)
        corpus.unlink()
    return folder


class _Server:
    """`streamlit run app.py` on a free port of 127.0.0.1 with UNIVAR_DATA_DIR=data_dir."""

    def __init__(self, data_dir: Path, log: Path):
        self.log = log
        port = _free_port()
        env = {**os.environ, "UNIVAR_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "UNIVAR_RUNS_DIR": str(Path(data_dir).parent / f"{Path(data_dir).name}-runs"),
               "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))}
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
                 "--server.address", "127.0.0.1", "--server.headless", "true",
                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.time() + SERVER_START_S
        while True:
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                pytest.fail(f"streamlit did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app served from a private data dir whose demo map is built first (so the app starts fast)."""
    _require_browser()
    from univar_core.maps import build

    data_dir = tmp_path_factory.mktemp("maps")
    build.ensure_demo_map(data_dir=data_dir)
    _build_valuebench_maps(data_dir)
    shutil.copytree(_big_map(), data_dir / "big")
    server = _Server(data_dir, tmp_path_factory.mktemp("server") / "streamlit.log")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1440,1300",
                 # WebGL (scattergl) without a GPU: chromium's software renderer must be allowed explicitly
                 "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield browser
    finally:
        browser.quit()


def _wait_for_chart(driver, timeout: float = CHART_WAIT_S) -> int:
    """Wait for a Plotly chart with traces, drawn at a real size and the app idle; return its trace count."""
    from selenium.webdriver.support.ui import WebDriverWait

    def drawn(d):
        return d.execute_script(
            "const el = document.querySelector('.js-plotly-plot');"
            "if (!el || !el.data || !el.data.length) return 0;"
            "const box = el.getBoundingClientRect();"
            "const layer = el.querySelector('svg.main-svg, canvas');"
            "return (box.width > 100 && box.height > 100 && layer) ? el.data.length : 0;") or False

    traces = WebDriverWait(driver, timeout).until(drawn)
    _wait_idle(driver)
    return int(traces)


def _wait_idle(driver) -> None:
    """Until Streamlit's 'running' indicator is gone, then a moment for the last paint."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, CHART_WAIT_S).until(
        lambda d: not d.find_elements(
            By.CSS_SELECTOR, '[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]'))
    time.sleep(1.5)


def _screenshot(driver, tmp_path: Path, name: str) -> Path:
    out = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(out)) and out.stat().st_size > 10_000
    keep = REPO / "test-output" / "screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(out, keep / out.name)
    if os.environ.get("UNIVAR_UPDATE_SCREENSHOTS") == "1":
        docs = REPO / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, docs / out.name)
    return out


def _click_text(driver, text: str, tag: str = "*") -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    xpath = f"//{tag}[normalize-space(.)='{text}']"
    WebDriverWait(driver, CHART_WAIT_S).until(ec.element_to_be_clickable((By.XPATH, xpath))).click()


@pytest.mark.parametrize("page,path", [("value_map", ""), ("compare", "compare"), ("value_lenses", "value_lenses")])
def test_chart_pages_draw_their_chart(app_url, driver, tmp_path, page, path):
    driver.get(f"{app_url}/{path}{_real_map_query()}")    # the README's screenshots: real data where it is here
    assert _wait_for_chart(driver) >= 1
    _screenshot(driver, tmp_path, page)


MAP_CHART = ".st-key-value_map_chart .js-plotly-plot"   # the Value Map's chart (a big map's legend is another)
TITLE_JS = f"return document.querySelector('{MAP_CHART}')._fullLayout.title.text"


def _wait_for_plot(driver, condition: str, chart: str = ".js-plotly-plot") -> None:
    """Wait until the JavaScript ``condition`` holds of ``el``, the page's Plotly chart, then for the app idle."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, CHART_WAIT_S).until(lambda d: d.execute_script(
        f"const el = document.querySelector('{chart}'); return !!el && {condition};"))
    _wait_idle(driver)


def test_grouped_view_draws_one_labelled_point_per_value_id(app_url, driver, tmp_path):
    driver.get(app_url)
    _wait_for_chart(driver)
    _click_text(driver, "Value IDs (grouped)", "p")
    _wait_for_plot(driver, "!!el.layout && el.layout.xaxis.title.text === 'MDS 1'"
                           " && el.data.reduce((n, t) => n + (t.text ? t.text.length : 0), 0) === 15")
    _screenshot(driver, tmp_path, "value_map_grouped")


def test_big_map_is_a_density_image_and_a_box_selection_lists_rows(app_url, driver, tmp_path):
    """No WebGL on a big map (a second of set-up per draw in a browser without a GPU): an image at every
    zoom until the view holds few enough QAs, then SVG points; box and lasso selections list rows."""
    import re

    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from univar_core.figures.density import MAX_SVG_POINTS

    def select(path: list[tuple[int, int]], start: tuple[int, int]) -> int:
        drag = driver.find_element(By.CSS_SELECTOR, f"{MAP_CHART} .nsewdrag")
        chain = ActionChains(driver).move_to_element_with_offset(drag, *start).click_and_hold()
        for step in path:
            chain = chain.move_by_offset(*step)
        chain.release().perform()
        found = WebDriverWait(driver, CHART_WAIT_S).until(
            lambda d: re.search(r"Selected QAs \(([1-9][\d,]*)\)", _body_text(d)))
        _wait_idle(driver)
        return int(found.group(1).replace(",", ""))

    kinds = f"return [...new Set(document.querySelector('{MAP_CHART}')._fullData.map(t => t.type))]"
    driver.get(f"{app_url}/?map=big")
    _wait_for_plot(driver, "!!el._fullData && el._fullData.length > 0", MAP_CHART)
    assert driver.execute_script(f"return document.querySelector('{MAP_CHART}').data[0].type") == "image"
    legend = "return document.querySelector('.st-key-map_legend .js-plotly-plot').data.map(t => t.name)"
    assert len(driver.execute_script(legend)) == 25            # the legend strip: the map's 25 languages
    assert "scattergl" not in driver.execute_script(kinds)
    # hover over the image: the transparent heatmap says how many QAs the cell holds
    cells = driver.find_element(By.CSS_SELECTOR, f"{MAP_CHART} .nsewdrag")
    for dx in (0, 7, -9, 15, -20, 30):                  # until the pointer is over an occupied cell
        ActionChains(driver).move_to_element_with_offset(cells, dx, dx // 2).perform()
        time.sleep(0.3)
        if "QAs here" in driver.execute_script(f"return document.querySelector('{MAP_CHART} .hoverlayer').textContent"):
            break
    assert re.search(r"[\d,]+ QAs here; most: \w+",
                     driver.execute_script(f"return document.querySelector('{MAP_CHART} .hoverlayer').textContent"))
    listed = select([(100, 70), (100, 70)], (-150, -100))
    _screenshot(driver, tmp_path, "value_map_big")
    for _ in range(4):                   # zoom into boxes until few enough QAs are in view to draw as points
        title = driver.execute_script(TITLE_JS)
        _click_text(driver, "Zoom to box", "button")
        _wait_for_plot(driver, f"el._fullLayout.title.text !== {title!r}", MAP_CHART)
        assert "scattergl" not in driver.execute_script(kinds)
        if listed <= MAX_SVG_POINTS:
            break
        assert driver.execute_script(kinds)[0] == "image"
        _click_text(driver, "Clear selection", "button")
        WebDriverWait(driver, CHART_WAIT_S).until(lambda d: "Selected QAs (0)" in _body_text(d))
        _wait_idle(driver)
        listed = select([(50, 35), (50, 35)], (-50, -35))
    _wait_for_plot(driver, "el._fullData.some(t => t.type === 'scatter' && t.customdata && t.customdata.length > 0)",
                   MAP_CHART)
    _screenshot(driver, tmp_path, "value_map_big_zoomed")
    # a lasso around one drawn point (its pixel from plotly's axes, relative to the plot's centre), listed
    _click_text(driver, "Clear selection", "button")
    WebDriverWait(driver, CHART_WAIT_S).until(lambda d: "Selected QAs (0)" in _body_text(d))
    _wait_idle(driver)
    px, py = driver.execute_script(
        f"const el = document.querySelector('{MAP_CHART}'), xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;"
        "const t = el._fullData.find(t => t.type === 'scatter' && t.customdata && t.customdata.length);"
        "return [xa.l2p(t.x[0]) - xa._length / 2, ya.l2p(t.y[0]) - ya._length / 2];")
    assert select([(50, 0), (0, 50), (-50, 0), (0, -45)], (round(px) - 25, round(py) - 25)) > 0


def test_upload_page_places_a_file_on_the_map(app_url, driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    csv = tmp_path / "my_llm.csv"
    csv.write_text(UPLOAD_CSV, encoding="utf-8")
    driver.get(f"{app_url}/upload")
    WebDriverWait(driver, CHART_WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=file]"))
    driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(csv))
    _click_text(driver, "Embed and place on the map", "p")
    assert _wait_for_chart(driver) >= 2          # the map plus the overlay of the new points
    page = driver.page_source
    assert "<script>alert(1)</script>" not in page  # the answer never becomes markup
    _screenshot(driver, tmp_path, "upload")


def test_add_a_model_collects_from_an_endpoint_and_places_the_answers(app_url, driver, tmp_path,
                                                                       tiny_causal_lm_dir):
    """Add a model against the local chat-completions server: the form, the background collection of 50
    questions in two languages, then the answers placed on the map."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    sys.path.insert(0, str(Path(__file__).parent))
    from univar_core.collect.local_model import LocalCausalLM

    from chat_server import ChatServer

    lm = LocalCausalLM(str(tiny_causal_lm_dir), model="tiny-llama", batch_size=1)
    with ChatServer(lm, max_tokens_cap=6) as server:
        driver.get(f"{app_url}/add_model")

        def field(label: str):
            return WebDriverWait(driver, CHART_WAIT_S).until(
                lambda d: d.find_element(By.CSS_SELECTOR, f"input[aria-label='{label}']"))

        field("Endpoint base URL").send_keys(server.base_url)
        field("Model name (as the endpoint serves it)").send_keys(server.model)
        langs = field("Languages (ISO 639, comma-separated)")
        langs.send_keys(Keys.CONTROL, "a")
        langs.send_keys("eng,zho")
        _click_text(driver, "Start collecting", "p")
        WebDriverWait(driver, CHART_WAIT_S).until(lambda d: "100 answers from 2 value IDs" in _body_text(d))
        _click_text(driver, "Place on the map", "p")
        assert _wait_for_chart(driver) >= 2          # the map plus the overlay of the new answers
    names = driver.execute_script("return document.querySelector('.js-plotly-plot').data.map(t => t.name);")
    assert "tiny-llama (new)" in names and "Traceback" not in _body_text(driver)
    driver.execute_script("document.querySelector('.js-plotly-plot').scrollIntoView();")
    time.sleep(1)
    _screenshot(driver, tmp_path, "add_model")


def test_about_page_renders(app_url, driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{app_url}/about")
    WebDriverWait(driver, CHART_WAIT_S).until(
        lambda d: any("About UniVaR Explorer" in h.text for h in d.find_elements(By.TAG_NAME, "h1")))
    _wait_idle(driver)
    assert "synthetic" in driver.find_element(By.TAG_NAME, "body").text
    _screenshot(driver, tmp_path, "about")


@pytest.mark.shared_data
@pytest.mark.parametrize("name,shot", [("valuebench-raw", "value_map_valuebench_raw"),
                                       ("valuebench", "value_map_valuebench_centred")])
def test_real_map_coloured_by_model_shows_every_model_above_the_fold(app_url, driver, tmp_path, name, shot):
    """Six models answering the same questions: no model's points all under another's, the map starts
    on the first screen at 1600x1000, and no Deploy button."""
    from selenium.webdriver.common.by import By

    if _shared_valuebench() is None:
        pytest.skip("ValueBench is not in the shared data folder")
    driver.set_window_size(1600, 1000)
    try:
        driver.get(f"{app_url}/?map={name}")
        _wait_for_chart(driver)
        info = driver.execute_script(
            "const el = document.querySelector('.js-plotly-plot');"
            "const groups = el.data.filter(t => t.type === 'scattergl').map(t => t.legendgroup || t.name);"
            "return {groups: groups, top: el.getBoundingClientRect().top, title: el.layout.title.text};")
        assert "coloured by model" in info["title"]           # one language: colour by model from the start
        positions: dict[str, list[int]] = {}
        for i, group in enumerate(info["groups"]):
            positions.setdefault(group, []).append(i)
        assert len(positions) == VB_MODELS
        for a, pa in positions.items():
            for b, pb in positions.items():
                assert a == b or max(pa) > min(pb), f"{a} is drawn entirely under {b}"
        assert info["top"] < 1000 - 400                        # the map is on the first screen
        header = " ".join(h.text for h in driver.find_elements(By.CSS_SELECTOR, "header, [data-testid='stToolbar']"))
        assert "Deploy" not in header
        _screenshot(driver, tmp_path, shot)
    finally:
        driver.set_window_size(1440, 1300)


# ---------------------------------------------------------------- first launch, on a fresh server
def _body_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


@pytest.fixture(scope="module")
def empty_data_dir(tmp_path_factory) -> Path:
    _require_browser()
    return tmp_path_factory.mktemp("empty-maps")


def test_first_launch_builds_the_demo_and_a_second_session_opens_it(empty_data_dir, driver, tmp_path):
    """The quickstart: an empty data dir, `/` builds the demo value map and shows it; the plain demo is
    built afterwards in the background, as the sidebar says; a second browser session opens the map too
    (the demo builder once drew into a block made outside a cached function: CacheReplayClosureError)."""
    server = _Server(empty_data_dir, tmp_path / "streamlit.log")
    try:
        driver.get(server.url)
        assert _wait_for_chart(driver, FIRST_BUILD_WAIT_S) >= 1
        assert (empty_data_dir / "demo-values").is_dir()
        plain = empty_data_dir / "demo" / "manifest.json"
        assert "Building the plain demo map" in _body_text(driver) or plain.is_file()
        deadline = time.time() + FIRST_BUILD_WAIT_S
        while not plain.is_file() and time.time() < deadline:
            time.sleep(1)
        assert plain.is_file(), "the plain demo map was not built in the background"
        driver.switch_to.new_window("tab")        # a new tab is a new Streamlit session
        try:
            driver.get(server.url)
            assert _wait_for_chart(driver) >= 1
            text = _body_text(driver)
            assert "CacheReplayClosureError" not in text and "Traceback" not in text
            _screenshot(driver, tmp_path, "second_session")
        finally:
            driver.close()
            driver.switch_to.window(driver.window_handles[0])
    finally:
        server.stop()


def test_deep_link_on_a_fresh_server_opens_the_named_map(empty_data_dir, driver, tmp_path):
    """A first request to /compare?map=NAME after `streamlit run` shows that map's Compare page."""
    from univar_core.maps import build, store

    if not (empty_data_dir / "demo").is_dir():    # the test above built it; alone, build it here
        build.ensure_demo_map(data_dir=empty_data_dir)
    other = empty_data_dir / "base"               # a second map, so ?map= has to choose
    if not other.exists():
        shutil.copytree(empty_data_dir / "demo", other)
    server = _Server(empty_data_dir, tmp_path / "streamlit.log")
    try:
        driver.get(f"{server.url}/compare?map=base")
        assert _wait_for_chart(driver) >= 1
        text = _body_text(driver)
        assert "No map is open" not in text
        assert "Compare two value IDs" in text
        assert driver.current_url.endswith("?map=base")  # the sidebar chose the linked map (else demo)
        assert store.list_maps(empty_data_dir)  # the server did not damage anything
    finally:
        server.stop()


def test_keep_on_a_map_opened_from_an_oddly_named_folder_writes_into_that_folder(empty_data_dir, driver, tmp_path):
    """?map=<folder> whose name differs from its manifest name: "keep" writes the layer into that folder,
    not into the data directory's map of the manifest's name."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from univar_core.maps import build, store

    if not (empty_data_dir / "demo").is_dir():
        build.ensure_demo_map(data_dir=empty_data_dir)
    odd = empty_data_dir / "my map é"
    if not odd.exists():
        shutil.copytree(empty_data_dir / "demo", odd)
    demo_manifest = (empty_data_dir / "demo" / store.MANIFEST_FILE).read_bytes()
    csv = tmp_path / "kept_llm.csv"
    csv.write_text(UPLOAD_CSV, encoding="utf-8")
    server = _Server(empty_data_dir, tmp_path / "streamlit.log")
    try:
        driver.get(f"{server.url}/upload?map=my%20map%20%C3%A9")
        WebDriverWait(driver, CHART_WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=file]"))
        driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(csv))
        _click_text(driver, "Embed and place on the map", "p")
        assert _wait_for_chart(driver) >= 2
        _click_text(driver, "Keep as a new layer of this map", "p")
        WebDriverWait(driver, CHART_WAIT_S).until(lambda d: "saved" in _body_text(d))

        def kept(_driver) -> bool:   # the page may say "saved" a moment before the folder swap is visible
            try:
                return "kept_llm" in store.load_map(odd).layers
            except store.MapError:
                return False

        WebDriverWait(driver, CHART_WAIT_S).until(kept)
        assert (empty_data_dir / "demo" / store.MANIFEST_FILE).read_bytes() == demo_manifest
    finally:
        server.stop()
