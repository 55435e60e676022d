"""`--format trl`: prompt rows for TRL's GRPOTrainer, and the rollouts as TRL completion logs.

Two configs:

`prompts` — one row per item. `prompt` is conversational (TRL's chat format with content parts, as
for its vision-language models): the user turn is `[{"type": "audio", ...}, {"type": "text", "text": ...}]`
and the audio part carries the clip, so a processor's `apply_chat_template` loads it and puts the
model's audio tokens there: `{"type": "audio", "path": <absolute path>}` with `--audio path` (the
default; transformers decodes it with librosa or torchcodec), `{"type": "audio", "audio": <waveform at
--sample-rate>}` with `--audio embed` (`datasets` returns the waveform as a list:
`adqa_data.integrations.trl.audio_arrays` makes it the array a processor takes), a text-only user turn
with `--audio none`. Every other column reaches the reward functions as a keyword argument
(GRPOTrainer passes all columns but `prompt`): `choices`, `answer` (the option letter, or the option text
for a style without letters), `answer_index`, `item_id`, `question_type`, `source_dataset`; the reward
functions of `adqa_data.integrations.trl` read `choices` and `answer_index`.

`completions` — present when the dataset has a rollout set: one row per completion in the layout of TRL
1.16's completion logs (`completions/completions_<step>.parquet` of GRPOTrainer with
`log_completions`), so the two concatenate: `step` (int64), `prompt` (the conversational prompt, as the
`prompts` config has it; the audio part carries the clip's path, never K copies of its waveform),
`completion` (`[{"role": "assistant", "content": text}]`, as TRL logs conversational completions), one
float64 column per reward function named after it (`correctness`, `format`, `anchoring` when the
rollout weighted it, plugins; nulls as NaN, as TRL logs a reward that returned None), the extra columns
`item_id` and `group_id` (as `log_extra` columns, sorted by name), then `advantage` (float64). TRL's
`step` is the trainer's global step when the table is logged, so its first table (step 1) holds the
completions the initial policy sampled; the rollouts here were sampled before any training step and
are step 0.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ..core.workspace import Workspace
from ..mcq.prompt_styles import get_style
from .base import Built, ExportOptions
from .source import (
    answer_for,
    audio_path,
    audio_waveform,
    chat_texts,
    check_audio_mode,
    letters_shown,
    read_rollouts,
    rollout_sets,
    select_items,
)


def user_parts(mode: str, audio: Any, text: str) -> list[dict[str, Any]]:
    """The user turn's content parts; `audio` is the clip's path (path) or waveform (embed)."""
    parts: list[dict[str, Any]] = []
    if mode == "path":
        parts.append({"type": "audio", "path": audio})
    elif mode == "embed":
        parts.append({"type": "audio", "audio": audio})
    return parts + [{"type": "text", "text": text}]


def chat_prompt(style_name: str, item: dict[str, Any], mode: str, audio: Any) -> list[dict[str, Any]]:
    system, user = chat_texts(style_name, item)
    return ([{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []) + [
        {"role": "user", "content": user_parts(mode, audio, user)}
    ]


def prompt_rows(ws: Workspace, dataset: str, options: ExportOptions) -> tuple[pa.Table, Any]:
    mode = check_audio_mode(options.audio or "path")
    rec = ws.dataset(dataset)
    sel = select_items(ws, dataset, options.prompts, options.split, default="prompts")
    style = get_style(options.prompt_style)
    rows = []
    for it in sel.items:
        row: dict[str, Any] = {
            "prompt": chat_prompt(options.prompt_style, it, "path" if mode == "path" else "none", None),
            "choices": list(it["choices"]),
            "answer": answer_for(style, it["answer_index"], it["choices"]),
            "answer_index": it["answer_index"],
            "item_id": it["item_id"],
            "question_type": it["question_type"],
            "source_dataset": it["source_dataset"],
        }
        if mode == "path":
            row["prompt"] = chat_prompt(options.prompt_style, it, "path", audio_path(rec, it))
        rows.append(row)
    table = pa.Table.from_pylist(rows)
    if mode == "embed":
        table = table.set_column(
            0, "prompt", embedded_prompts(table.column("prompt"), rec, sel.items, options)
        )
    return table, sel


def embedded_prompts(
    prompts: pa.ChunkedArray, rec: Any, items: list[dict[str, Any]], options: ExportOptions
) -> pa.Array:
    """The text-only prompts with an audio part `{"type": "audio", "audio": <waveform>}` put first in each
    user turn. Each waveform enters Arrow as a NumPy array (no Python float per sample)."""
    part = pa.struct([("type", pa.string()), ("text", pa.string()), ("audio", pa.list_(pa.float32()))])
    message = pa.struct([("role", pa.string()), ("content", pa.list_(part))])
    out = []
    for row, it in zip(prompts.to_pylist(), items):
        wave = audio_waveform(rec, it, options.sample_rate)
        msgs = []
        for m in row:
            parts = [{"type": p["type"], "text": p["text"], "audio": None} for p in m["content"]]
            if m["role"] == "user":
                parts.insert(0, {"type": "audio", "text": None, "audio": wave})
            msgs.append({"role": m["role"], "content": parts})
        out.append(msgs)
    return pa.array(out, pa.list_(message))


def completion_rows(table: pa.Table, prompts: dict[str, Any]) -> pa.Table:
    """Rollouts in the column layout of TRL 1.16's completion logs (module docstring); `prompts` maps an
    item id to its conversational prompt."""
    reward_cols = [
        c
        for c in table.column_names
        if c.startswith("reward_") and table.column(c).null_count < table.num_rows
    ]
    n = table.num_rows
    ids = table.column("item_id").to_pylist()
    cols: dict[str, Any] = {
        "step": pa.array([0] * n, pa.int64()),
        "prompt": pa.array([prompts[i] for i in ids]),
        "completion": pa.array(
            [[{"role": "assistant", "content": t}] for t in table.column("completion_text").to_pylist()]
        ),
    }
    for c in reward_cols:
        values = table.column(c).cast(pa.float64()).to_pylist()
        cols[c.removeprefix("reward_")] = pa.array(
            [float("nan") if v is None else v for v in values], pa.float64()
        )
    for extra in sorted(("item_id", "group_id")):
        cols[extra] = table.column(extra)
    cols["advantage"] = table.column("advantage").cast(pa.float64())
    return pa.table(cols)


def build(ws: Workspace, dataset: str, options: ExportOptions) -> Built:
    prompts, sel = prompt_rows(ws, dataset, options)
    configs = {"prompts": prompts}
    sources: list[tuple[str, str | None]] = [(sel.stage, sel.unit)]
    notes = list(sel.notes)
    if options.rollouts is not None or rollout_sets(ws, dataset):
        name, rollouts = read_rollouts(ws, dataset, options.rollouts)
        rec = ws.dataset(dataset)
        mode = "none" if options.audio == "none" else "path"
        by_id = {r["item_id"]: r for r in ws.items(dataset).to_pylist()}
        chats = {
            i: chat_prompt(options.prompt_style, by_id[i], mode, audio_path(rec, by_id[i]))
            for i in set(rollouts.column("item_id").to_pylist())
        }
        configs["completions"] = completion_rows(rollouts, chats)
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
