"""The page of ``blurmap serve`` in a real Chromium (Debian's chromium + chromium-driver).

Skipped, with the reason in the summary, where no browser is installed; ``.ci/run`` installs
one. The page is loaded from a real uvicorn, a bundled photo is uploaded through the file
picker, and the test waits for the restored image and the blur map with its colour bar.
"""

from __future__ import annotations

import base64
import shutil
import tempfile

import pytest

from _serve_server import RunningServer
from blurmap.io import read_image_bytes, write_image
from blurmap.serve import ServeConfig

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="no Chromium and chromedriver on PATH (apt-get install chromium chromium-driver)"
)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra)")

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

# Flags that keep a headless Chromium off the network and quick to start in a sandboxed CI.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="blurmap-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=390,844"):  # a phone's viewport
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    with RunningServer(ServeConfig(max_upload_mb=5)) as s:
        yield s


def _png_from_data_url(url: str):
    assert url.startswith("data:image/png;base64,")
    return read_image_bytes(base64.b64decode(url.split(",", 1)[1]), "shown.png")


def test_page_uploads_a_bundled_photo_and_shows_result_and_map(browser, server, tmp_path):
    from blurmap.synth.bundled import bundled_image

    photo = bundled_image("chelsea")[60:156, 100:228]  # 96x128 crop of a bundled photo
    path = tmp_path / "chelsea.png"
    write_image(path, photo, bits=8)

    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
    Select(browser.find_element(By.ID, "model")).select_by_value("local")
    assert browser.find_element(By.ID, "gate-row").is_displayed()  # local can gate
    browser.find_element(By.ID, "file-main").send_keys(str(path))
    run = browser.find_element(By.ID, "run")
    wait.until(lambda d: run.is_enabled())
    run.click()
    wait.until(lambda d: d.find_element(By.ID, "result").is_displayed()
               and d.find_element(By.ID, "map").get_attribute("src").startswith("data:"))

    after = _png_from_data_url(browser.find_element(By.ID, "after").get_attribute("src"))
    assert after.array.shape == (96, 128, 3)
    shown = _png_from_data_url(browser.find_element(By.ID, "map").get_attribute("src"))
    assert shown.array.shape == (96, 128, 3)
    # The images really rendered (decoded by the browser, not just given a src).
    assert browser.execute_script("return document.getElementById('after').naturalWidth") == 128
    assert browser.execute_script("return document.getElementById('map').naturalHeight") == 96
    bar = browser.execute_script("return getComputedStyle(document.getElementById('colorbar')).backgroundImage")
    assert bar.startswith("linear-gradient")
    assert browser.find_element(By.ID, "bar-label").text == "blur probability"
    assert browser.find_element(By.ID, "download").get_attribute("download") == "chelsea_deblurred.png"
    assert "local (bladenet)" in browser.find_element(By.ID, "result-info").text
    assert not browser.find_element(By.ID, "error").is_displayed()


def test_page_shows_errors_in_words(browser, server, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image\n")
    browser.get(server.url + "/")
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
    browser.find_element(By.ID, "file-main").send_keys(str(bad))
    browser.find_element(By.ID, "run").click()
    error = browser.find_element(By.ID, "error")
    WebDriverWait(browser, 60).until(lambda d: error.is_displayed())
    assert error.text == "notes.png: not an image (unrecognised file format)"
