"""verl (0.9): the reward function and the dataset class that `export --format verl` rows need.

Recipe: `pipelines/verl/audiomcq_grpo.yaml` (the config overrides to copy). Two hooks, both named by
verl's own config keys:

- `compute_score` for `reward.custom_reward_function` (`path: pkg://adqa_data.integrations.verl`,
  `name: compute_score`). verl's default reward routing knows no `data_source` of ours and raises
  NotImplementedError. This grades `solution_str` with our answer parser and the rollout's reward mix
  (`integrations.grading`): the same `reward_correctness`, `reward_format` and total as `adqa-data
  rollout` for the same completion. It reads the options and the gold answer from `extra_info`
  (`choices`, `answer_index`, which the export writes) and the mix from `reward_kwargs.weights` or
  `extra_info.reward_weights` (default: correctness 1.0, format 0.25). It returns a dict: `score` (the
  total) plus each component and `acc`, which verl logs as reward metrics.
- `AudioRLHFDataset` for `data.custom_cls` (`path: pkg://adqa_data.integrations.verl`, `name:
  AudioRLHFDataset`), a subclass of verl's `RLHFDataset`. verl's trainer builds its processor with
  `verl.utils.tokenizer.hf_processor`, which returns None for `Qwen2AudioProcessor` (it only lists
  vision processors), and `RLHFDataset` then asserts "processor is needed to process multimodal data".
  This class builds the model's audio processor itself (`data.processor_path`, else the tokenizer's
  path) when none is given, and loads `--audio path` rows (`{"audio": "/abs/file.wav"}`) from their files
  at the processor's sampling rate — stock `RLHFDataset` passes the path string to the processor, fails
  in its length filter and drops every such row without a word. Embedded clips (`--audio embed`) must
  already be at the processor's rate: a clip at another rate is an error here, not a silently wrong
  spectrogram.

verl is imported only when `AudioRLHFDataset` is first looked up (module `__getattr__`; the class lives
in `verl_dataset`, which imports verl), so this module, and `compute_score`, import without verl.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..mcq.answers import LETTERS
from .grading import grade

__all__ = ["audio_processor", "compute_score", "load_audio_entry"]  # and AudioRLHFDataset (__getattr__)

# extra_info keys (written by `export --format verl`) that reach plugin rewards as batch columns
PASSED_COLUMNS = ("item_id", "question_type", "source_dataset", "answer_text")


def _gold_index(ground_truth: Any, choices: list[str], extra_info: Mapping[str, Any]) -> int:
    """The gold option: `extra_info.answer_index`, checked against `ground_truth` (a letter or the option
    text, as the export writes it), else read from `ground_truth` alone."""
    index = extra_info.get("answer_index")
    truth = str(ground_truth).strip() if ground_truth is not None else ""
    from_truth = None
    if len(truth) == 1 and truth.upper() in LETTERS[: len(choices)]:
        from_truth = LETTERS.index(truth.upper())
    elif truth in choices:
        from_truth = choices.index(truth)
    if index is None:
        if from_truth is None:
            raise ValueError(f"ground_truth {truth!r} is neither an option letter nor an option's text")
        return from_truth
    if from_truth is not None and from_truth != int(index):
        raise ValueError(f"ground_truth {truth!r} disagrees with extra_info.answer_index {index}")
    return int(index)


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    weights: Mapping[str, float] | None = None,
    **_kw: Any,
) -> dict[str, float]:
    """verl's reward function signature; see the module docstring. `weights` comes from verl's
    `reward_kwargs`; `_kw` takes what verl's reward managers add (reward-model routing, num_turns)."""
    info = dict(extra_info or {})
    choices = info.get("choices")
    if not choices:
        raise ValueError(
            f"extra_info of a {data_source!r} row has no 'choices': write the rows with "
            "'adqa-data export --format verl', which puts the options there"
        )
    choices = [str(c) for c in choices]
    gold = _gold_index(ground_truth, choices, info)
    columns = {k: [info.get(k)] for k in PASSED_COLUMNS}
    values = grade(
        [solution_str],
        choices=[choices],
        answer_index=[gold],
        weights=weights if weights is not None else info.get("reward_weights"),
        **columns,
    )
    out = {"score": float(values["reward"][0])}
    out.update({k.removeprefix("reward_"): float(v[0]) for k, v in values.items() if k != "reward"})
    out["acc"] = out["correctness"]
    return out


# ------------------------------------------------------------------------------------ the dataset hook
def audio_processor(name_or_path: str, **kwargs: Any) -> Any:
    """The model's processor through `AutoProcessor`, refused unless it has an audio feature extractor."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(name_or_path, **kwargs)
    if getattr(processor, "feature_extractor", None) is None:
        raise ValueError(
            f"{name_or_path} has no audio processor ({type(processor).__name__}); set data.processor_path "
            "to the audio-language model's folder"
        )
    return processor


def load_audio_entry(entry: Any, sample_rate: int) -> Any:
    """One `audios` entry as the processor takes it: a file path loaded (mono, resampled to
    `sample_rate`, float32); an embedded waveform checked to be at `sample_rate`."""
    from ..audio.clips import load_audio

    if isinstance(entry, Mapping):
        audio = entry.get("audio")
        if isinstance(audio, str):
            return {
                "audio": np.asarray(load_audio(audio, sample_rate), np.float32),
                "sampling_rate": sample_rate,
            }
        rate = entry.get("sampling_rate")
        if rate is not None and int(rate) != sample_rate:
            raise ValueError(
                f"an embedded clip is at {rate} Hz but the processor reads {sample_rate} Hz: export with "
                f"--sample-rate {sample_rate}"
            )
        return entry
    if isinstance(entry, str):
        return {"audio": np.asarray(load_audio(entry, sample_rate), np.float32), "sampling_rate": sample_rate}
    return entry


def __getattr__(name: str) -> Any:
    if name == "AudioRLHFDataset":  # imports verl: only when verl's config names the class
        from .verl_dataset import AudioRLHFDataset

        return AudioRLHFDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
