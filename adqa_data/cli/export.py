"""`adqa-data export`: a workspace table as a Hugging Face dataset (native, verl, trl, groups, sft)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import render
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, options_checked, print_json
from .options import build_settings, settings_options


def _settings_model() -> Any:
    from ..export.config import ExportConfig

    return ExportConfig


@app.command()
@settings_options(_settings_model())
def export(
    settings: dict[str, Any],
    workspace: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """Write (--out) or push (--push-to-hub) a table as a Hugging Face dataset with a generated dataset card
    (what it is, schema, row counts, provenance chain, statistics, source licence).

    Formats: native (any table as it is); verl (prompt rows with an <audio> placeholder, reward_model,
    extra_info and an audios column for verl's RL dataset); trl (GRPOTrainer prompts whose extra columns reach
    reward functions, plus the rollouts as TRL completion logs); groups (one row per rollout group: prompt,
    responses, rewards); sft (a split, weak by default, as chat messages with the chain of thought); swift
    (ms-swift: the sft rows plus GRPO prompt rows with `solution`, clips copied beside them, a reward plugin).
    Every export is loaded back and compared with what was written before it is reported or pushed.
    """
    from ..core.workspace import Workspace
    from ..export import ExportConfig, run

    config = build_settings(ExportConfig, settings, "export")
    options_checked()
    res = run(Workspace(workspace), config)
    if as_json:
        print_json(res)
        return
    check = res.check["configs"]
    render.table(
        f"{res.dataset} exported as {res.format}",
        ["config", "rows", "loaded back", "rows compared", "check"],
        [
            (c, n, check[c]["loaded_rows"], check[c]["rows_compared"], "ok" if check[c]["ok"] else "MISMATCH")
            for c, n in res.rows.items()
        ],
    )
    for note in res.notes:
        render.log(f"  {note}")
    if res.out:
        render.log(f"written: {res.out} (dataset card: {Path(res.out) / 'README.md'})")
    if res.pushed_to:
        render.log(f"pushed: {res.pushed_to}")
