"""What a training run trains on, read from the workspace: rollout groups (GRPO, through the rollout
set's contract) or one-completion groups of a split's gold answers (SFT), and for a policy that reads
RVQ codes (MiMo-Audio) every group's cached codes.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...core.errors import UserError
from ...core.workspace import Workspace
from ...train.config import TrainConfig
from ...train.groups import Completion, Group, SamplingInfo, sft_target
from ..rollout.contract import load_rollout_groups
from ..splits import gold_items


def load_sft_groups(
    ws: Workspace, dataset: str, split: str = "weak", *, prompt_style: str = "think", use_cot: bool = True
) -> list[Group]:
    """One single-completion group per item of `split` (weak | strong | all) with a gold answer: the
    prompt rollout would build, and the gold reply as the target (advantage 1)."""
    cols = ["item_id", "question", "choices", "answer_index", "audio_path", "audio_sha256", "cot"]
    items = gold_items(ws, dataset, split, cols, instead="fine-tune on every item with --split all")
    if not items:
        raise UserError(f"split {split!r} of dataset {dataset!r} has no item with a gold answer")
    root = ws.dataset(dataset)
    return [
        Group(
            group_id=f"sft:{r['item_id']}",
            item_id=r["item_id"],
            question=r["question"],
            choices=list(r["choices"]),
            prompt_style=prompt_style,
            audio_root=str(root.root),
            audio_path=r["audio_path"],
            audio_sha256=r["audio_sha256"],
            completions=[
                Completion(
                    text=sft_target(
                        prompt_style, r["choices"], r["answer_index"], r["cot"] if use_cot else None
                    ),
                    advantage=1.0,
                    reward=1.0,
                )
            ],
        )
        for r in items
    ]


def load_groups_for(
    ws: Workspace, dataset: str, cfg: TrainConfig, names: Sequence[str]
) -> tuple[list[Group], SamplingInfo]:
    """The groups a `TrainConfig` asks for: rollout groups (grpo) or gold-answer groups (sft).

    For a policy that reads RVQ codes (MiMo-Audio) every group carries its item's cached codes, read
    through the code index (`codecs.consumers`): SFT from the index `cfg.codec` names (default: the
    policy's own codec; a dataset not encoded with it is an error naming the encode command), GRPO from
    the index its rollouts were sampled from (a `cfg.codec` naming another is an error)."""
    from ...codecs.consumers import ItemCodes, policy_codes, select_codec_key

    if cfg.method == "sft":
        groups = load_sft_groups(
            ws, dataset, cfg.split, prompt_style=cfg.sft_prompt_style, use_cot=cfg.sft_use_cot
        )
        ids = [g.item_id for g in groups]
        codes = policy_codes(ws, dataset, "transformers", cfg.model, cfg.family, cfg.codec, ids)
        key = None if codes is None else codes["codec_key"]
        if key is not None:
            for g, c in zip(groups, ItemCodes(ws, dataset, key).load(ids)):
                g.codes = c
        return groups, SamplingInfo(temperature=1.0, backend="sft", codec_key=key)
    groups, info = load_rollout_groups(
        ws,
        dataset,
        names,
        rewards=cfg.rewards,
        baseline=cfg.baseline,
        scale=cfg.scale,
        min_spread=cfg.min_spread,
        skip_zero_signal=cfg.skip_zero_signal,
    )
    if cfg.codec is not None:
        if info.codec_key is None:
            raise UserError(
                f"--codec {cfg.codec} was given, but these rollouts were sampled from audio, not codes",
                fix="leave --codec out (the trainer reads what the sampler read)",
            )
        key = select_codec_key(ws, dataset, cfg.codec)
        if key != info.codec_key:
            raise UserError(
                f"--codec {cfg.codec} names the code index {key}, but the rollouts were sampled from "
                f"{info.codec_key}: the trainer scores the completions on the codes the sampler read",
                fix=f"leave --codec out, or pass --codec {info.codec_key}",
            )
    return groups, info
