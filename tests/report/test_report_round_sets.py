"""Red-team cases for `adqa-data report` on the rollout sets of online training runs (`<run>-round<k>`):
one "groups" block per run of 2+ rounds listing its rounds in numeric order and opening on the last, one
"<run>: its N online rounds" chart per such run, its own block for every other set, no merging of runs
whose names only look alike, every set's index.js written, and (with Chromium) the round picker swapping
the box's set. Workspaces: the planted workspace plus sets written by the rollout stage on the scripted
backend (as tests/report/test_report.py builds them); a name the stage refuses (`-round3`) is planted by
copying a set's folder, as a hand-made or older set would be: like every reader, the report takes only
complete sets under a safe name, so it is not listed (the page works without it). Written by a tester who
had not read the report's code."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from support.planted_workspace import DS, build_workspace

from adqa_data.report import build_report
from adqa_data.stages.rollout import load_config, rollout

pytest.importorskip("plotly")

# run -> its rounds, in the order the stage writes them (deliberately not numeric order)
RUNS = {
    "r": [10, 1, 2],
    "a": [2, 1],
    "a-round1": [3, 2],  # a run whose name is itself a round set name of run "a"
    "m": [3, 2],  # rounds with a gap, no round 1
    "a-round": [1, 2],
    "v.1+x@y=z": [2, 1],  # every character the stage allows in a name
}
SINGLES = ["r", "solo-round1", "round1", "round2", "grpo-roundX", "scripted", "grpo-round"]
ODD_RUNS = {"x": ["x-round01", "x-round1"], "h": ["h-round1", "h-round" + "9" * 25]}


def _sets_of(run: str) -> list[str]:
    return [f"{run}-round{k}" for k in sorted(RUNS[run])]


def _data(page: Path, key: str):
    text = (page.parent / "data" / f"{key}.js").read_text()
    m = re.fullmatch(r"ADQA\.loaded\((.*?), (.*)\);\n", text, re.DOTALL)
    assert m, text[:200]
    assert json.loads(m.group(1)) == key
    return json.loads(m.group(2))


def _rollouts(page: Path) -> list[dict]:
    (ds,) = _data(page, "summary")["datasets"]
    (sec,) = [s for s in ds["sections"] if s["id"] == "rollouts"]
    return sec["blocks"]


def _groups(blocks):
    return [b for b in blocks if b.get("kind") == "groups"]


def _keys(block) -> list[str]:
    return [key for _, key in block["sets"]] if block.get("sets") else [block["set"]]


def _roll(ws, name, seed):
    rollout(ws, load_config(None, backend="scripted", seed=seed), dataset=DS, name=name)


@pytest.fixture(scope="module")
def main_report(tmp_path_factory):
    ws = build_workspace(tmp_path_factory.mktemp("rounds"))
    seed = 0
    for run, rounds in RUNS.items():
        for k in rounds:
            seed += 1
            _roll(ws, f"{run}-round{k}", seed)
    for name in SINGLES:
        seed += 1
        _roll(ws, name, seed)
    return ws, build_report(ws).page


def _plant(ws, src: str, name: str) -> None:
    """A copy of set `src` under `name`: its folder, quarantine folder and provenance record."""
    for sub in (ws.root / "rollouts" / DS, ws.root / "quarantine" / DS / "rollout"):
        if (sub / src).exists():
            shutil.copytree(sub / src, sub / name)
    prov = ws.root / "provenance" / "rollout"
    shutil.copy2(prov / f"{DS}.{src}.json", prov / f"{DS}.{name}.json")


@pytest.fixture(scope="module")
def odd_report(tmp_path_factory):
    ws = build_workspace(tmp_path_factory.mktemp("odd"))
    seed = 0
    for names in ODD_RUNS.values():
        for n in names:
            seed += 1
            _roll(ws, n, seed)
    _roll(ws, "p-round1", 99)
    _roll(ws, "p-round2", 98)
    # a set the stage would refuse to name: planted by copying a set's folder
    for name in ("-round3", "q-round7"):  # q-round7: control, the same planting under a valid name
        _plant(ws, "p-round1", name)
    return ws, build_report(ws).page


ALL_MAIN = [s for run in RUNS for s in _sets_of(run)] + SINGLES + ["r1"]


# ------------------------------------------------------------------------------------------------ data
def test_every_set_index_is_written(main_report):
    _, page = main_report
    for name in ALL_MAIN:
        assert (page.parent / "data" / DS / name / "index.js").is_file(), name
        _data(page, f"{DS}/{name}/index")


def test_every_set_is_in_exactly_one_groups_block(main_report):
    _, page = main_report
    seen = [k for b in _groups(_rollouts(page)) for k in _keys(b)]
    assert sorted(seen) == sorted(f"{DS}/{n}" for n in ALL_MAIN)


@pytest.mark.parametrize("run", list(RUNS))
def test_a_run_has_one_block_in_numeric_round_order(main_report, run):
    _, page = main_report
    want = [f"{DS}/{s}" for s in _sets_of(run)]
    hits = [b for b in _groups(_rollouts(page)) if b.get("sets") and set(_keys(b)) & set(want)]
    assert len(hits) == 1, [(_keys(b)) for b in hits]
    (b,) = hits
    assert _keys(b) == want
    assert b["set"] == want[-1]


@pytest.mark.parametrize("run", list(RUNS))
def test_a_run_has_one_rounds_chart(main_report, run):
    _, page = main_report
    title = f"{run}: its {len(RUNS[run])} online rounds"
    charts = [b for b in _rollouts(page) if b.get("title") == title]
    assert len(charts) == 1, [
        b.get("title") for b in _rollouts(page) if "online rounds" in b.get("title", "")
    ]


def test_no_rounds_chart_for_singles_or_unknown_runs(main_report):
    _, page = main_report
    titles = sorted(b.get("title", "") for b in _rollouts(page) if "online rounds" in b.get("title", ""))
    assert titles == sorted(f"{run}: its {len(ks)} online rounds" for run, ks in RUNS.items())


@pytest.mark.parametrize("name", SINGLES + ["r1"])
def test_single_sets_get_their_own_block_without_sets(main_report, name):
    _, page = main_report
    hits = [b for b in _groups(_rollouts(page)) if f"{DS}/{name}" in _keys(b)]
    assert len(hits) == 1
    assert hits[0]["set"] == f"{DS}/{name}" and not hits[0].get("sets"), hits[0].get("sets")


def test_similar_names_are_not_merged(main_report):
    """`a-round1` belongs to run `a`; `a-round1-round2/3` to run `a-round1`; `a-round-round1/2` to `a-round`."""
    _, page = main_report
    by_last = {b["set"]: _keys(b) for b in _groups(_rollouts(page)) if b.get("sets")}
    assert by_last[f"{DS}/a-round2"] == [f"{DS}/a-round1", f"{DS}/a-round2"]
    assert by_last[f"{DS}/a-round1-round3"] == [f"{DS}/a-round1-round2", f"{DS}/a-round1-round3"]
    assert by_last[f"{DS}/a-round-round2"] == [f"{DS}/a-round-round1", f"{DS}/a-round-round2"]


def test_report_is_deterministic_on_rebuild(main_report):
    ws, page = main_report
    before = (page.parent / "data" / "summary.js").read_text()
    build_report(ws)
    assert (page.parent / "data" / "summary.js").read_text() == before


# -------------------------------------------------------------------------------------------- odd names
def test_odd_names_do_not_crash_and_every_set_is_covered(odd_report):
    _, page = odd_report
    names = [n for ns in ODD_RUNS.values() for n in ns] + ["p-round1", "p-round2", "q-round7", "r1"]
    for n in names:
        assert (page.parent / "data" / DS / n / "index.js").is_file(), n
    seen = [k for b in _groups(_rollouts(page)) for k in _keys(b)]
    assert sorted(seen) == sorted(f"{DS}/{n}" for n in names)


def test_planted_control_set_is_listed(odd_report):
    """Control for the `-round3` case: a set planted the same way under a valid name is listed."""
    _, page = odd_report
    hits = [b for b in _groups(_rollouts(page)) if f"{DS}/q-round7" in _keys(b)]
    assert len(hits) == 1 and not hits[0].get("sets"), hits


def test_a_folder_under_a_refused_name_is_no_set_and_merges_with_nothing(odd_report):
    _, page = odd_report
    assert not [b for b in _groups(_rollouts(page)) if f"{DS}/-round3" in _keys(b)]
    assert not (page.parent / "data" / DS / "-round3").exists()
    p = [b for b in _groups(_rollouts(page)) if b.get("sets") and f"{DS}/p-round2" in _keys(b)]
    assert len(p) == 1 and _keys(p[0]) == [f"{DS}/p-round1", f"{DS}/p-round2"]


def test_duplicate_round_numbers_are_not_silently_collapsed(odd_report):
    """`x-round01` and `x-round1` would both read as round 1: whatever the grouping, both stay listed, and
    a picker never offers two entries with the same label."""
    _, page = odd_report
    hits = [b for b in _groups(_rollouts(page)) if {f"{DS}/x-round01", f"{DS}/x-round1"} & set(_keys(b))]
    keys = [k for b in hits for k in _keys(b)]
    assert sorted(keys) == [f"{DS}/x-round01", f"{DS}/x-round1"]
    for b in hits:
        if b.get("sets"):
            labels = [label for label, _ in b["sets"]]
            assert len(set(labels)) == len(labels), labels


def test_huge_round_number_orders_after_round1(odd_report):
    _, page = odd_report
    big = f"{DS}/h-round" + "9" * 25
    hits = [b for b in _groups(_rollouts(page)) if big in _keys(b)]
    assert len(hits) == 1
    if hits[0].get("sets"):
        assert _keys(hits[0]) == [f"{DS}/h-round1", big] and hits[0]["set"] == big


# ------------------------------------------------------------------------------------------- the page
@pytest.mark.parametrize("run", ["r", "a-round1", "v.1+x@y=z"])
@pytest.mark.browser
def test_page_round_picker_swaps_the_set(main_report, tmp_path, run):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    from support.browser import chrome, open_page, wait_for

    _, page = main_report
    sets = _sets_of(run)
    driver = chrome(1280, 900, False, tmp_path / "chrome-profile")
    try:
        open_page(driver, page)
        boxes = [
            b
            for b in driver.find_elements(By.CSS_SELECTOR, ".groups")
            if b.get_attribute("data-set") == f"{DS}/{sets[-1]}"
        ]
        assert len(boxes) == 1
        box = boxes[0]
        driver.execute_script("arguments[0].scrollIntoView()", box)
        picker = box.find_element(By.CSS_SELECTOR, "select[name='set']")
        opts = Select(picker).options
        assert len(opts) == len(sets)
        assert [o.text for o in opts] == [f"round {s.rsplit('-round', 1)[1]} ({s})" for s in sets]
        Select(picker).select_by_index(0)
        key = f"{DS}/{sets[0]}"
        wait_for(
            driver,
            "return [...document.querySelectorAll('.groups')].some(b => b.dataset.set === "
            + json.dumps(key)
            + " && b.querySelectorAll('article.group').length > 0)",
            f"{run}'s first round groups",
        )
        assert box.get_attribute("data-set") == key
        ids = {a.get_attribute("data-group") for a in box.find_elements(By.CSS_SELECTOR, "article.group")}
        assert ids and all(i.startswith(f"{sets[0]}:") for i in ids), sorted(ids)[:3]
        # and back to the last round
        Select(picker).select_by_index(len(sets) - 1)
        wait_for(
            driver,
            "return [...document.querySelectorAll('.groups')].some(b => b.dataset.set === "
            + json.dumps(f"{DS}/{sets[-1]}")
            + " && b.querySelectorAll('article.group').length > 0 && [...b.querySelectorAll('article.group')].every(a => a.dataset.group.startsWith("
            + json.dumps(sets[-1] + ":")
            + ")))",
            f"{run}'s last round groups again",
        )
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()


@pytest.mark.browser
def test_page_odd_names_no_console_errors(odd_report, tmp_path):
    from selenium.webdriver.common.by import By
    from support.browser import chrome, open_page

    _, page = odd_report
    driver = chrome(1280, 900, False, tmp_path / "chrome-profile")
    try:
        open_page(driver, page)
        keys = {b.get_attribute("data-set") for b in driver.find_elements(By.CSS_SELECTOR, ".groups")}
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        assert f"{DS}/q-round7" in keys and f"{DS}/h-round" + "9" * 25 in keys
        assert f"{DS}/-round3" not in keys, sorted(k for k in keys if k)
    finally:
        driver.quit()


def test_a_zero_padded_round_is_a_set_of_its_own():
    """`train --online` names round k `<run>-round<k>` with no leading zero: `x-round01` is not round 1 of
    `x` (grouped with `x-round1`, the picker would offer two "round 1")."""
    from adqa_data.report.sections import rollout_families

    assert rollout_families(["x-round01", "x-round1", "x-round2"]) == [
        ("x", [(1, "x-round1"), (2, "x-round2")]),
        ("x-round01", []),
    ]
