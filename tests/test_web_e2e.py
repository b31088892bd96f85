"""End to end in headless Chromium: draw a 1 and a 7 with the mouse, read the answers, upload a PNG.

Needs Debian's ``chromium`` and ``chromium-driver`` packages and the ``selenium`` and web extras
(``.ci/run`` installs them); skipped with the reason when any is missing. The server is the real
``glassnet serve`` on 127.0.0.1 (a free port). Screenshots go to $GLASSNET_SCREENSHOTS when set,
else to pytest's temporary folder.
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import pytest

pytest.importorskip("starlette", reason='needs the web extra: pip install "glassnet[web]"')
pytest.importorskip("uvicorn", reason='needs the web extra: pip install "glassnet[web]"')
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium: pip install selenium")
from selenium.webdriver.common.action_chains import ActionChains          # noqa: E402
from selenium.webdriver.common.by import By                               # noqa: E402
from selenium.webdriver.common.keys import Keys                           # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait                   # noqa: E402

from glassnet import images                                               # noqa: E402
from glassnet.datasets import mnist                                       # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs headless Chromium: apt-get install chromium chromium-driver")

# Strokes in pad coordinates (0..280 on each side), as a person draws them.
ONE = [[(150, 40), (150, 240)]]
SEVEN = [[(70, 50), (210, 50), (120, 240)]]


@pytest.fixture(scope="module")
def server():
    """``glassnet serve --port 0`` in a subprocess; yields its URL, stops it afterwards."""
    proc = subprocess.Popen([sys.executable, "-m", "glassnet", "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    while not lines or (lines[-1] and "http://127.0.0.1:" not in lines[-1] and len(lines) < 20):
        lines.append(proc.stdout.readline())
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", lines[-1])
    if not match:
        proc.kill()
        pytest.fail("glassnet serve did not start: " + "".join(lines))
    url = f"http://127.0.0.1:{match.group(1)}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/api/models", timeout=1).read()
            break
        except OSError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="glassnet-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})           # the page's console
    try:
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    except Exception as exc:                                     # a driver that does not start: say why
        pytest.skip(f"headless Chromium did not start: {' '.join(str(exc).split())[:200]}")
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = os.environ.get("GLASSNET_SCREENSHOTS")
    path = pathlib.Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def draw(driver, strokes):
    """Mouse strokes on the pad: press, move through the points in small steps, release."""
    pad = driver.find_element(By.ID, "pad")
    scale = pad.size["width"] / 280
    for stroke in strokes:
        points = [((x - 140) * scale, (y - 140) * scale) for x, y in stroke]
        actions = ActionChains(driver, duration=10)
        actions.move_to_element_with_offset(pad, int(points[0][0]), int(points[0][1])).click_and_hold()
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            for t in np.linspace(0, 1, 12)[1:]:
                actions.move_to_element_with_offset(pad, int(x0 + t * (x1 - x0)), int(y0 + t * (y1 - y0)))
        actions.release().perform()


def answer(driver):
    """The label the page shows once no request is in flight."""
    def ready(d):
        return (d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "idle"
                and d.find_element(By.ID, "verdict").get_attribute("data-label"))
    WebDriverWait(driver, 10).until(ready)
    return int(driver.find_element(By.ID, "digit").text)


def open_page(driver, url, model):
    driver.get(url + "/")
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                                    == "idle")
    driver.execute_script("const s = document.getElementById('model'); s.value = arguments[0];"
                          "s.dispatchEvent(new Event('change'));", model)


@pytest.mark.parametrize("model", ["hidden", "cnn"])
def test_draw_one_and_seven(server, browser, shots, model):
    open_page(browser, server, model)
    assert browser.find_element(By.ID, "digit").text == "?"
    for digit, strokes in ((1, ONE), (7, SEVEN)):
        draw(browser, strokes)
        got = answer(browser)
        browser.save_screenshot(str(shots / f"draw_{digit}_{model}.png"))
        assert got == digit, f"the {model} model read the drawn {digit} as {got}"
        assert len(browser.find_elements(By.CSS_SELECTOR, "#layers .layer")) >= 2
        browser.find_element(By.ID, "clear").click()
        assert browser.find_element(By.ID, "digit").text == "?"
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_undo_removes_the_last_stroke(server, browser):
    open_page(browser, server, "hidden")
    draw(browser, ONE)
    answer(browser)
    draw(browser, [[(60, 140), (230, 140)]])
    answer(browser)
    browser.find_element(By.ID, "undo").click()
    assert answer(browser) == 1


def test_upload_png(server, browser, shots, tmp_path):
    (_, _), (x_test, y_test) = mnist.load_embedded()
    path = tmp_path / "digit.png"
    images.write_png(path, 1 - x_test[0] / 255)                 # dark ink on white, as a scan
    open_page(browser, server, "cnn")
    browser.find_element(By.ID, "upload").send_keys(str(path))
    got = answer(browser)
    browser.save_screenshot(str(shots / "upload_cnn.png"))
    assert got == y_test[0]
    assert "digit.png" in browser.find_element(By.ID, "status").text


def test_keyboard_only(server, browser, shots):
    """Tab to the pad, move the pen with the arrow keys, Space to put it down and lift it: a 1."""
    open_page(browser, server, "hidden")
    pad = browser.find_element(By.ID, "pad")
    browser.execute_script("arguments[0].focus();", pad)
    keys = [Keys.ARROW_UP] * 8 + [Keys.SPACE] + [Keys.ARROW_DOWN] * 16 + [Keys.SPACE]
    ActionChains(browser).send_keys(*keys).perform()
    assert answer(browser) == 1
    browser.save_screenshot(str(shots / "keyboard_1.png"))
    ActionChains(browser).send_keys("c").perform()
    assert browser.find_element(By.ID, "digit").text == "?"


def test_touch_on_a_phone_sized_window(server, browser, shots):
    """A finger draws a 7 (touch events through the DevTools protocol) on a 400 px wide window."""
    browser.set_window_size(400, 900)
    try:
        open_page(browser, server, "cnn")
        browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 1})
        box = browser.execute_script("const r = document.getElementById('pad').getBoundingClientRect();"
                                     "return [r.left, r.top, r.width];")
        left, top, width = box
        points = []
        for (x0, y0), (x1, y1) in zip(SEVEN[0], SEVEN[0][1:]):
            points += [(x0 + t * (x1 - x0), y0 + t * (y1 - y0)) for t in np.linspace(0, 1, 12)]
        for i, (x, y) in enumerate(points):
            kind = "touchStart" if i == 0 else "touchMove"
            browser.execute_cdp_cmd("Input.dispatchTouchEvent", {
                "type": kind, "touchPoints": [{"x": left + x * width / 280, "y": top + y * width / 280}]})
        browser.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        assert answer(browser) == 7
        browser.save_screenshot(str(shots / "phone_touch_7.png"))
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 400                                          # no sideways scrolling
    finally:
        browser.set_window_size(1400, 1000)
