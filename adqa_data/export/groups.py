"""`--format groups`: one row per rollout group, the layout offline GRPO trainers read (NeMo-RL style).

A rollout set stores one row per completion, whole groups of K; here each group becomes one row:

    group_id, item_id, question_type, source_dataset, choices, answer_index, audio_path
    prompt              the templated prompt text the policy saw
    responses           the K completion texts, in rollout order
    rewards             the K weighted total rewards (what the advantages were computed from)
    advantages          the K group-relative advantages
    reward_<name>       the K values of each reward component
    prompt_token_ids    the prompt's token ids (audio placeholders expanded)
    response_token_ids  the K completions' token ids
    response_logprobs   the K completions' per-token log-probabilities under the sampling policy
    zero_signal         advantage 0: the K rewards are equal, or span less than the rollout's min_spread

Lists are in rollout order (`rollout_index`), so index j of every list is the same completion.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from ..core.workspace import Workspace
from .base import Built, ExportOptions
from .source import read_rollouts

KEEP = (
    "item_id",
    "question_type",
    "source_dataset",
    "choices",
    "answer_index",
    "audio_path",
    "prompt",
    "prompt_token_ids",
    "zero_signal",
)
LISTS = {
    "responses": "completion_text",
    "rewards": "reward",
    "advantages": "advantage",
    "response_token_ids": "completion_token_ids",
    "response_logprobs": "completion_logprobs",
}


def group_rows(table: pa.Table) -> pa.Table:
    """Completion rows -> one row per group, lists in rollout order, groups in first-seen order."""
    df = pl.from_arrow(table).with_row_index("_row")
    reward_cols = [c for c in table.column_names if c.startswith("reward_")]
    grouped = (
        df.sort("_row")
        .group_by("group_id", maintain_order=True)
        .agg(
            *(pl.col(c).first() for c in KEEP),
            *(pl.col(src).sort_by("rollout_index").alias(dst) for dst, src in LISTS.items()),
            *(pl.col(c).sort_by("rollout_index") for c in reward_cols),
        )
    )
    return grouped.to_arrow()  # type: ignore[union-attr]


def build(ws: Workspace, dataset: str, options: ExportOptions) -> Built:
    name, table = read_rollouts(ws, dataset, options.rollouts)
    groups = group_rows(table)
    zero = sum(groups.column("zero_signal").to_pylist())
    return Built(
        configs={"default": groups},
        what=f"Rollout set `{name}` of dataset `{dataset}` as one row per group of K completions (`prompt`, "
        "`responses`, `rewards`, `advantages`, per-component reward lists, token ids and sampler log-probs), the "
        "layout offline GRPO trainers such as NeMo-RL read.",
        sources=[("rollout", name)],
        item_ids=sorted(set(groups.column("item_id").to_pylist())),
        notes=[f"{groups.num_rows} groups, {zero} with zero signal (rewards equal or within min_spread)"],
        usage=f'groups = load_dataset("<repo or folder>", split="{options.split_name}")',
    )
