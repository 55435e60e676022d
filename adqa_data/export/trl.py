"""`--format trl`: prompt rows for TRL's GRPOTrainer, and the rollouts as TRL completion logs.

Two configs:

`prompts` — one row per item. `prompt` is conversational (TRL's chat format with content parts, as
for its vision-language models): the user turn is `[{"type": "audio"}, {"type": "text", "text": ...}]`,
so a processor's chat template puts the model's audio tokens there. Every other column reaches the
reward functions as a keyword argument (GRPOTrainer passes all columns but `prompt`): `choices`,
`answer` (the option letter, or the option text for a style without letters), `answer_index`,
`item_id`, `question_type`, `source_dataset`, and `audio` (the absolute path with `--audio path`, the
default; `{"array", "sampling_rate"}` with `--audio embed`).

`completions` — present when the dataset has a rollout set: one row per completion with the columns of
TRL's completion logs (`completions/completions_<step>.parquet` of GRPOTrainer with `log_completions`):
`step`, `prompt`, `completion`, one column per reward function named after it (`correctness`,
`format`, `anchoring`, plugins), and `advantage`. The rollouts were sampled before any training step, so
`step` is 0; `prompt` is the templated prompt text the policy saw. `item_id` and `group_id` are extra
columns, as TRL's `log_extra` columns would be.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ..prompt_styles import get_style
from ..schema import ROLLOUTS
from ..workspace import Workspace
from .base import Built, ExportOptions
from .source import (
    answer_for,
    audio_path,
    chat_texts,
    check_audio_mode,
    letters_shown,
    read_rollouts,
    select_items,
    waveform_structs,
)


def prompt_rows(ws: Workspace, dataset: str, options: ExportOptions) -> tuple[pa.Table, Any]:
    mode = check_audio_mode(options.audio or "path")
    rec = ws.dataset(dataset)
    sel = select_items(ws, dataset, options.prompts, options.split, default="prompts")
    style = get_style(options.prompt_style)
    rows = []
    for it in sel.items:
        system, user = chat_texts(options.prompt_style, it)
        parts = ([{"type": "audio"}] if mode != "none" else []) + [{"type": "text", "text": user}]
        row: dict[str, Any] = {
            "prompt": ([{"role": "system", "content": [{"type": "text", "text": system}]}] if system else [])
            + [{"role": "user", "content": parts}],
            "choices": list(it["choices"]),
            "answer": answer_for(style, it["answer_index"], it["choices"]),
            "answer_index": it["answer_index"],
            "item_id": it["item_id"],
            "question_type": it["question_type"],
            "source_dataset": it["source_dataset"],
        }
        if mode == "path":
            row["audio"] = audio_path(rec, it)
        rows.append(row)
    table = pa.Table.from_pylist(rows)
    if mode == "embed":
        table = table.append_column("audio", waveform_structs(rec, sel.items, options.sample_rate, "array"))
    return table, sel


def completion_rows(table: pa.Table) -> pa.Table:
    """Rollouts in the column layout of TRL's completion logs."""
    reward_cols = [c for c in table.column_names if c.startswith("reward_")]
    cols: dict[str, Any] = {
        "step": pa.array([0] * table.num_rows, pa.int64()),
        "prompt": table.column("prompt"),
        "completion": table.column("completion_text"),
    }
    for c in reward_cols:
        cols[c.removeprefix("reward_")] = table.column(c)
    cols["advantage"] = table.column("advantage")
    cols["item_id"] = table.column("item_id")
    cols["group_id"] = table.column("group_id")
    return pa.table(cols)


def build(ws: Workspace, dataset: str, options: ExportOptions) -> Built:
    prompts, sel = prompt_rows(ws, dataset, options)
    configs = {"prompts": prompts}
    sources: list[tuple[str, str | None]] = [(sel.stage, sel.unit)]
    notes = list(sel.notes)
    if options.rollouts is not None or ws.finished_sets("rollout", ROLLOUTS.name, dataset):
        name, rollouts = read_rollouts(ws, dataset, options.rollouts)
        configs["completions"] = completion_rows(rollouts)
        sources.append(("rollout", name))
        notes.append(f"completions from rollout set {name} (step 0: sampled before training)")
    else:
        notes.append("no rollout set: the completions config is left out")
    style = get_style(options.prompt_style)
    truth = "the option letter" if letters_shown(style) else "the option text"
    notes.append(f"answer = {truth}")
    return Built(
        configs=configs,
        what=f"TRL GRPOTrainer data from dataset `{dataset}`. Config `prompts`: the {sel.label}, prompt style "
        f"`{options.prompt_style}`, conversational `prompt` with an audio content part; `choices` and `answer` "
        f"({truth}) and the other columns reach the reward functions as keyword arguments."
        + (
            " Config `completions`: the rollouts in the layout of TRL's completion logs (step, prompt, completion, "
            "one column per reward function, advantage)."
            if "completions" in configs
            else ""
        ),
        sources=sources,
        item_ids=[r for r in prompts.column("item_id").to_pylist()],
        notes=notes,
        usage=(
            f'prompts = load_dataset("<repo or folder>", "prompts", split="{options.split_name}")\n'
            "GRPOTrainer(model=..., reward_funcs=[...], train_dataset=prompts)  # reward_fn(completions, answer, choices, **kw)"
        ),
    )
