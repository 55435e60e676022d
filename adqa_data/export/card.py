"""The dataset card (README.md) written with every export: what the rows are, how to load them, schema,
row counts, the provenance chain of settings and inputs, the workspace statistics, the source licence.

The YAML header declares the configs and their data files, so `datasets.load_dataset(folder_or_repo,
config)` finds them without arguments about files. The provenance chain follows the stage records
upstream from the stage the rows come from: rollout -> its prompt set -> the filter split it was drawn
from (when weak or strong) -> download (any other stage -> download), each with its config, input
fingerprints, package versions and finish time, so a reader can tell exactly which settings and inputs
made the data. Licence fields are read from the source manifests (any upstream column whose name
contains "licence"/"license", kept verbatim in `items.upstream_json`); when none is recorded the card
says so rather than guessing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import yaml

from .. import __version__
from ..core.workspace import Workspace
from .base import Built

_LICENCE_KEY = re.compile(r"licen[cs]e", re.IGNORECASE)


def data_path(config: str, split: str) -> str:
    return f"data/{config}/{split}-00000-of-00001.parquet"


# ------------------------------------------------------------------------------------------ provenance
def _upstream(stage: str, record: dict[str, Any] | None) -> list[tuple[str, str | None]]:
    config = (record or {}).get("config", {})
    if stage == "rollout" and config.get("prompts"):
        return [("sample", config["prompts"])]
    if stage == "sample":
        return [("filter", None)] if config.get("split") in ("weak", "strong") else [("download", None)]
    return [] if stage == "download" else [("download", None)]


def provenance_chain(
    ws: Workspace, dataset: str, sources: list[tuple[str, str | None]]
) -> list[dict[str, Any]]:
    """The stage records from the rows' own stage upstream to download (module docstring)."""
    chain: list[dict[str, Any]] = []
    seen: set[tuple[str, str | None]] = set()
    todo = list(sources)
    while todo:
        stage, unit = todo.pop(0)
        if (stage, unit) in seen:
            continue
        seen.add((stage, unit))
        record = ws.provenance(stage, dataset, unit)
        entry: dict[str, Any] = {"stage": stage, "unit": unit}
        if record is None:
            entry["missing"] = True
        else:
            entry.update(
                {k: record.get(k) for k in ("status", "key", "finished", "config", "inputs", "versions")}
            )
        chain.append(entry)
        todo += _upstream(stage, record)
    return chain


# --------------------------------------------------------------------------------------------- licence
def licence_fields(ws: Workspace, dataset: str, item_ids: list[str] | None) -> dict[str, dict[str, int]]:
    """{upstream field name: {value: items}} over the exported items (all items when `item_ids` is None)."""
    table = ws.items(dataset, columns=["item_id", "upstream_json"])
    wanted = None if item_ids is None else set(item_ids)
    found: dict[str, Counter[str]] = {}
    for r in table.to_pylist():
        if (wanted is not None and r["item_id"] not in wanted) or not r["upstream_json"]:
            continue
        try:
            upstream = json.loads(r["upstream_json"])
        except json.JSONDecodeError:
            continue
        if not isinstance(upstream, dict):
            continue
        for k, v in upstream.items():
            if _LICENCE_KEY.search(k) and v not in (None, ""):
                found.setdefault(k, Counter())[str(v)] += 1
    rec = ws.dataset(dataset)
    for attr in ("license", "licence"):
        if getattr(rec, attr, None):
            found.setdefault(f"datasets.json {attr}", Counter())[str(getattr(rec, attr))] += 1
    return {k: dict(sorted(c.items())) for k, c in sorted(found.items())}


def hub_licence(licences: dict[str, dict[str, int]]) -> str | list[str] | None:
    """The card's YAML `license:`: the recorded licence ids in the Hub's spelling (lower case, e.g.
    `cc-by-4.0`), one string when the items share one, a list when they differ, None when none is known."""
    ids = sorted({re.sub(r"\s+", "-", v.strip()).lower() for vals in licences.values() for v in vals})
    ids = [i for i in ids if i]
    if not ids:
        return None
    return ids[0] if len(ids) == 1 else ids


# ---------------------------------------------------------------------------------------------- render
def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _schema(table: pa.Table) -> str:
    return _md_table(["column", "type"], [[f"`{f.name}`", f"`{f.type}`"] for f in table.schema])


def _stats_md(report: dict[str, Any], sources: list[tuple[str, str | None]]) -> str:
    sec = report.get("sections", {})
    out: list[str] = []
    if s := sec.get("items"):
        q = ", ".join(f"{r['reason']} {r['count']}" for r in s["quarantine"]) or "none"
        out.append(
            f"- items: {s['items']} ({s['with_answer']} with a gold answer); quarantined: {s['quarantined']} ({q})"
        )
        out.append("- by source: " + ", ".join(f"{r['source_dataset']} {r['count']}" for r in s["by_source"]))
        out.append(
            "- by question type: "
            + ", ".join(f"{r['question_type']} {r['count']}" for r in s["by_question_type"])
        )
    if s := sec.get("splits"):
        out.append(
            f"- audio-contribution split: {s['weak']} weak, {s['strong']} strong (strong share {s['strong_share']})"
        )
    if s := sec.get("panel"):
        acc = ", ".join(f"{m} {v.get('silence')}" for m, v in s["accuracy"].items())
        out.append(
            f"- panel agreement on silence: Fleiss' kappa {s['fleiss_kappa']}; silence accuracy: {acc or '-'}"
        )
    units = {u for st, u in sources if st in ("sample", "rollout")}
    for name, s in (sec.get("prompts") or {}).items():
        if name in units or not units:
            bal = ", ".join(f"{r['question_type']} {r['chosen']}/{r['pool']}" for r in s["by_question_type"])
            out.append(
                f"- prompt set {name}: {s['n']} from the {s['split']} pool of {s['pool']} (chosen/pool by type: {bal})"
            )
    for name, s in (sec.get("rollouts") or {}).items():
        if name in units or not units:
            means = ", ".join(f"{k} {v['mean']}" for k, v in s["rewards"].items() if v["mean"] is not None)
            out.append(
                f"- rollout set {name}: {s['groups']} groups x {s['k']}, accuracy {s['accuracy']}, zero-signal "
                f"groups {s['zero_signal_share']}, mean completion length {s['completion_length'].get('mean')}; "
                f"mean rewards: {means}"
            )
    return "\n".join(out) or "No statistics: the workspace holds no table the statistics read."


def render_card(
    *,
    ws: Workspace,
    dataset: str,
    fmt: str,
    built: Built,
    split: str,
    title: str | None = None,
    stats_report: dict[str, Any] | None = None,
) -> str:
    licences = licence_fields(ws, dataset, built.item_ids)
    licence = hub_licence(licences)
    header = {
        **({"license": licence} if licence else {}),
        "pretty_name": title or f"{dataset} ({fmt})",
        "tags": ["adqa-data", "audio", "audio-question-answering", "multiple-choice", fmt],
        "configs": [
            {
                "config_name": c,
                "data_files": [{"split": split, "path": data_path(c, split)}],
                **({"default": True} if i == 0 and len(built.configs) > 1 else {}),
            }
            for i, c in enumerate(built.configs)
        ],
    }
    chain = provenance_chain(ws, dataset, built.sources)
    parts = [
        "---\n" + yaml.safe_dump(header, sort_keys=False) + "---",
        f"# {header['pretty_name']}",
        built.what,
        "## Load it\n\n```python\nfrom datasets import load_dataset\n\n" + built.usage + "\n```",
        "## Rows\n\n"
        + _md_table(["config", "split", "rows"], [[c, split, t.num_rows] for c, t in built.configs.items()]),
        "## Schema\n\n" + "\n\n".join(f"### `{c}`\n\n{_schema(t)}" for c, t in built.configs.items()),
    ]
    if built.notes:
        parts.append("## Notes\n\n" + "\n".join(f"- {n}" for n in built.notes))
    if licences:
        lic = "\n".join(
            f"- `{k}`: " + ", ".join(f"{v} ({n} items)" for v, n in vals.items())
            for k, vals in licences.items()
        )
        parts.append("## Licence of the source data\n\nAs recorded in the source manifests:\n\n" + lic)
    else:
        parts.append(
            "## Licence of the source data\n\nThe source manifests record no licence field; check the "
            "terms of the upstream dataset (and of each source corpus) before redistributing the audio."
        )
    prov = []
    for e in chain:
        name = e["stage"] + (f" `{e['unit']}`" if e["unit"] else "")
        if e.get("missing"):
            prov.append(
                f"### {name}\n\nNo provenance record (the stage's outputs were made elsewhere or by hand)."
            )
            continue
        body = json.dumps(
            {k: e.get(k) for k in ("config", "inputs", "versions")}, indent=2, sort_keys=True, default=str
        )
        prov.append(
            f"### {name}\n\nstatus {e.get('status')}, finished {e.get('finished')}, run key `{e.get('key')}`"
            f"\n\n```json\n{body}\n```"
        )
    parts.append(
        "## Provenance\n\nFrom the rows' own stage upstream; config and input fingerprints as recorded "
        "by each stage.\n\n" + "\n\n".join(prov)
    )
    if stats_report is not None:
        parts.append("## Statistics of the workspace\n\n" + _stats_md(stats_report, built.sources))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f"---\n\nWritten by adqa-data {__version__} (`adqa-data export --format {fmt}`) on {stamp}.")
    return "\n\n".join(parts) + "\n"
