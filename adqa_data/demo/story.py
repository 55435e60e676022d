"""What the story demo shows, read from the workspace's own tables: how well the filter's weak/strong split
recovers the designed `needs_audio` label, and eval accuracy with the clip and with silence on the items
that need the audio, before and after training.

The design label is an upstream column (`needs_audio`, kept in `items.upstream_json`, never shown to a
model); a dataset without it has no agreement to report (None).
"""

from __future__ import annotations

import json
from typing import Any

from ..core.schema import ITEM_SCORES, PREDICTIONS
from ..core.workspace import Workspace

DESIGN_FIELD = "needs_audio"


def design_labels(ws: Workspace, dataset: str) -> dict[str, bool]:
    """item_id -> needs_audio, for the items whose upstream row carries a boolean label."""
    out: dict[str, bool] = {}
    for r in ws.items(dataset, columns=["item_id", "upstream_json"]).to_pylist():
        try:
            label = json.loads(r["upstream_json"] or "{}").get(DESIGN_FIELD)
        except (ValueError, AttributeError):
            continue
        if isinstance(label, bool):
            out[r["item_id"]] = label
    return out


def split_agreement(ws: Workspace, dataset: str) -> dict[str, Any] | None:
    """Share of labelled items whose split is the design's (strong = needs the audio), with the counts
    of each (design, split) pair; None without labels or without a split."""
    labels = design_labels(ws, dataset)
    if not labels:
        return None
    scores = ws.read(ITEM_SCORES, dataset, columns=["item_id", "split"]).to_pylist()
    pairs = [(labels[r["item_id"]], r["split"]) for r in scores if r["item_id"] in labels]
    if not pairs:
        return None
    agree = sum((split == "strong") == needs for needs, split in pairs)
    counts = {
        f"{'audio-only' if needs else 'text-prior'}->{split}": sum(p == (needs, split) for p in pairs)
        for needs in (True, False)
        for split in ("strong", "weak")
    }
    return {"items": len(pairs), "agreement": round(agree / len(pairs), 4), "counts": counts}


def accuracy_by_design(ws: Workspace, dataset: str, name: str) -> dict[str, dict[str, float | int]]:
    """condition -> {audio-only, text-prior, all: accuracy, and n_<part>} of a finished prediction set
    (the voted answer, one row per item and condition); labels from the dataset's items."""
    labels = design_labels(ws, dataset)
    rows = ws.read(
        PREDICTIONS, dataset, name, columns=["item_id", "condition", "sample_index", "voted_correct"]
    ).to_pylist()
    out: dict[str, dict[str, float | int]] = {}
    for cond in sorted({r["condition"] for r in rows}):
        got = [r for r in rows if r["condition"] == cond and r["sample_index"] == 0]
        parts = {
            "audio-only": [r for r in got if labels.get(r["item_id"]) is True],
            "text-prior": [r for r in got if labels.get(r["item_id"]) is False],
            "all": got,
        }
        out[cond] = {}
        for part, rs in parts.items():
            if rs:
                out[cond][part] = round(sum(bool(r["voted_correct"]) for r in rs) / len(rs), 4)
                out[cond][f"n_{part}"] = len(rs)
    return out


def story(ws: Workspace, train: str, dev: str, before: str, after: str) -> dict[str, Any]:
    """The demo's figures: the split's agreement with the design on `train`, and `dev` accuracy with the
    clip and with silence, overall and on the audio-only items, for the prediction sets `before` and
    `after`; the audio-dependency gap (audio minus silence, audio-only items) of each."""
    result: dict[str, Any] = {"split": split_agreement(ws, train), "eval": {}}
    for label, name in (("before", before), ("after", after)):
        acc = accuracy_by_design(ws, dev, name)
        audio = acc.get("audio", {}).get("audio-only")
        silence = acc.get("silence", {}).get("audio-only")
        gap = None if audio is None or silence is None else round(audio - silence, 4)
        result["eval"][label] = {"predictions": name, "accuracy": acc, "gap_audio_only": gap}
    return result
