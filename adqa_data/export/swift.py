"""`--format swift`: SFT and GRPO rows in the layout ms-swift (4.6) reads, with portable audio.

Two configs, written from one export folder (`swift sft --dataset DIR:sft`, `swift rlhf --dataset DIR:grpo`):

    sft   a split (`--split`, weak by default), one row per item:
          messages  [system (when the style has one), user "<audio>" + question and options,
                     assistant "<think>\\n{cot}\\n</think>\\n<answer>{answer}</answer>" (as `--format sft`)]
          audios    [one string per <audio> tag]
          item_id, question_type, source_dataset, has_cot
    grpo  a prompt set (`--prompts`, the only one by default), in draw order, without the assistant turn:
          messages, audios, solution (what the answer block must name: the gold letter, or the option text
          for a style without letters), choices, answer_index, item_id, question_type, source_dataset

The `sft` config is left out, with a note, when the workspace has no weak/strong split and `--split` was
not given; the `grpo` config needs a prompt set.

Column names are ones ms-swift's loader keeps as they are: its preprocessors rename `audio`/`audio`-like
keys (`audio` -> `audios`, `image`, `video`), `conversation(s)` -> `messages`, `system_prompt` ->
`system`, and, for rows without `messages`, `prompt`/`query`/`question`/`answer`/`response`/`solution`
... into a query-response pair; it keeps `solution` of a messages row for the GRPO reward functions
and hands every other column to them as a keyword (`rlhf` keeps unused columns). `label`, `options` and
`questions` are its own keys and are not used here.

Audio (ms-swift reads each `audios` string as a file path, else as base64 of a file's bytes):
- `--audio path` (default): the clips are copied into the export (`audio/000000.wav`, ...) and the rows
  name them relative to the folder; ms-swift resolves a relative path against the working directory or
  against `ROOT_IMAGE_DIR` (its one root for media files, audio included), so the card's commands set
  `ROOT_IMAGE_DIR` to the folder. A moved folder or a pushed and downloaded one works the same way: the
  clips travel with it (`--push-to-hub` uploads the folder as checked).
- `--audio embed`: each clip's file bytes as a base64 string, so the Parquet alone carries the audio
  (about 4/3 of the files' size); ms-swift decodes and resamples it to the processor's rate.
- `--audio none`: no `audios` column and no `<audio>` tag (text-only baselines).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..core.errors import UserError
from ..core.workspace import DatasetRecord, Workspace
from ..mcq.prompt_styles import get_style
from .base import Built, ExportOptions
from .card import data_path
from .sft import reply
from .source import (
    AUDIO_PLACEHOLDER,
    Selection,
    answer_for,
    audio_path,
    chat_texts,
    check_audio_mode,
    select_items,
)

AUDIO_DIR = "audio"  # where --audio path copies the clips, inside the export folder
PLUGIN_FILE = "adqa_swift_plugin.py"  # the reward plugin, shipped beside the data
REWARD_FUNCS = ("adqa_correctness", "adqa_format")  # registered by adqa_data.integrations.swift


AUDIO_NOTE = {
    "path": "clips under audio/, relative to this folder",
    "embed": "each clip's file bytes as base64",
    "none": "none: text only",
}


class _Clips:
    """Each source clip once: a relative path inside the export (copied) or its bytes as base64."""

    def __init__(self, rec: DatasetRecord, mode: str) -> None:
        self.rec, self.mode = rec, mode
        self.files: dict[str, Path] = {}
        self._by_source: dict[str, str] = {}

    def ref(self, item: dict[str, Any]) -> str:
        src = audio_path(self.rec, item)
        if src not in self._by_source:
            path = Path(src)
            if not path.is_file():
                raise UserError(
                    f"the audio of item {item['item_id']} is missing",
                    where=src,
                    fix="rerun 'adqa-data download' (the file changed or moved)",
                )
            if self.mode == "path":
                rel = f"{AUDIO_DIR}/{len(self.files):06d}{path.suffix.lower()}"
                self.files[rel] = path
                self._by_source[src] = rel
            else:
                self._by_source[src] = base64.b64encode(path.read_bytes()).decode("ascii")
        return self._by_source[src]


def _messages(options: ExportOptions, item: dict[str, Any], audio: bool) -> list[dict[str, str]]:
    system, user = chat_texts(options.prompt_style, item)
    head = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": (AUDIO_PLACEHOLDER if audio else "") + user}]


def _sft_rows(options: ExportOptions, sel: Selection, clips: _Clips | None) -> list[dict[str, Any]]:
    style = get_style(options.prompt_style)
    rows = []
    for it in sel.items:
        answer = answer_for(style, it["answer_index"], it["choices"])
        messages = _messages(options, it, clips is not None)
        messages.append({"role": "assistant", "content": reply(it["cot"], answer)})
        row: dict[str, Any] = {"messages": messages}
        if clips is not None:
            row["audios"] = [clips.ref(it)]
        row |= {
            "item_id": it["item_id"],
            "question_type": it["question_type"],
            "source_dataset": it["source_dataset"],
            "has_cot": bool(it["cot"] and it["cot"].strip()),
        }
        rows.append(row)
    return rows


def _grpo_rows(options: ExportOptions, sel: Selection, clips: _Clips | None) -> list[dict[str, Any]]:
    style = get_style(options.prompt_style)
    rows = []
    for it in sel.items:
        row: dict[str, Any] = {"messages": _messages(options, it, clips is not None)}
        if clips is not None:
            row["audios"] = [clips.ref(it)]
        row |= {
            "solution": answer_for(style, it["answer_index"], it["choices"]),
            "choices": list(it["choices"]),
            "answer_index": it["answer_index"],
            "item_id": it["item_id"],
            "question_type": it["question_type"],
            "source_dataset": it["source_dataset"],
        }
        rows.append(row)
    return rows


def _sft_selection(ws: Workspace, dataset: str, options: ExportOptions) -> Selection | None:
    """The SFT items: `--split` (weak by default); None when no split exists and none was asked for."""
    try:
        return select_items(ws, dataset, None, options.split or "weak", default="weak")
    except UserError:
        if options.split is not None:
            raise
        return None


def commands(split: str, out: str = "<export folder>", model: str = "Qwen/Qwen2-Audio-7B-Instruct") -> str:
    """The ms-swift commands for the export (in the card). `--dataset` names the Parquet file, not the
    folder: `datasets` 4.8 caches a local folder by its name and config, so a re-written or another
    folder of the same name would be read from the old cache; a file is cached by its path and time."""
    funcs = " ".join(REWARD_FUNCS)
    return (
        "# ms-swift 4.6 and adqa-data in one environment (the reward plugin imports adqa_data)\n"
        "export ROOT_IMAGE_DIR=" + out + "  # ms-swift resolves the relative audio paths against it\n"
        f"swift sft --model {model} --dataset {out}/{data_path('sft', split)} --tuner_type lora\n"
        f"swift rlhf --rlhf_type grpo --model {model} --dataset {out}/{data_path('grpo', split)} \\\n"
        f"    --external_plugins {out}/{PLUGIN_FILE} --reward_funcs {funcs} --reward_weights 1.0 0.25 \\\n"
        "    --num_generations 4 --tuner_type lora"
    )


def build(ws: Workspace, dataset: str, options: ExportOptions) -> Built:
    mode = check_audio_mode(options.audio or "path")
    rec = ws.dataset(dataset)
    clips = None if mode == "none" else _Clips(rec, mode)
    grpo_sel = select_items(ws, dataset, options.prompts, None, default="prompts")
    sft_sel = _sft_selection(ws, dataset, options)
    configs: dict[str, pa.Table] = {}
    notes: list[str] = []
    sources: list[tuple[str, str | None]] = []
    item_ids: list[str] = []
    if sft_sel is not None:
        configs["sft"] = pa.Table.from_pylist(_sft_rows(options, sft_sel, clips))
        notes += [f"sft: {n}" for n in sft_sel.notes]
        sources.append((sft_sel.stage, sft_sel.unit))
        item_ids += [it["item_id"] for it in sft_sel.items]
    else:
        notes.append(
            "sft config left out: the dataset has no weak/strong split (run 'adqa-data filter', or --split all)"
        )
    configs["grpo"] = pa.Table.from_pylist(_grpo_rows(options, grpo_sel, clips))
    notes += [f"grpo: {n}" for n in grpo_sel.notes]
    sources.append((grpo_sel.stage, grpo_sel.unit))
    item_ids += [it["item_id"] for it in grpo_sel.items]
    files = dict(clips.files) if clips is not None else {}
    if mode == "path":
        notes.append(
            f"{len(files)} clips copied into {AUDIO_DIR}/ (the rows name them relative to the folder)"
        )
    from ..integrations.swift import PLUGIN_SOURCE

    files[PLUGIN_FILE] = PLUGIN_SOURCE
    sft_what = (
        f"`sft`: the {sft_sel.label} with the chain of thought as the assistant turn; " if sft_sel else ""
    )
    return Built(
        configs=configs,
        what=f"ms-swift rows of dataset `{dataset}`, prompt style `{options.prompt_style}`: {sft_what}`grpo`: "
        f"the {grpo_sel.label} without the assistant turn, with the gold answer as `solution` and the options "
        f"for the reward plugin `{PLUGIN_FILE}` (in this folder; `--external_plugins`), which grades with "
        "adqa-data's answer parser and the rollout's reward mix. `<audio>` in the user text with an `audios` "
        f"list of strings ({AUDIO_NOTE[mode]}). Training with ms-swift 4.6:\n\n```bash\n"
        + commands(options.split_name)
        + "\n```",
        sources=sources,
        item_ids=sorted(set(item_ids)),
        notes=notes,
        usage=f'sft = load_dataset("<repo or folder>", "sft", split="{options.split_name}")  # messages, audios',
        files=files,
    )
