"""`--format verl`: prompt rows for verl's RL dataset (`verl.utils.dataset.rl_dataset.RLHFDataset`, verl 0.9).

One row per item, the columns verl reads:

    data_source   the workspace dataset name (verl's reward manager passes it to the reward function)
    prompt        chat messages; the user text starts with `<audio>`, which RLHFDataset replaces by the
                  row's next entry of `audios` ({"type": "audio", "audio": ...}) for the processor
    ability       "audio_mcq"
    reward_model  {"style": "rule", "ground_truth": the option letter, or the option text for a style
                  that shows no letters (see adqa_data.export.source)}
    extra_info    {split, index, item_id, choices, answer_index, answer_text, question_type, source_dataset,
                  reward_weights: [{name, weight}]}: what `adqa_data.integrations.verl.compute_score`
                  grades with (the rollout's reward mix; `--reward NAME=WEIGHT` sets it)
    audios        one entry per `<audio>`: {"audio": waveform, "sampling_rate": rate} with `--audio embed`
                  (the default), {"audio": absolute path} with `--audio path`

verl 0.9 takes the `audio` value of each entry as it is and passes the list to the processor
(`processor(audio=...)`, sampling rate from the processor's feature extractor) and to vLLM
(`multi_modal_data["audio"]`); neither resamples. So embedded clips are decoded to mono float32 at
`--sample-rate`, which must be the processor's rate (16 kHz for Qwen2-Audio, Qwen2.5-Omni, Kimi-Audio and
other Whisper-based encoders). Point `data.train_files` at the exported Parquet file; `audio_key` is
verl's default (`audios`).

`--audio path` rows need `adqa_data.integrations.verl.AudioRLHFDataset` (`data.custom_cls`), which loads
each file at the processor's rate: verl's own RLHFDataset hands the path string to the processor, fails
in its length filter and drops every such row. The card says so, and `pipelines/verl/` has the recipe.
"""

from __future__ import annotations

import pyarrow as pa

from ..core.errors import UserError
from ..core.workspace import Workspace
from ..mcq.prompt_styles import get_style
from .base import Built, ExportOptions
from .card import data_path
from .source import (
    AUDIO_PLACEHOLDER,
    answer_for,
    audio_path,
    chat_texts,
    check_audio_mode,
    letters_shown,
    one_per_row,
    select_items,
    waveform_structs,
)

ABILITY = "audio_mcq"


def reward_weights(options: ExportOptions) -> list[dict[str, float | str]]:
    """The reward mix for `compute_score`, as `[{name, weight}]` (plugin names are no column names)."""
    from ..integrations.grading import text_weights

    try:
        weights = text_weights(options.rewards)
    except ValueError as e:
        raise UserError(f"--reward: {e}", fix="e.g. --reward correctness=1.0 --reward format=0.25") from None
    return [{"name": k, "weight": v} for k, v in weights.items()]


def check(options: ExportOptions) -> None:
    check_audio_mode(options.audio or "embed")
    reward_weights(options)


def build(ws: Workspace, dataset: str, options: ExportOptions) -> Built:
    mode = check_audio_mode(options.audio or "embed")
    weights = reward_weights(options)
    rec = ws.dataset(dataset)
    sel = select_items(ws, dataset, options.prompts, options.split, default="prompts")
    style = get_style(options.prompt_style)
    rows = []
    for index, it in enumerate(sel.items):
        system, user = chat_texts(options.prompt_style, it)
        prompt = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": (AUDIO_PLACEHOLDER if mode != "none" else "") + user}
        ]
        row = {
            "data_source": dataset,
            "prompt": prompt,
            "ability": ABILITY,
            "reward_model": {
                "style": "rule",
                "ground_truth": answer_for(style, it["answer_index"], it["choices"]),
            },
            "extra_info": {
                "split": options.split_name,
                "index": index,
                "item_id": it["item_id"],
                "choices": list(it["choices"]),
                "answer_index": it["answer_index"],
                "answer_text": it["answer_text"],
                "question_type": it["question_type"],
                "source_dataset": it["source_dataset"],
                "reward_weights": weights,
            },
        }
        if mode == "path":
            row["audios"] = [{"audio": audio_path(rec, it)}]
        rows.append(row)
    table = pa.Table.from_pylist(rows)
    if mode == "embed":
        table = table.append_column(
            "audios", one_per_row(waveform_structs(rec, sel.items, options.sample_rate, "audio"))
        )
    truth = "the option letter" if letters_shown(style) else "the option text"
    return Built(
        configs={"default": table},
        what=f"Prompt rows for verl's RL dataset (RLHFDataset, verl 0.9): the {sel.label} of dataset `{dataset}`, "
        f"prompt style `{options.prompt_style}`. `reward_model.ground_truth` is {truth}; `extra_info.choices` "
        "holds the options so a rule reward can map either to the option. "
        + {
            "embed": f"`audios` holds each clip decoded to mono float32 at {options.sample_rate} Hz, which verl "
            "passes unchanged to the processor and to vLLM.",
            "path": "`audios` holds each clip's absolute file path: train with "
            "`adqa_data.integrations.verl.AudioRLHFDataset` as `data.custom_cls`, which loads the files (verl's "
            "own RLHFDataset drops every row whose audio is a path).",
            "none": "No audio: text-only rows.",
        }[mode],
        sources=[(sel.stage, sel.unit)],
        item_ids=[it["item_id"] for it in sel.items],
        notes=[
            *sel.notes,
            f"ground_truth = {truth}",
            f"audio = {mode}",
            "reward mix for compute_score: " + ", ".join(f"{w['name']} {w['weight']:g}" for w in weights),
        ],
        usage=(
            f"# verl: data.train_files=<folder>/{data_path('default', options.split_name)} (audio_key: audios)\n"
            "# reward.custom_reward_function: path=pkg://adqa_data.integrations.verl, name=compute_score\n"
            "# data.custom_cls: path=pkg://adqa_data.integrations.verl, name=AudioRLHFDataset\n"
            f'ds = load_dataset("<repo or folder>", split="{options.split_name}")'
        ),
    )
