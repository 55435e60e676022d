"""Headless Chromium for the report page's tests: Debian's chromium driven by its chromium-driver through
Selenium (skipped where either is missing; .ci/browser.sh installs them), with the waits, screenshots and
pixel checks the page tests share."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def chrome(width: int, height: int, mobile: bool, profile: Path):
    webdriver = pytest.importorskip("selenium.webdriver")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.skip("chromium and chromedriver are not installed (.ci/browser.sh installs them)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        f"--window-size={width},{height}",
    ):
        opts.add_argument(a)
    opts.add_argument(f"--user-data-dir={profile}")  # the test's own folder: removed with its tmp_path
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(driver_path))
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 2 if mobile else 1, "mobile": mobile},
    )
    return driver


def wait_for(driver, script: str, what: str, timeout: float = 20.0):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: d.execute_script(script))
    except Exception:
        pytest.fail(f"timed out waiting for {what}; console: {driver.get_log('browser')}")


def artifacts(tmp_path: Path) -> Path:
    out = Path(os.environ.get("ADQA_ARTIFACTS") or tmp_path) / "report-screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def screenshot(driver, path: Path, full: bool = False) -> None:
    import base64

    if full:
        h = driver.execute_script("return document.documentElement.scrollHeight")
        w = driver.execute_script("return document.documentElement.clientWidth")
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": w, "height": min(h, 16000), "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))
    else:
        driver.save_screenshot(str(path))


# share of a canvas's pixels that are orange (the attention colour): red well above green, green above blue
ORANGE_SHARE = """
const c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let orange = 0;
for (let i = 0; i < d.length; i += 4) if (d[i] - d[i + 2] > 40 && d[i + 1] > d[i + 2] && d[i] > d[i + 1]) orange++;
return orange / (d.length / 4);
"""


def open_page(driver, page: Path) -> None:
    """Load the report page and wait until its sections and charts are drawn."""
    driver.get(page.as_uri())
    wait_for(driver, "return document.getElementById('report').dataset.ready === '1'", "the sections")
    wait_for(driver, "return document.querySelectorAll('.chart .main-svg').length > 0", "the charts")
