"""The page the demo pipeline writes, in headless Chromium: run by `.ci/demo.sh` after
`adqa-data run pipelines/demo.yaml`, with ADQA_DEMO_WORKSPACE naming the workspace it wrote (skipped
without it). Fails if the page throws, if a section the demo's tables feed is empty, if the trained
policy's rollout set has no attention strip drawn over its clips, or if a clip's player lacks the clip's
duration. Screenshots at desktop and phone widths go to $ADQA_ARTIFACTS/report-screenshots/demo-*.png."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.browser import ORANGE_SHARE, artifacts, chrome, open_page, screenshot, wait_for

DEMO_WS = os.environ.get("ADQA_DEMO_WORKSPACE")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not DEMO_WS, reason="ADQA_DEMO_WORKSPACE is not set (.ci/demo.sh runs the demo first)"
    ),
]

# dataset -> the sections its tables must fill on the demo workspace (the rest may say "skipped")
DRAWN = {
    "audiomcq": ["items", "panel", "prompts", "rollouts", "training"],
    "format": ["items", "training"],
    "dcase2026-dev": ["items", "eval"],
}
TRAINED = "audiomcq/trained"  # the demo's rollout of the trained policy with the anchoring pass on


@pytest.mark.parametrize(
    "width,height,mobile", [(1280, 900, False), (390, 844, True)], ids=["desktop", "phone"]
)
def test_the_demo_page(tmp_path, width, height, mobile):
    from selenium.webdriver.common.by import By

    page = Path(DEMO_WS) / "report" / "index.html"
    assert page.is_file(), f"{page}: the demo pipeline ends with 'report', which writes it"
    name = "demo-" + ("phone" if mobile else "desktop")
    shots = artifacts(tmp_path)
    driver = chrome(width, height, mobile, tmp_path / "chrome-profile")
    try:
        open_page(driver, page)
        screenshot(driver, shots / f"{name}-top.png")
        for dataset, wanted in DRAWN.items():
            box = driver.find_element(By.ID, "ds-" + dataset)
            for sid in wanted:
                (s,) = box.find_elements(By.CSS_SELECTOR, f"section.section[data-section='{sid}']")
                assert "skipped" not in s.get_attribute("class"), (dataset, sid)
                assert s.find_elements(By.CSS_SELECTOR, ".chart .main-svg, figure.table tbody tr, .groups"), (
                    dataset,
                    sid,
                )

        sel = f".groups[data-set='{TRAINED}']"
        box = driver.find_element(By.CSS_SELECTOR, sel)
        driver.execute_script("arguments[0].scrollIntoView()", box)
        wait_for(driver, f'return document.querySelectorAll("{sel} article.group").length > 0', "the groups")
        assert int(box.find_element(By.CSS_SELECTOR, ".count").get_attribute("data-count")) >= 64
        duration = wait_for(
            driver,
            f'const a = document.querySelector("{sel} audio"); return a.readyState >= 1 && a.duration',
            "the clip's metadata",
        )
        assert duration == pytest.approx(1.0, abs=0.01)  # the demo's clips are 1 s
        strips = box.find_elements(By.CSS_SELECTOR, "canvas.strip[data-profile='1']")
        assert strips, "no completion of the trained set carries an attention profile"
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", strips[0])
        assert strips[0].get_attribute("data-drawn") == "attention"
        assert driver.execute_script(ORANGE_SHARE, strips[0]) > 0.05, "no attention drawn on the strip"
        caption = strips[0].find_element(By.XPATH, "following-sibling::span[@class='stripcap']").text
        assert caption.startswith("attention of the whole reply")  # the demo's rows: every reply token
        screenshot(driver, shots / f"{name}-trained.png")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
