"""Training settings: every hyper-parameter of `adqa-data train` with its default and the reason for it.

Defaults follow the DCASE 2026 MiMo-Audio GRPO report (lr 1e-6, cosine schedule with 5% warm-up, clip
epsilon 0.2, KL coefficient 0.01, bf16, gradient checkpointing, DeepSpeed ZeRO-3 on 8 GPUs); the preset
`reference-001` holds the DCASE 2025 MiAQA report's values (KL 0.04, 8 responses per prompt, 2,000
steps, batch 1 per device with 2 accumulation steps, a checkpoint every 100 steps). Presets are YAML
files of these keys under `pipelines/train/`; `load_config` reads one (by path or preset name) and lays
command-line options over it.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from ..core.config_files import load_yaml_model, validate_model
from ..core.errors import UserError
from ..rewards.settings import recompute_settings

LossType = Literal["grpo", "bnpo", "dr_grpo", "dapo"]
ImportanceMode = Literal["token_truncate", "token_mask", "sequence_truncate", "sequence_mask"]
LOSS_TYPES: tuple[str, ...] = typing.get_args(LossType)
IMPORTANCE_MODES: tuple[str, ...] = typing.get_args(ImportanceMode)

FIX = "see 'adqa-data train --help' and pipelines/train/reference-000.yaml"

# Settings that do not change what is learned: they stay out of the run key, so changing them resumes
# a run instead of restarting it.
NOT_IN_KEY = frozenset(
    {
        "logging_steps",
        "max_nonfinite_steps",  # a run that finishes took the same steps whatever the limit
        "completions_steps",
        "report_to",
        "project",
        "save_steps",
        "save_total_limit",
        "average_last",
        "gradient_checkpointing",
        "device",
        "codec",  # the code index it names is in the run key instead (codec_key)
    }
)


def presets_dir() -> Path:
    """`pipelines/train/` of a source checkout, or the copy shipped inside the installed package."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here.parent / "pipelines" / "train", here / "pipelines" / "train"):
        if candidate.is_dir():
            return candidate
    return here.parent / "pipelines" / "train"


# the advantage settings rollout computes with (`rewards.settings`), optional here: given, the trainer
# recomputes the stored groups' advantages with them (online: each round's rollout computes with them)
AdvantageOverrides = recompute_settings(
    "AdvantageOverrides",
    "Given, advantages are recomputed with it (online: each round's rollout computes with it); "
    "default: as the rollout computed them",
)


class TrainConfig(AdvantageOverrides):
    """Every training setting with its default and the reason for it (TRL's GRPOConfig names where one
    exists). YAML presets hold these keys; command-line options override them. The advantage settings
    (`rewards`, `baseline`, `scale`, `min_spread`) are rollout's, declared in `rewards.settings`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a setting is a finite number

    # ------------------------------------------------------------------------------------ what to train
    method: Literal["grpo", "sft"] = Field(
        "grpo",
        description="grpo: the clipped policy-gradient objective on rollout groups; sft: supervised "
        "fine-tuning on --split's gold answers (the weak-to-strong warm start)",
    )
    model: str | None = Field(
        None,
        description="checkpoint to start from (a folder or hub id; an SFT run's policy/ folder continues "
        "it); default: the policy that sampled the rollouts, so the stored log-probs are its own",
        json_schema_extra={"cli": ["--model", "-m"]},
    )
    family: str | None = Field(None, description="model adapter family; default: detected from config.json")
    device: str = Field(
        "auto",
        description="cpu | cuda | auto (cuda when available, else cpu); under accelerate launch, "
        "accelerate places the processes",
    )
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto",
        description="auto = bf16 autocast over fp32 weights on a GPU, fp32 on the CPU. Weights stay "
        "fp32: a 1e-6 step is below bf16's resolution for most weights and would round away",
    )
    attn_implementation: Literal["sdpa", "eager"] = Field(
        "sdpa",
        description="attention kernel. The group layout needs a 4-D attention mask (the prompt once, K "
        "completions after it), which sdpa and eager take; flash-attention kernels do not",
    )

    # ------------------------------------------------------------------------------------------- data
    rollouts: list[str] = Field(
        default_factory=list,
        description="grpo: rollout set to train on, repeatable (default: the dataset's only one)",
    )
    split: str = Field(
        "weak",
        description="sft: the split to fine-tune on (weak | strong | all); weak because weak-to-strong "
        "trains SFT on the weak split and GRPO on the strong one (AudioMCQ paper)",
    )
    sft_prompt_style: str = Field(
        "think",
        description="sft: the prompt style; rollout's, so GRPO starts from a policy that already writes "
        "its format",
    )
    sft_use_cot: bool = Field(
        True,
        description="sft: put the dataset's chain-of-thought (items.cot) in the think block where an item "
        "has one",
    )
    codec: str | None = Field(
        None,
        description="for a policy that reads RVQ codes (MiMo-Audio): the code index its clips come from "
        "(a codec key, or a name as encode takes it: mimo-audio, mimo:<source>); default: the policy's "
        "own codec. GRPO reads the index its rollouts were sampled from; a --codec naming another is an "
        "error",
    )
    skip_zero_signal: bool = Field(
        False,
        description="drop zero-signal groups (advantage 0: rewards all equal or spanning less than "
        "min_spread). Off by default, as TRL: their KL term still pulls toward the reference",
    )

    # ------------------------------------------------------------------------------------ optimisation
    learning_rate: float = Field(
        1e-6,
        gt=0,
        description="peak learning rate; 1e-6 as the DCASE 2026 and 2025 reports (and TRL's default)",
        json_schema_extra={"cli": ["--lr"]},
    )
    lr_scheduler: Literal["cosine", "linear", "constant"] = Field(
        "cosine", description="learning-rate schedule after the warm-up; cosine as the DCASE 2026 report"
    )
    warmup_ratio: float = Field(
        0.05,
        ge=0,
        lt=1,
        description="share of the steps spent warming the learning rate up from 0; 5% as the DCASE 2026 "
        "report",
    )
    min_lr_ratio: float = Field(
        0.0, ge=0, le=1, description="the cosine schedule's floor as a fraction of the peak; 0 as HF's"
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay; 0 as the HF trainers' default")
    adam_beta1: float = Field(0.9, ge=0, lt=1, description="AdamW beta1 (its default)")
    adam_beta2: float = Field(0.999, ge=0, lt=1, description="AdamW beta2 (its default)")
    adam_epsilon: float = Field(1e-8, gt=0, description="AdamW epsilon (its default)")
    max_grad_norm: float = Field(
        1.0, gt=0, description="clip the global gradient norm to this; 1.0 as TRL and HF"
    )
    micro_batch_groups: int = Field(1, ge=1, description="whole groups per forward pass on one process")
    gradient_accumulation_steps: int = Field(
        1,
        ge=1,
        description="micro-batches per optimizer step; groups per step = micro_batch_groups x this "
        "x processes (TRL's default is 1; the DCASE 2025 preset uses 2)",
        json_schema_extra={"cli": ["--grad-accum"]},
    )
    max_steps: int | None = Field(
        None, ge=1, description="optimizer steps (default: --epochs passes over the groups)"
    )
    num_epochs: float = Field(
        1.0,
        gt=0,
        description="passes over the groups when --max-steps is not given",
        json_schema_extra={"cli": ["--epochs"]},
    )
    num_iterations: int = Field(
        1,
        ge=1,
        description="optimizer steps on each batch (GRPO's mu); the ratio moves off 1 from the second",
    )
    gradient_checkpointing: bool | None = Field(
        None,
        description="recompute activations in backward; default: on for a GPU (memory limits a 7B model "
        "there, TRL's default), off on the CPU (it only costs time)",
    )

    # --------------------------------------------------------------------------------------- objective
    loss_type: LossType = Field(
        "grpo",
        description="how token losses are averaged: grpo = eq. 2 of the DCASE 2025 report (per-sequence "
        "mean); dapo is TRL's default",
    )
    beta: float = Field(
        0.01,
        ge=0,
        description="KL coefficient to the reference; 0.01 as the DCASE 2026 report (0 needs no reference "
        "model)",
    )
    epsilon: float = Field(
        0.2, gt=0, lt=1, description="lower clip of the ratio; 0.2 as the DCASE 2026 report (and PPO)"
    )
    epsilon_high: float | None = Field(
        None, gt=0, description="upper clip of the ratio (default: --epsilon; DAPO's clip-higher uses 0.28)"
    )
    kl_bias_correction: bool = Field(
        True, description="multiply the k3 KL by the ratio; on as TRL 1.16's default"
    )
    old_logp: Literal["sampler", "recompute"] = Field(
        "sampler",
        description="the ratio's denominator: the log-probs stored by the sampler (the true off-policy "
        "ratio, no extra forward; the default) or recomputed by the pre-update policy (what TRL does)",
    )
    importance_sampling: Literal["none", ImportanceMode] = Field(
        "none",
        description="with --old-logp recompute: weight each token by the trainer/sampler ratio, bounded "
        "(TRL's vLLM correction; TRL's default mode is sequence_mask)",
    )
    importance_cap: float = Field(
        3.0, gt=0, description="upper bound of the importance weight; 3 as TRL's default"
    )
    max_completion_length: int | None = Field(
        None,
        ge=1,
        description="dr_grpo's constant denominator (default: the rollout's max_new_tokens)",
    )
    temperature: float | None = Field(
        None,
        gt=0,
        description="the temperature log-probs are computed at (default: the rollout's, from its "
        "provenance; it must not differ from what sampled the tokens)",
    )

    # ------------------------------------------------------------------------------------------- model
    lora: bool = Field(
        False,
        description="train LoRA adapters on the text decoder instead of all its weights (off: full "
        "fine-tuning of the decoder); the reference is then the base with the adapter disabled (no "
        "second copy)",
    )
    lora_r: int = Field(16, ge=1, description="LoRA adapter rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA scale numerator (alpha / r = 2)")
    lora_dropout: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="LoRA dropout; 0 keeps log-probs deterministic, so the first ratio is exactly 1",
    )
    train_audio: bool = Field(
        False,
        description="also train the audio encoder and its projector; frozen by default, as in the DCASE "
        "reports",
        json_schema_extra={"cli": ["--train-audio/--freeze-audio"]},
    )

    # ---------------------------------------------------------------------------------------- the run
    seed: int = Field(0, description="seed of the data order and of any sampling in the loop")
    save_steps: int = Field(
        100, ge=1, description="a checkpoint every N optimizer steps; 100 as the DCASE 2025 report"
    )
    save_total_limit: int | None = Field(
        None,
        ge=1,
        description="keep only the newest N checkpoints (default: all, to pick or average later)",
    )
    max_nonfinite_steps: int = Field(
        3,
        ge=1,
        description="a step with a non-finite loss or gradient is skipped (no update) and counted; this "
        "many in a row stop the run with an error (a diverged run; never writes non-finite weights)",
    )
    logging_steps: int = Field(1, ge=1, description="a metrics line every N steps")
    completions_steps: int = Field(10, ge=1, description="a completions table (Parquet) every N steps")
    report_to: Literal["none", "trackio", "wandb"] = Field("none", description="also log to a tracker")
    project: str = Field("adqa-data", description="the tracker's project name")
    average_last: int = Field(
        0,
        ge=0,
        description="average the last N checkpoints' weights into policy-avg/ at the end, also on a "
        "finished run (the DCASE 2025 system submitted averaged weights); 0 = off",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.importance_sampling != "none" and self.old_logp != "recompute":
            raise ValueError(
                "importance_sampling corrects the trainer/sampler mismatch of recomputed old log-probs: set "
                "old_logp: recompute (with old_logp: sampler the ratio already divides by the sampler)"
            )
        return self

    # ------------------------------------------------------------------------------------------ helpers
    def groups_per_step(self, processes: int = 1) -> int:
        return self.micro_batch_groups * self.gradient_accumulation_steps * processes

    def run_config(self) -> dict[str, Any]:
        """What decides the trained weights: everything but logging, checkpoint cadence and placement."""
        return self.model_dump(exclude=set(NOT_IN_KEY))


def resolve_preset(path_or_name: str | Path) -> Path:
    """A YAML path as given, or a preset name (`reference-001`) from `pipelines/train/`."""
    p = Path(path_or_name)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    preset = presets_dir() / f"{path_or_name}.yaml"
    if not preset.is_file():
        known = sorted(x.stem for x in presets_dir().glob("*.yaml"))
        raise UserError(
            f"no train config or preset {str(path_or_name)!r}",
            fix=f"give a YAML path or one of the presets: {', '.join(known) or '(none found)'}",
        )
    return preset


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """A `TrainConfig` from a YAML file or preset name (optional) with `overrides` (None values ignored)
    on top."""
    if path is not None:
        return load_yaml_model(
            resolve_preset(path), TrainConfig, "train config", fix=FIX, overrides=overrides
        )
    data = {k: v for k, v in overrides.items() if v is not None}
    return validate_model(TrainConfig, data, "invalid train settings", fix=FIX)
