"""`adqa-data report` on a large rollout set: build time, data sizes, and the page's speed in Chromium.

A planted workspace (tests/support/planted_workspace.py) gets a rollout set run on the scripted backend with
the anchoring reward on, then a set of `--groups` groups made by repeating its groups under new ids (the
same clips, so the clip work stays that of 10 clips: this measures the groups' path). Prints one JSON
line: seconds to build the report, the filter index's size, page files and their mean size, and, where
Chromium, chromedriver and selenium are installed, seconds from opening the page to the first groups of
the large set, and from changing a filter to the new count and groups on screen.

    python benchmarks/report_groups.py [--groups 10000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.planted_workspace import DS, build_workspace  # noqa: E402

from adqa_data.core.atomic_files import write_json_atomic  # noqa: E402
from adqa_data.core.schema import ROLLOUTS  # noqa: E402
from adqa_data.core.shard_records import record_outputs  # noqa: E402
from adqa_data.core.workspace import write_table_atomic  # noqa: E402
from adqa_data.report import build_report  # noqa: E402
from adqa_data.stages.rollout import load_config, rollout  # noqa: E402

SHARD_GROUPS = 2500


def _workspace(base: Path, groups: int):
    ws = build_workspace(base)
    rewards = {"correctness": 1.0, "format": 0.5, "anchoring": 0.5}
    cfg = load_config(None, backend="scripted", rewards=rewards, max_new_tokens=200)
    rollout(ws, cfg, dataset=DS, name="scripted")
    seed = ws.read(ROLLOUTS, DS, "scripted").to_pylist()
    k = seed[0]["k"]
    seed_groups = [seed[i : i + k] for i in range(0, len(seed), k)]
    out = ws.table_dir(ROLLOUTS.name, DS, "big")
    for shard, start in enumerate(range(0, groups, SHARD_GROUPS)):
        rows = []
        for g in range(start, min(groups, start + SHARD_GROUPS)):
            for r in seed_groups[g % len(seed_groups)]:
                rows.append({**r, "group_id": f"big:{g:06d}:{r['item_id']}"})
        write_table_atomic(out / f"part-{shard:05d}.parquet", ROLLOUTS.from_pylist(rows), ROLLOUTS)
    # a complete set, as the stage leaves one: the scripted set's record, with this folder's shards (readers
    # trust only recorded shards)
    record = ws.provenance("rollout", DS, "scripted")
    record = {**record, "unit": "big", "outputs": record_outputs(ws.root, [out])}
    write_json_atomic(ws.provenance_path("rollout", DS, "big"), record)
    return ws


def _browser(page: Path, key: str) -> dict[str, float] | None:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import Select, WebDriverWait
    except ImportError:
        return None
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver_path:
        return None
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        opts.add_argument(a)
    opts.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='adqa-bench-chrome-')}")
    driver = webdriver.Chrome(options=opts, service=Service(driver_path))
    sel = f".groups[data-set='{key}']"
    try:
        t0 = time.perf_counter()
        driver.get(page.as_uri())
        wait = WebDriverWait(driver, 120, poll_frequency=0.02)
        wait.until(
            lambda d: d.execute_script(f'return document.querySelectorAll("{sel} article.group").length > 0')
        )
        opened = time.perf_counter() - t0
        box = driver.find_element("css selector", sel)
        # done: the count changed and every group shown has a completion the filter asks for
        state = f'const b = document.querySelector("{sel}"); const gs = [...b.querySelectorAll("article.group")]; '
        state += 'return [b.querySelector(".count").dataset.count, gs.length > 0 && gs.every('
        state += '(g) => g.textContent.includes("multiple_options"))];'
        before = driver.execute_script(state)[0]
        t1 = time.perf_counter()
        Select(box.find_element("name", "verdict")).select_by_visible_text("multiple_options")
        wait.until(lambda d: (lambda c: c[0] != before and c[1])(d.execute_script(state)))
        filtered = time.perf_counter() - t1
        return {"open_to_first_groups_s": round(opened, 3), "filter_to_new_groups_s": round(filtered, 3)}
    finally:
        driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = _workspace(Path(tmp), args.groups)
        t0 = time.perf_counter()
        result = build_report(ws)
        built = time.perf_counter() - t0
        data = result.page.parent / "data" / DS / "big"
        pages = sorted(data.glob("page-*.js"))
        out = {
            "groups": result.rollout_sets[f"{DS}/big"],
            "build_s": round(built, 2),
            "index_kb": round((data / "index.js").stat().st_size / 1024, 1),
            "page_files": len(pages),
            "page_kb_mean": round(sum(p.stat().st_size for p in pages) / len(pages) / 1024, 1),
        }
        out["browser"] = _browser(result.page, f"{DS}/big")
        print(json.dumps(out))


if __name__ == "__main__":
    main()
