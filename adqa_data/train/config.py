"""Training settings: every hyper-parameter of `adqa-data train` with its default and the reason for it.

Defaults follow the DCASE 2026 MiMo-Audio GRPO report (lr 1e-6, cosine schedule with 5% warm-up, clip
epsilon 0.2, KL coefficient 0.01, bf16, gradient checkpointing, DeepSpeed ZeRO-3 on 8 GPUs); the preset
`reference-001` holds the DCASE 2025 MiAQA report's values (KL 0.04, 8 responses per prompt, 2,000
steps, batch 1 per device with 2 accumulation steps, a checkpoint every 100 steps). Presets are YAML
files of these keys under `pipelines/train/`; `load_config` reads one (by path or preset name) and lays
command-line options over it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..core.config_files import load_yaml_model, validate_model
from ..core.errors import UserError
from ..mcq.advantages import Baseline, Scale
from ..rewards.plugins import check_weights
from .loss import IMPORTANCE_MODES, LOSS_TYPES

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


class TrainConfig(BaseModel):
    """Every training setting with its default and the reason for it (TRL's GRPOConfig names where one
    exists). YAML presets hold these keys; command-line options override them."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a setting is a finite number

    # ------------------------------------------------------------------------------------ what to train
    method: Literal["grpo", "sft"] = Field(
        "grpo",
        description="grpo: the clipped policy-gradient objective on rollout groups; sft: supervised "
        "fine-tuning on a split's gold answers (the weak-to-strong warm start)",
    )
    model: str | None = Field(
        None,
        description="the policy to start from (a checkpoint directory or hub id); default: the policy "
        "that sampled the rollouts, so the stored log-probs are its own",
    )
    family: str | None = Field(
        None, description="model adapter family; detected from config.json when omitted"
    )
    device: str = Field(
        "auto", description="auto = cuda when available, else cpu (accelerate places processes)"
    )
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto",
        description="auto = bf16 autocast over fp32 weights on a GPU, fp32 on the CPU. Weights stay "
        "fp32: a 1e-6 step is below bf16's resolution for most weights and would round away",
    )
    attn_implementation: Literal["sdpa", "eager"] = Field(
        "sdpa",
        description="the group layout needs a 4-D attention mask (the prompt once, K completions "
        "after it), which sdpa and eager take; flash-attention kernels do not",
    )

    # ------------------------------------------------------------------------------------------- data
    rollouts: list[str] = Field(
        default_factory=list, description="grpo: rollout sets to train on (default: the dataset's only one)"
    )
    split: str = Field(
        "weak",
        description="sft: the split to fine-tune on; weak-to-strong trains SFT on the weak "
        "split and GRPO on the strong one (AudioMCQ paper)",
    )
    sft_prompt_style: str = Field(
        "think",
        description="sft: the prompt style, the one rollout uses, so GRPO "
        "starts from a policy that already writes its format",
    )
    sft_use_cot: bool = Field(
        True,
        description="sft: put the dataset's chain-of-thought (items.cot) in the "
        "think block where an item has one",
    )
    codec: str | None = Field(
        None,
        description="for a policy that reads RVQ codes (MiMo-Audio): the code index its clips come from "
        "(a codec key, or a name as encode takes it: mimo-audio, mimo:<source>); default: the policy's "
        "own codec. GRPO reads the index its rollouts were sampled from; a --codec naming another is an "
        "error",
    )
    rewards: dict[str, float] | None = Field(
        None,
        description="re-weight the stored reward columns (NAME -> weight, as rollout's --reward) and "
        "recompute group advantages; None trains on the advantages the shards hold. Online: the weights "
        "each round's rollout computes with",
    )
    baseline: Baseline | None = Field(
        None,
        description="advantage baseline; given, advantages are recomputed (online: the rollouts compute "
        "with it); None = as the rollout computed them",
    )
    scale: Scale | None = Field(
        None,
        description="advantage divisor (batch | group | none, rollout's --scale; the batch is one rollout "
        "shard); given, advantages are recomputed; None = as rollout",
    )
    min_spread: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="groups whose total rewards span less than this get advantage 0 (rollout's "
        "--min-spread); given, advantages are recomputed; None = as rollout",
    )
    skip_zero_signal: bool = Field(
        False,
        description="drop zero-signal groups (advantage 0: rewards all equal or spanning less than "
        "min_spread). Off: TRL keeps them and "
        "their KL term still pulls toward the reference",
    )

    # ------------------------------------------------------------------------------------ optimisation
    learning_rate: float = Field(1e-6, gt=0, description="DCASE 2026 and 2025 reports (and TRL's default)")
    lr_scheduler: Literal["cosine", "linear", "constant"] = Field("cosine", description="DCASE 2026 report")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="5% linear warm-up (DCASE 2026 report)")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="cosine floor as a fraction of the peak (HF: 0)")
    weight_decay: float = Field(0.0, ge=0, description="AdamW decay; 0 as the HF trainers default")
    adam_beta1: float = Field(0.9, ge=0, lt=1, description="AdamW default")
    adam_beta2: float = Field(0.999, ge=0, lt=1, description="AdamW default")
    adam_epsilon: float = Field(1e-8, gt=0, description="AdamW default")
    max_grad_norm: float = Field(1.0, gt=0, description="clip the global gradient norm (TRL and HF default)")
    micro_batch_groups: int = Field(1, ge=1, description="whole groups per forward pass on one process")
    gradient_accumulation_steps: int = Field(
        1,
        ge=1,
        description="micro-batches per optimizer step; groups per step = micro_batch_groups x this "
        "x processes (TRL's default is 1; the DCASE 2025 preset uses 2)",
    )
    max_steps: int | None = Field(
        None, ge=1, description="optimizer steps; None = num_epochs passes over the data"
    )
    num_epochs: float = Field(1.0, gt=0, description="passes over the groups when max_steps is None")
    num_iterations: int = Field(
        1,
        ge=1,
        description="optimizer steps on each batch (GRPO's mu); the ratio moves off 1 from the second",
    )
    gradient_checkpointing: bool | None = Field(
        None,
        description="recompute activations in backward: None = on for a GPU (memory limits a 7B model "
        "there, TRL's default), off on the CPU (it only costs time)",
    )

    # --------------------------------------------------------------------------------------- objective
    loss_type: Literal["grpo", "bnpo", "dr_grpo", "dapo"] = Field(
        "grpo", description="grpo = eq. 2 of the DCASE 2025 report (per-sequence mean); dapo is TRL's default"
    )
    beta: float = Field(
        0.01,
        ge=0,
        description="KL coefficient to the reference (DCASE 2026 report; 0 needs no reference model)",
    )
    epsilon: float = Field(0.2, gt=0, lt=1, description="lower clip of the ratio (DCASE 2026 report, PPO)")
    epsilon_high: float | None = Field(None, gt=0, description="upper clip; None = epsilon (DAPO uses 0.28)")
    kl_bias_correction: bool = Field(True, description="multiply the k3 KL by the ratio (TRL 1.16's default)")
    old_logp: Literal["sampler", "recompute"] = Field(
        "sampler",
        description="the ratio's denominator: the log-probs stored by the sampler (true off-policy "
        "ratio, no extra forward) or recomputed by the pre-update policy (what TRL does)",
    )
    importance_sampling: Literal[
        "none", "token_truncate", "token_mask", "sequence_truncate", "sequence_mask"
    ] = Field(
        "none",
        description="with old_logp=recompute: weight each token by the trainer/sampler ratio, bounded "
        "(TRL's vLLM correction; TRL's default mode is sequence_mask)",
    )
    importance_cap: float = Field(
        3.0, gt=0, description="upper bound of the importance weight (TRL's default)"
    )
    max_completion_length: int | None = Field(
        None, ge=1, description="dr_grpo's constant denominator; None = the rollout's max_new_tokens"
    )
    temperature: float | None = Field(
        None,
        gt=0,
        description="log-probs are computed at the sampler's temperature; None = read it from the "
        "rollout's provenance (it must not differ from what sampled the tokens)",
    )

    # ------------------------------------------------------------------------------------------- model
    lora: bool = Field(
        False,
        description="train LoRA adapters on the text decoder instead of all its weights; "
        "the reference is then the base with the adapter disabled (no second copy)",
    )
    lora_r: int = Field(16, ge=1, description="adapter rank")
    lora_alpha: int = Field(32, ge=1, description="adapter scale numerator (alpha / r = 2)")
    lora_dropout: float = Field(
        0.0, ge=0, lt=1, description="0 keeps log-probs deterministic, so the first ratio is exactly 1"
    )
    train_audio: bool = Field(
        False,
        description="also train the audio encoder and its projector; frozen by "
        "default, as in the DCASE reports",
    )

    # ---------------------------------------------------------------------------------------- the run
    seed: int = Field(0, description="data order and any sampling in the loop")
    save_steps: int = Field(100, ge=1, description="a checkpoint every N optimizer steps (DCASE 2025 report)")
    save_total_limit: int | None = Field(
        None, ge=1, description="keep only the newest N checkpoints; None keeps all (pick or average later)"
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
    project: str = Field("adqa-data", description="tracker project name")
    average_last: int = Field(
        0,
        ge=0,
        description="average the last N checkpoints' weights into policy-avg/ at "
        "the end (the DCASE 2025 system submitted averaged weights); 0 = off",
    )

    @field_validator("rewards")
    @classmethod
    def _weights(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        return None if v is None else check_weights(v)

    @field_validator("baseline", mode="before")
    @classmethod
    def _baseline_alias(cls, v: Any) -> Any:
        return v.replace("-", "_") if isinstance(v, str) else v

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.importance_sampling != "none" and self.old_logp != "recompute":
            raise ValueError(
                "importance_sampling corrects the trainer/sampler mismatch of recomputed old log-probs: set "
                "old_logp: recompute (with old_logp: sampler the ratio already divides by the sampler)"
            )
        assert self.loss_type in LOSS_TYPES and self.importance_sampling in ("none", *IMPORTANCE_MODES)
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
