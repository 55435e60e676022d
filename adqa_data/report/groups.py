"""A rollout set as the report's browsable groups: a small filter index and pages of full groups.

The page filters over the index alone (question type, zero-signal flag, the group's rewards, the parse
verdicts of its completions), so 10k groups filter instantly, and loads a page's full groups (texts,
highlights, rewards, advantages, attention profiles, the clip) only when that page is shown: each page
is its own script file under data/, which a page opened from disk can load where `fetch` cannot.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import polars as pl

from ..core.schema import BUILTIN_REWARD_COLUMNS, ROLLOUTS
from ..core.workspace import Workspace, read_table
from .clips import Clips
from .highlight import read_spans

PAGE_GROUPS = 20  # groups per page file: one screenful of groups, a few tens of kB
COLUMNS = [
    "group_id",
    "item_id",
    "question_type",
    "source_dataset",
    "rollout_index",
    "choices",
    "answer_index",
    "audio_path",
    "audio_sha256",
    "completion_text",
    "finish_reason",
    "completion_length",
    "parsed_index",
    "parse_layer",
    "parse_reason",
    "reward",
    "advantage",
    "zero_signal",
    "anchoring_profile",
]


def _num(x: Any, nd: int = 4) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)


def read_groups(ws: Workspace, dataset: str, name: str) -> pl.DataFrame:
    """The set's rows (the columns the report shows, every reward column), in group order."""
    directory = ws.table_dir(ROLLOUTS.name, dataset, name)
    table = read_table(directory, ROLLOUTS)
    rewards = [c for c in table.column_names if c.startswith("reward_")]
    df = pl.from_arrow(table.select([*COLUMNS, *rewards]))
    assert isinstance(df, pl.DataFrame)
    return df.sort("group_id", "rollout_index", maintain_order=True)


def verdict(layer: str | None, reason: str | None) -> str:
    """One word for what the parser made of a completion: its layer when credited, else its reason."""
    return layer or reason or "?"


def build_set(
    df: pl.DataFrame, questions: dict[str, str], root: str, clips: Clips
) -> tuple[dict[str, Any], Iterator[list[dict[str, Any]]]]:
    """(the filter index, the pages of full groups, lazily) of one rollout set's rows."""
    # the built-in rewards first, in their order, then plugins by name
    rewards = [c for c in BUILTIN_REWARD_COLUMNS if c in df.columns]
    rewards += sorted(c for c in df.columns if c.startswith("reward_") and c not in rewards)
    groups = df.partition_by("group_id", maintain_order=True)
    types = sorted({str(g["question_type"][0] or "(none)") for g in groups})
    verdicts = sorted({verdict(a, b) for a, b in zip(df["parse_layer"], df["parse_reason"])})
    rows = []
    for i, g in enumerate(groups):
        r = g["reward"].cast(pl.Float64)
        rows.append(
            [
                i // PAGE_GROUPS,
                types.index(str(g["question_type"][0] or "(none)")),
                int(bool(g["zero_signal"].all())),
                _num(r.mean()),
                _num(r.min()),
                _num(r.max()),
                sorted({verdicts.index(verdict(a, b)) for a, b in zip(g["parse_layer"], g["parse_reason"])}),
            ]
        )
    index = {
        "groups": len(groups),
        "page_groups": PAGE_GROUPS,
        "pages": math.ceil(len(groups) / PAGE_GROUPS),
        "types": types,
        "verdicts": verdicts,
        "rewards": [c.removeprefix("reward_") for c in rewards],
        "rows": rows,
    }

    def pages() -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(groups), PAGE_GROUPS):
            yield [_group(g, rewards, questions, root, clips) for g in groups[start : start + PAGE_GROUPS]]

    return index, pages()


def _group(
    g: pl.DataFrame, rewards: list[str], questions: dict[str, str], root: str, clips: Clips
) -> dict[str, Any]:
    first = g.row(0, named=True)
    choices = list(first["choices"])
    completions = []
    for r in g.iter_rows(named=True):
        text = r["completion_text"]
        profile = r["anchoring_profile"]
        completions.append(
            {
                "i": r["rollout_index"],
                "text": text,
                "spans": read_spans(text, r["parse_layer"], r["parse_reason"], r["parsed_index"], choices),
                "verdict": verdict(r["parse_layer"], r["parse_reason"]),
                "credited": r["parse_layer"] is not None,
                "parsed": r["parsed_index"],
                "finish": r["finish_reason"],
                "length": r["completion_length"],
                "rewards": {c.removeprefix("reward_"): _num(r[c]) for c in rewards},
                "reward": _num(r["reward"]),
                "advantage": _num(r["advantage"]),
                "profile": None if profile is None else [round(float(x), 5) for x in profile],
            }
        )
    return {
        "group_id": first["group_id"],
        "item_id": first["item_id"],
        "question_type": first["question_type"],
        "source": first["source_dataset"],
        "question": questions.get(first["item_id"]),
        "choices": choices,
        "answer": first["answer_index"],
        "zero_signal": bool(g["zero_signal"].all()),
        "clip": clips.clip(root, first["audio_path"], first["audio_sha256"]),
        "completions": completions,
    }
