"""`adqa-data report`: the page's data on a planted workspace with a real (scripted) rollout, the parse
highlight spans, the escaping of model outputs, the folder rules, the CLI and the pipeline step; and, with
`-m browser`, the page in headless Chromium (no console errors, every section drawn, the rollout filters,
the highlight and rewards, the clip's duration, the attention strip), with screenshots.

The workspace: `planted_workspace` (items, quarantine, panel, prompts, a planted rollout set, a training
log, a prediction set) plus a rollout set `scripted` run through the rollout stage on the scripted
backend with the anchoring reward on (so its correct completions carry the anchoring pass's profile),
plus a set `inject` whose first completion is markup meant to run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.browser import ORANGE_SHARE, artifacts, chrome, open_page, screenshot, wait_for
from support.planted_workspace import DS, build_workspace
from typer.testing import CliRunner

from adqa_data.cli import app
from adqa_data.core.errors import UserError
from adqa_data.core.schema import ROLLOUTS
from adqa_data.core.workspace import Workspace
from adqa_data.inference.scripted import ScriptedBackend
from adqa_data.inference.types import Completion
from adqa_data.mcq.answers import parse_answer
from adqa_data.report import build_report
from adqa_data.report.highlight import read_spans
from adqa_data.report.render import js_json
from adqa_data.stages.rollout import load_config, rollout
from adqa_data.stages.rollout.policy import Policy, policy_spec

pytest.importorskip("plotly")
runner = CliRunner()
ROUNDS = (1, 2, 10)  # round 10 sorts before round 2 by name
INJECTION = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"></pre><b>bold</b>'


class InjectingBackend(ScriptedBackend):
    """The scripted sampler, with the first reply it writes replaced by markup that must stay text."""

    def __init__(self) -> None:
        super().__init__()
        self.injected = False

    def generate(self, queries, sampling):
        out = super().generate(queries, sampling)
        if not self.injected and out and out[0].completions:
            first = out[0].completions[0]
            text = INJECTION + " <answer>A</answer>"
            out[0].completions[0] = Completion(list(text.encode()), text, None, first.finish_reason)
            self.injected = True
        return out


def _workspace(base: Path) -> Workspace:
    ws = build_workspace(base)
    rewards = {"correctness": 1.0, "format": 0.5, "anchoring": 0.5}
    rollout(
        ws,
        load_config(None, backend="scripted", rewards=rewards, max_new_tokens=200),
        dataset=DS,
        name="scripted",
    )
    # an online run's rounds, as `train --online` names them: one browser with a round picker
    for k in ROUNDS:
        rollout(ws, load_config(None, backend="scripted", seed=k), dataset=DS, name=f"loop-round{k}")
    # a rollout set, written by the stage itself, whose first reply carries markup (the page must show it
    # as text); the groups' ids still start with "inject:" (the set's name)
    cfg = load_config(None, backend="scripted", rewards=rewards, max_new_tokens=200)
    rollout(ws, cfg, dataset=DS, name="inject", policy=Policy(InjectingBackend(), policy_spec(cfg)))
    return ws


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Workspace, Path]:
    ws = _workspace(tmp_path_factory.mktemp("report"))
    return ws, build_report(ws).page


def _data(page: Path, key: str):
    text = (page.parent / "data" / f"{key}.js").read_text()
    m = re.fullmatch(r"ADQA\.loaded\((.*?), (.*)\);\n", text, re.DOTALL)
    assert m, text[:200]
    assert json.loads(m.group(1)) == key
    return json.loads(m.group(2))


# ------------------------------------------------------------------------------------------------ data
def test_every_section_has_content_on_the_workspace(report):
    ws, page = report
    assert page == ws.root / "report" / "index.html" and page.is_file()
    summary = _data(page, "summary")
    (ds,) = summary["datasets"]
    got = {s["id"]: s["blocks"] for s in ds["sections"]}
    assert list(got) == ["items", "panel", "prompts", "rollouts", "training", "eval"]
    for sid, blocks in got.items():
        assert not any(b.get("skipped") for b in blocks), sid
        assert any(b["kind"] in ("chart", "table", "groups") for b in blocks), sid
    assert [b["set"] for b in got["rollouts"] if b["kind"] == "groups"] == [
        f"{DS}/inject",
        f"{DS}/loop-round10",  # the online run's browser opens on its last round
        f"{DS}/r1",
        f"{DS}/scripted",
    ]
    (loop,) = [b for b in got["rollouts"] if b["kind"] == "groups" and "sets" in b]
    assert [key for _, key in loop["sets"]] == [f"{DS}/loop-round{k}" for k in ROUNDS]
    assert all(_data(page, f"{key}/index")["groups"] == 10 for _, key in loop["sets"])
    # the strips' caption names what the profiles average over (the rollout's anchoring rows)
    assert _data(page, f"{DS}/scripted/index")["profile_rows"] == "reasoning"
    (rounds,) = [b for b in got["rollouts"] if b.get("title") == "loop: its 3 online rounds"]
    assert [t["x"] for t in rounds["fig"]["data"]] == [list(ROUNDS)] * 2
    titles = [b.get("title", "") for b in got["rollouts"]]
    assert not any(
        "loop-round1 " in t or "loop-round2 " in t for t in titles
    )  # only the last round's figures
    titles = [b.get("title", "") for b in got["eval"]]
    assert any("predicted against gold" in t for t in titles)
    # the offline page: plotly's bundle sits next to it, and nothing is fetched from a network
    assert (page.parent / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    html = page.read_text()
    assert "http://" not in html and "https://" not in html


def test_scripted_rollout_groups_carry_highlights_rewards_profiles_and_clips(report):
    ws, page = report
    index = _data(page, f"{DS}/scripted/index")
    assert index["groups"] == 10 and len(index["rows"]) == 10
    assert {"strict", "no_answer"} <= set(index["verdicts"])
    groups = _data(page, f"{DS}/scripted/page-0000")
    comps = [c for g in groups for c in g["completions"]]
    stored = {(r["item_id"], r["rollout_index"]): r for r in ws.read(ROLLOUTS, DS, "scripted").to_pylist()}
    for g in groups:
        assert g["clip"]["src"].startswith("audio/") and (page.parent / g["clip"]["src"]).is_file()
        assert g["clip"]["duration"] == pytest.approx(0.5, abs=1e-3) and g["clip"]["envelope"]
        for c in g["completions"]:
            r = stored[(g["item_id"], c["i"])]
            assert c["reward"] == pytest.approx(r["reward"], abs=1e-4)
            assert c["advantage"] == pytest.approx(r["advantage"], abs=1e-4)
            assert set(c["rewards"]) == {"correctness", "format", "anchoring"}
            assert (c["profile"] is None) == (r["anchoring_profile"] is None)
    assert any(c["profile"] for c in comps), "no completion carries an attention profile"
    strict = next(c for c in comps if c["verdict"] == "strict")
    (s, e), *_ = strict["spans"]
    assert re.fullmatch(r"<answer>[A-D]</answer>", strict["text"][s:e])


def test_highlight_spans_follow_the_deciding_layer():
    choices = ["dog", "cat", "bird", "car"]

    def spans(text: str) -> list[str]:
        p = parse_answer(text, choices)
        return [text[s:e] for s, e in read_spans(text, p.layer, p.reason, p.index, choices)]

    assert spans("<think>a bark</think><answer>A</answer>") == ["<answer>A</answer>"]
    assert spans("<think>x</think><answer></answer>") == ["<answer></answer>"]  # refused: still marked
    assert spans("<think>it barks</think> So: B") == [" So: B"]
    assert spans("I hear a cat, so the answer is B.") == ["B"]
    assert spans("nothing here") == []


def test_data_scripts_escape_markup():
    text = js_json({"t": "</script><script>alert(1)</script>&\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"t": "</script><script>alert(1)</script>&\u2028"}


def test_injected_markup_stays_text_in_the_data(report):
    _, page = report
    raw = (page.parent / "data" / DS / "inject" / "page-0000.js").read_text()
    assert "<script" not in raw and "<img" not in raw
    (first, *_), *_ = [g["completions"] for g in _data(page, f"{DS}/inject/page-0000")]
    assert first["text"].startswith(INJECTION)


# ----------------------------------------------------------------------------------- folder and CLI
def test_out_folder_rules_and_rewrite(report, tmp_path):
    ws, page = report
    stranger = tmp_path / "notes"
    stranger.mkdir()
    (stranger / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match="holds something other than a report"):
        build_report(ws, out=stranger)
    assert (stranger / "mine.txt").read_text() == "keep"
    stale = page.parent / "data" / DS / "gone" / "page-0000.js"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    one = build_report(ws, DS, out=tmp_path / "one")  # a previous report's folder is rewritten whole
    assert one.page == tmp_path / "one" / "index.html"
    build_report(ws)
    assert not stale.exists()


def test_cli_json_and_pipeline_step(report, tmp_path):
    ws, _ = report
    out = tmp_path / "cli"
    res = runner.invoke(
        app, ["report", "-w", str(ws.root), "-d", DS, "--out", str(out), "--audio", "none", "--json"]
    )
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert (
        got["page"] == str(out / "index.html")
        and got["clips"] == 0
        and got["rollout_sets"][f"{DS}/scripted"] == 10
    )
    assert not (out / "audio").exists()
    bad = runner.invoke(app, ["report", "-w", str(ws.root), "--audio", "stream"])
    assert isinstance(bad.exception, UserError) and "--audio" in str(bad.exception)
    from adqa_data.cli.pipeline import Pipeline, plan

    (argv,) = plan(Pipeline(workspace=str(ws.root), steps=[{"report": {"out_dir": str(out)}}]))
    assert argv[:3] == ["report", "--out", str(out)]


# ------------------------------------------------------------------------------------------- browser
@pytest.mark.browser
@pytest.mark.parametrize(
    "width,height,mobile", [(1280, 900, False), (390, 844, True)], ids=["desktop", "phone"]
)
def test_page_in_headless_chromium(report, tmp_path, width, height, mobile):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _, page = report
    shots = artifacts(tmp_path)
    name = "desktop" if not mobile else "phone"
    driver = chrome(width, height, mobile, tmp_path / "chrome-profile")
    try:
        open_page(driver, page)
        screenshot(driver, shots / f"{name}-top.png")
        # every section drawn: no skipped section, each with a chart, table or group list
        sections = driver.find_elements(By.CSS_SELECTOR, "section.section")
        assert [s.get_attribute("data-section") for s in sections] == [
            "items",
            "panel",
            "prompts",
            "rollouts",
            "training",
            "eval",
        ]
        for s in sections:
            assert "skipped" not in s.get_attribute("class")
            assert s.find_elements(By.CSS_SELECTOR, ".chart .main-svg, figure.table tbody tr, .groups"), (
                s.get_attribute("data-section")
            )

        box = driver.find_element(By.CSS_SELECTOR, f".groups[data-set='{DS}/scripted']")
        wait_for(
            driver,
            f"return document.querySelectorAll(\".groups[data-set='{DS}/scripted'] article.group\").length > 0",
            "the groups",
        )
        count = box.find_element(By.CSS_SELECTOR, ".count")
        assert count.get_attribute("data-count") == "10"
        assert len(box.find_elements(By.CSS_SELECTOR, "article.group")) == 10
        # the filters change the count: parse verdict, then question type on top of it
        Select(box.find_element(By.NAME, "verdict")).select_by_visible_text("strict")
        strict = int(count.get_attribute("data-count"))
        assert 0 < strict < 10 and len(box.find_elements(By.CSS_SELECTOR, "article.group")) == strict
        Select(box.find_element(By.NAME, "type")).select_by_visible_text("music")
        assert int(count.get_attribute("data-count")) < strict
        Select(box.find_element(By.NAME, "type")).select_by_visible_text("all")
        # a completion's parse highlight and reward components are visible
        mark = box.find_element(By.CSS_SELECTOR, "mark.parse:not(.refused)")
        assert mark.is_displayed() and re.fullmatch(r"<answer>[A-D]</answer>", mark.text)
        card = mark.find_element(By.XPATH, "ancestor::div[@class='completion']")
        names = {
            r.get_attribute("data-reward")
            for r in card.find_elements(By.CSS_SELECTOR, ".reward")
            if r.is_displayed()
        }
        assert names == {"correctness", "format", "anchoring"}
        assert card.find_element(By.CSS_SELECTOR, ".adv").text.startswith("advantage")
        # the clip plays from the report folder: its element knows the clip's duration
        audio = box.find_element(By.CSS_SELECTOR, "audio")
        duration = wait_for(
            driver,
            f"const a = document.querySelector(\".groups[data-set='{DS}/scripted'] audio\"); return a.readyState >= 1 && a.duration",
            "the clip's metadata",
        )
        assert audio.get_attribute("src").startswith("file:") and duration == pytest.approx(0.5, abs=0.01)
        # the attention strip is drawn over the waveform where a profile exists
        strip = box.find_element(By.CSS_SELECTOR, "canvas.strip[data-profile='1']")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", strip)
        assert strip.get_attribute("data-drawn") == "attention"
        assert driver.execute_script(ORANGE_SHARE, strip) > 0.05, "no attention drawn on the strip"
        wave = strip.find_element(By.XPATH, "ancestor::article").find_element(
            By.CSS_SELECTOR, "canvas.strip.wave"
        )
        assert (
            wave.get_attribute("data-drawn") == "waveform" and driver.execute_script(ORANGE_SHARE, wave) == 0
        )
        screenshot(driver, shots / f"{name}-rollouts.png")
        # an online run's rounds share one browser: picking a round swaps the set it lists
        picker = driver.find_element(By.CSS_SELECTOR, ".groups select[name='set']")
        loop = picker.find_element(By.XPATH, "ancestor::div[contains(@class, 'groups')]")
        driver.execute_script("arguments[0].scrollIntoView()", loop)
        assert loop.get_attribute("data-set") == f"{DS}/loop-round10"
        assert [o.text for o in Select(picker).options] == [f"round {k} (loop-round{k})" for k in ROUNDS]
        first = f"return [...document.querySelectorAll(\"article.group\")].filter(a => a.closest('.groups').dataset.set === '{DS}/loop-round1').length"
        Select(picker).select_by_visible_text("round 1 (loop-round1)")
        wait_for(driver, first, "round 1's groups")
        assert loop.get_attribute("data-set") == f"{DS}/loop-round1"
        assert loop.find_element(By.CSS_SELECTOR, ".count").get_attribute("data-count") == "10"
        assert len(loop.find_elements(By.CSS_SELECTOR, ".controls select[name='type']")) == 1  # one browser
        ids = {
            a.get_attribute("data-group").split(":")[0]
            for a in loop.find_elements(By.CSS_SELECTOR, "article.group")
        }
        assert ids == {"loop-round1"}
        # model output with markup stays text
        inject = driver.find_element(By.CSS_SELECTOR, f".groups[data-set='{DS}/inject']")
        driver.execute_script("arguments[0].scrollIntoView()", inject)
        wait_for(
            driver,
            f"return document.querySelectorAll(\".groups[data-set='{DS}/inject'] pre.text\").length > 0",
            "the inject set",
        )
        assert inject.find_element(By.CSS_SELECTOR, "pre.text").text.startswith(
            "<script>window.__pwned = 1</script>"
        )
        assert driver.execute_script(
            "return window.__pwned === undefined && document.querySelectorAll('main b, main img').length === 0"
        )
        screenshot(driver, shots / f"{name}-full.png", full=True)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
