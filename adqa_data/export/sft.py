"""`--format sft`: a split (weak by default) as chat-format SFT rows, with the dataset's chain of thought.

The weak-to-strong recipe: imitate the reference reasoning on the items a text-only panel already gets
right (weak), then reinforce on the items that need the audio (strong). One row per item:

    messages  [system (when the style has one), user "<audio>" + question and options,
               assistant "<think>\\n{cot}\\n</think>\\n<answer>{answer}</answer>"]
              without a chain of thought the reply is "<answer>{answer}</answer>" (`--cot-only` drops those rows)
    audios    [absolute path] (`--audio path`, the default) or [{"array", "sampling_rate"}] (`--audio embed`)
    item_id, question_type, source_dataset, has_cot

`<audio>` in the text plus an `audios` list is the SFT convention of ms-swift and LLaMA-Factory. `answer`
is the option letter, or the option text for a style that shows no letters (as in every export). A chain
of thought that already has its own <think> block is kept as it is.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ..core.errors import UserError
from ..core.workspace import Workspace
from ..mcq.prompt_styles import get_style
from .base import Built, ExportOptions
from .source import (
    AUDIO_PLACEHOLDER,
    answer_for,
    audio_path,
    chat_texts,
    check_audio_mode,
    one_per_row,
    select_items,
    waveform_structs,
)


def reply(cot: str | None, answer: str) -> str:
    """The assistant turn: the chain of thought in <think>, then the answer block."""
    tail = f"<answer>{answer}</answer>"
    if not cot or not cot.strip():
        return tail
    cot = cot.strip()
    if "<think>" in cot.lower():
        return cot if "<answer>" in cot.lower() else f"{cot}\n{tail}"
    return f"<think>\n{cot}\n</think>\n{tail}"


def build(ws: Workspace, dataset: str, options: ExportOptions) -> Built:
    mode = check_audio_mode(options.audio or "path")
    rec = ws.dataset(dataset)
    sel = select_items(ws, dataset, options.prompts, options.split, default="weak")
    style = get_style(options.prompt_style)
    items = [it for it in sel.items if not options.cot_only or (it["cot"] and it["cot"].strip())]
    if not items:
        raise UserError(f"no item of the {sel.label} has a chain of thought", fix="drop --cot-only")
    rows = []
    for it in items:
        system, user = chat_texts(options.prompt_style, it)
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        messages += [
            {"role": "user", "content": (AUDIO_PLACEHOLDER if mode != "none" else "") + user},
            {
                "role": "assistant",
                "content": reply(it["cot"], answer_for(style, it["answer_index"], it["choices"])),
            },
        ]
        row: dict[str, Any] = {
            "messages": messages,
            "item_id": it["item_id"],
            "question_type": it["question_type"],
            "source_dataset": it["source_dataset"],
            "has_cot": bool(it["cot"] and it["cot"].strip()),
        }
        if mode == "path":
            row["audios"] = [audio_path(rec, it)]
        rows.append(row)
    table = pa.Table.from_pylist(rows)
    if mode == "embed":
        table = table.append_column(
            "audios", one_per_row(waveform_structs(rec, items, options.sample_rate, "array"))
        )
    with_cot = sum(r["has_cot"] for r in rows)
    notes = [*sel.notes, f"{with_cot} of {len(rows)} rows carry a chain of thought"]
    if options.cot_only:
        notes.append(f"{len(sel.items) - len(items)} items without a chain of thought dropped (--cot-only)")
    return Built(
        configs={"default": table},
        what=f"Chat-format SFT rows: the {sel.label} of dataset `{dataset}`, prompt style `{options.prompt_style}`; "
        "the assistant turn is the dataset's chain of thought in <think> followed by the answer block "
        "(the weak-to-strong recipe: imitate on weak items, reinforce on strong ones). `<audio>` in the user text "
        "with an `audios` list is the ms-swift / LLaMA-Factory convention.",
        sources=[(sel.stage, sel.unit)],
        item_ids=[r["item_id"] for r in rows],
        notes=notes,
        usage=f'sft = load_dataset("<repo or folder>", split="{options.split_name}")  # messages, audios',
    )
