"""What an export reads from the workspace: items chosen by a prompt set or a split, rollout sets, audio.

Shared by every format so that "which items", "what the answer is" and "how the audio travels" are
decided once:

- **Which items.** `--prompts NAME` (a prompt set, in draw order), or `--split weak|strong|all` (the
  filter stage's split, or every item with a gold answer, in item-id order). Items without a gold answer
  (evaluation sets) cannot be rewarded or imitated and are left out, counted in the notes.
- **The answer** a trainer checks (verl `ground_truth`, TRL `answer`, the SFT reply) is what the prompt
  asks for: the option letter when the prompt style shows lettered options (`think`, `letters`), the
  option text when it shows a bare list (`audiomcq`). `choices` always travels along, so a reward
  function can map either one to the option.
- **Audio** is `embed` (the decoded waveform, mono float32 at `--sample-rate`, which verl hands
  unchanged to the processor and to vLLM), `path` (the absolute path of the file: small exports for
  loaders that read files themselves) or `none`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from ..core.errors import UserError
from ..core.schema import ITEM_SCORES, PROMPTS
from ..core.workspace import DatasetRecord, Workspace
from ..mcq.answers import LETTERS
from ..mcq.prompt_styles import PromptStyle, get_style

AudioMode = Literal["embed", "path", "none"]
AUDIO_MODES = ("embed", "path", "none")
AUDIO_PLACEHOLDER = "<audio>"  # verl's RLHFDataset splits user text on it; ms-swift / LLaMA-Factory SFT too


@dataclass
class Selection:
    """Items chosen for an export, and where they came from (the provenance chain starts there)."""

    items: list[dict[str, Any]]
    stage: str  # download | filter | sample
    unit: str | None  # the prompt set name for `sample`
    label: str  # e.g. "prompt set strong-3200-seed0", "weak split"
    left_out_unanswered: int = 0
    notes: list[str] = field(default_factory=list)


def pick_prompts(ws: Workspace, dataset: str, name: str | None, option: str = "--prompts") -> str:
    """`name`, or the only complete prompt set of the dataset (`Workspace.pick_set`)."""
    return ws.pick_set("sample", PROMPTS.name, dataset, name, "prompt set", option, "'adqa-data sample'")


def _items_by_id(ws: Workspace, dataset: str) -> dict[str, dict[str, Any]]:
    return {r["item_id"]: r for r in ws.items(dataset).to_pylist()}


def select_items(
    ws: Workspace, dataset: str, prompts: str | None, split: str | None, default: str
) -> Selection:
    """Items by prompt set or split (module docstring); `default` ('prompts' or a split) when neither is named."""
    if prompts is None and split is None:
        if default == "prompts":
            prompts = pick_prompts(ws, dataset, None, "--prompts (or choose --split)")
        else:
            split = default
    by_id = _items_by_id(ws, dataset)
    if prompts is not None:
        name = pick_prompts(ws, dataset, prompts)
        rows = sorted(
            ws.read(PROMPTS, dataset, name, columns=["item_id", "draw"]).to_pylist(), key=lambda r: r["draw"]
        )
        chosen, stage, unit, label = [by_id[r["item_id"]] for r in rows], "sample", name, f"prompt set {name}"
    elif split == "all":
        chosen, stage, unit, label = [by_id[i] for i in sorted(by_id)], "download", None, "every item"
    elif split in ("weak", "strong"):
        scores = ws.read(ITEM_SCORES, dataset, columns=["item_id", "split"])
        if scores.num_rows == 0:
            raise UserError(
                f"dataset {dataset!r} has no weak/strong split yet",
                fix="run 'adqa-data filter' first, or export every item with --split all",
            )
        ids = sorted(r["item_id"] for r in scores.to_pylist() if r["split"] == split)
        chosen, stage, unit, label = [by_id[i] for i in ids], "filter", None, f"{split} split"
    else:
        raise UserError(f"unknown split {split!r}", fix="use weak, strong or all")
    answered = [it for it in chosen if it["answer_index"] is not None]
    sel = Selection(answered, stage, unit, label, left_out_unanswered=len(chosen) - len(answered))
    if sel.left_out_unanswered:
        sel.notes.append(f"{sel.left_out_unanswered} items without a gold answer were left out.")
    if not answered:
        raise UserError(f"the {label} of dataset {dataset!r} has no item with a gold answer to export")
    return sel


def rollout_sets(ws: Workspace, dataset: str) -> list[str]:
    """The dataset's complete rollout sets (the rollout set's contract decides what is complete)."""
    from ..stages.rollout import contract

    return contract.finished_sets(ws, dataset)


def read_rollouts(ws: Workspace, dataset: str, name: str | None) -> tuple[str, pa.Table]:
    """A rollout set's name and rows (`name`, or the dataset's only one), read through its contract."""
    from ..stages.rollout import contract

    name = contract.pick_set(ws, dataset, name)
    table = contract.open_set(ws, dataset, name).table()
    if table.num_rows == 0:  # every prompt quarantined: no group to export (and none for the card's stats)
        raise UserError(
            f"rollout set {name!r} of dataset {dataset!r} has no rows: nothing to export",
            fix="check its quarantine table, or name another set with --rollouts",
        )
    return name, table


# ------------------------------------------------------------------------------------------- prompts
def letters_shown(style: PromptStyle) -> bool:
    """Whether the style shows options as lettered lines (then the answer is a letter)."""
    return "{options}" in style.user or "{letters}" in style.user


def answer_for(style: PromptStyle, answer_index: int, choices: list[str]) -> str:
    """What the prompt asks the model to put in its answer (module docstring)."""
    return LETTERS[answer_index] if letters_shown(style) else choices[answer_index]


def chat_texts(style_name: str, item: dict[str, Any]) -> tuple[str | None, str]:
    """(system prompt or None, user text) for an item under a prompt style."""
    style = get_style(style_name)
    return style.system, style.render(item["question"], list(item["choices"]))


# --------------------------------------------------------------------------------------------- audio
def check_audio_mode(mode: str) -> AudioMode:
    if mode not in AUDIO_MODES:
        raise UserError(f"unknown --audio {mode!r}", fix=f"use one of: {', '.join(AUDIO_MODES)}")
    return mode  # type: ignore[return-value]


def audio_path(rec: DatasetRecord, item: dict[str, Any]) -> str:
    return str(rec.resolve(item["audio_path"]))


def audio_waveform(rec: DatasetRecord, item: dict[str, Any], sample_rate: int) -> np.ndarray:
    """The item's clip decoded, mono, resampled to `sample_rate`, float32."""
    from ..audio.clips import AudioError, load_audio

    path = Path(audio_path(rec, item))
    try:
        return np.asarray(load_audio(path, sample_rate), dtype=np.float32)
    except (AudioError, OSError) as e:
        raise UserError(
            f"cannot read the audio of item {item['item_id']}: {e}",
            where=str(path),
            fix="rerun 'adqa-data download' (the file changed or moved), or use --audio path",
        ) from None


def waveform_structs(
    rec: DatasetRecord, items: list[dict[str, Any]], sample_rate: int, key: str
) -> pa.StructArray:
    """`{key: list<float32>, sampling_rate: int32}` per item, built from the decoded arrays directly (no
    Python float per sample: an export of thousands of clips stays within a few times its float32 size)."""
    waves = [audio_waveform(rec, it, sample_rate) for it in items]
    offsets = np.zeros(len(waves) + 1, dtype=np.int64)
    np.cumsum([len(w) for w in waves], out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise UserError(
            f"{offsets[-1]} audio samples are too many for one export file",
            fix="export fewer items at a time (--prompts / --split), or use --audio path",
        )
    values = pa.array(np.concatenate(waves) if waves else np.zeros(0, np.float32), pa.float32())
    lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
    rates = pa.array([sample_rate] * len(waves), pa.int32())
    return pa.StructArray.from_arrays([lists, rates], names=[key, "sampling_rate"])


def one_per_row(values: pa.Array) -> pa.ListArray:
    """Each value wrapped in a one-element list (one clip per row, in a column that holds a list of clips)."""
    return pa.ListArray.from_arrays(pa.array(np.arange(len(values) + 1), pa.int32()), values)
