"""The one reader of a rollout set: its groups, the settings it was sampled with, its shards, its checks.

A rollout set is `rollouts/<dataset>/<name>/part-*.parquet` (schema `ROLLOUTS`, whole groups of K rows
per shard) and its provenance record `provenance/rollout/<dataset>.<name>.json`. Every reader — train
(offline and online), stats, export — opens it here, so what a set means is decided once:

- **Settings.** `RolloutSet.config` is the `RolloutConfig` the set was made with: the record's values,
  and for a setting the record lacks, the value rollout used before it existed
  (`config.RECORDED_BEFORE`) or else the config's own default. `SamplingInfo` (what the trainer needs:
  temperature, top-p, max_new_tokens, policy, advantage settings, code index) is derived from it.
- **Shards.** The rows are read through the table reader, which refuses a shard that is not what the
  run recorded (edited, truncated, copied in). Shard i is the batch of scale="batch" advantages, so
  every group knows its shard (`Group.batch`), from the recorded row counts.
- **Groups.** Rows become `train.groups.Group`s (a prompt and its K completions in rollout order); with
  other reward weights or advantage settings the advantages are recomputed as rollout computes them
  (`train.reweight`), per set, the settings not given being that set's own.
- **Checks.** `check_groups` runs rollout's own item checks (`row_checks.check_items`: a clip swapped for
  a link out of the dataset root or changed since download, too many options) on every group's item; a
  refused item's groups are dropped whole and returned as quarantine rows with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ...core.errors import UserError
from ...core.schema import ROLLOUTS
from ...core.shard_records import read_manifest
from ...core.tables import read_table, shard_paths
from ...core.workspace import Workspace
from ...mcq.advantages import Baseline, Scale
from ...train.groups import Completion, Group, SamplingInfo
from ...train.reweight import reweight
from .config import RECORDED_BEFORE, RolloutConfig

STAGE = "rollout"
# what decides the stored log-probs: one training run takes its rollout sets from one sampler
SAME_SAMPLER = ("temperature", "top_p", "policy", "backend", "codec_key")
ADVANTAGE_SETTINGS = ("baseline", "scale", "min_spread", "std", "eps")


def recorded_config(config: Mapping[str, Any]) -> RolloutConfig:
    """The `RolloutConfig` a record's config describes (module docstring: settings it lacks)."""
    known = {k: v for k, v in config.items() if k in RolloutConfig.model_fields}
    return RolloutConfig.model_construct(**{**RECORDED_BEFORE, **known})


@dataclass(frozen=True)
class RolloutSet:
    """One complete rollout set: where it is, the settings it was made with, its run key."""

    dataset: str
    name: str
    directory: Path
    config: RolloutConfig
    key: str
    codec_key: str | None  # the code index a codes-reading policy (MiMo-Audio) sampled from

    def table(self, columns: list[str] | None = None) -> pa.Table:
        """The set's rows, shard after shard (every shard checked against the run's record)."""
        return read_table(self.directory, ROLLOUTS, columns)

    def shard_rows(self) -> list[int]:
        """Rows per shard, in shard order (from the run's record; the Parquet footers for a set written
        before records existed)."""
        parts = shard_paths(self.directory)
        recorded = read_manifest(self.directory)
        if recorded is not None and all(p.name in recorded for p in parts):
            return [int(recorded[p.name]["rows"]) for p in parts]
        return [pq.read_metadata(p).num_rows for p in parts]

    def sampling(self) -> SamplingInfo:
        """How the set's completions were sampled, as the trainer needs it."""
        c = self.config
        return SamplingInfo(
            temperature=float(c.temperature),
            top_p=float(c.top_p),
            max_new_tokens=c.max_new_tokens,
            policy=c.model,
            family=c.family,
            backend=str(c.backend),
            k=c.k,
            advantage={k: getattr(c, k) for k in ADVANTAGE_SETTINGS},
            codec_key=self.codec_key,
        )


def finished_sets(ws: Workspace, dataset: str) -> list[str]:
    """Names of the complete rollout sets of a dataset."""
    return ws.finished_sets(STAGE, ROLLOUTS.name, dataset)


def pick_set(ws: Workspace, dataset: str, name: str | None, option: str = "--rollouts") -> str:
    """`name` when it is a complete rollout set, else the dataset's only one (one clear error otherwise)."""
    return ws.pick_set(STAGE, ROLLOUTS.name, dataset, name, "rollout set", option, "'adqa-data rollout'")


def open_set(ws: Workspace, dataset: str, name: str) -> RolloutSet:
    """The complete rollout set `name`; an error naming the complete ones when it is not one."""
    prov = ws.provenance(STAGE, dataset, name)
    if not prov or prov.get("status") != "complete":
        known = finished_sets(ws, dataset)
        raise UserError(
            f"no complete rollout set {name!r} in dataset {dataset!r}",
            fix=f"use one of: {', '.join(known)}" if known else "run 'adqa-data rollout' first",
        )
    config = prov.get("config", {})
    return RolloutSet(
        dataset=dataset,
        name=name,
        directory=ws.table_dir(ROLLOUTS.name, dataset, name),
        config=recorded_config(config),
        key=str(prov.get("key", "?")),
        codec_key=config.get("codec_key"),
    )


def sampling_info(sets: Sequence[RolloutSet]) -> SamplingInfo:
    """The sampling settings of rollout sets trained on together, which must agree on what decides the
    log-probs (`SAME_SAMPLER`); max_new_tokens is the largest."""
    infos = [s.sampling() for s in sets]
    first = infos[0]
    for s, info in zip(sets[1:], infos[1:]):
        for what in SAME_SAMPLER:
            if getattr(info, what) != getattr(first, what):
                raise UserError(
                    f"rollout sets {sets[0].name!r} and {s.name!r} were sampled with another {what} "
                    f"({getattr(first, what)} vs {getattr(info, what)}): one run trains on one sampler",
                    fix="train on them separately",
                )
    max_new = max((i.max_new_tokens or 0) for i in infos) or None
    return SamplingInfo(
        first.temperature,
        first.top_p,
        max_new,
        first.policy,
        first.family,
        first.backend,
        first.k,
        first.advantage,
        first.codec_key,
    )


def load_rollout_groups(
    ws: Workspace,
    dataset: str,
    names: Sequence[str],
    *,
    rewards: Mapping[str, float] | None = None,
    baseline: Baseline | None = None,
    scale: Scale | None = None,
    min_spread: float | None = None,
    skip_zero_signal: bool = False,
) -> tuple[list[Group], SamplingInfo]:
    """Every group of the named rollout sets (in shard order) and how they were sampled.

    `rewards` re-weights the stored reward columns; with it or any advantage setting given, advantages
    are recomputed (`train.reweight`), per rollout set, the settings not given being that set's own (so
    the rollout's own weights and settings reproduce its stored advantages). The scripted backend's
    token ids are bytes, not a model's: its groups carry no token ids (their text is tokenized by the
    trained model) and no log-probs. A codes-reading policy's groups carry their items' cached codes."""
    sets = [open_set(ws, dataset, n) for n in names]
    info = sampling_info(sets)
    questions = {
        r["item_id"]: r["question"] for r in ws.items(dataset, columns=["item_id", "question"]).to_pylist()
    }
    root = str(ws.dataset(dataset).root)
    groups: list[Group] = []
    recompute = any(v is not None for v in (rewards, baseline, scale, min_spread))
    for s in sets:
        found = _set_groups(s, questions, root, scripted=info.backend == "scripted")
        if recompute:
            own = s.config
            reweight(
                found,
                rewards,
                baseline=baseline or own.baseline,
                scale=scale or own.scale,
                min_spread=own.min_spread if min_spread is None else min_spread,
                std=own.std,
                eps=float(own.eps),
            )
        groups.extend(found)
    if info.codec_key:  # the policy read codes, not audio: the trainer reads the same codes
        from ...codecs.consumers import ItemCodes

        for g, codes in zip(groups, ItemCodes(ws, dataset, info.codec_key).load([g.item_id for g in groups])):
            g.codes = codes
    if skip_zero_signal:
        groups = [g for g in groups if not g.zero_signal]
    if not groups:
        raise UserError(
            f"no groups to train on in rollout sets {', '.join(names)}",
            fix="roll out more prompts" + (", or keep zero-signal groups" if skip_zero_signal else ""),
        )
    return groups, info


def _set_groups(s: RolloutSet, questions: Mapping[str, str], root: str, scripted: bool) -> list[Group]:
    """One set's rows as groups, completions in rollout order, each group tagged with its shard."""
    table = s.table()
    reward_cols = [c for c in table.column_names if c.startswith("reward_")]
    shard_of_row = np.repeat(np.arange(len(rows := s.shard_rows())), rows)
    by_group: dict[str, Group] = {}
    for row, r in enumerate(table.to_pylist()):
        g = by_group.get(r["group_id"])
        if g is None:
            if r["item_id"] not in questions:
                raise UserError(
                    f"rollout set {s.name!r} names item {r['item_id']} that is not in the item table",
                    fix="rerun 'adqa-data rollout --force' after 'download'",
                )
            g = by_group[r["group_id"]] = Group(
                group_id=r["group_id"],
                item_id=r["item_id"],
                question=questions[r["item_id"]],
                choices=list(r["choices"]),
                prompt_style=r["prompt_style"],
                completions=[],
                audio_root=root if r["audio_path"] else None,
                audio_path=r["audio_path"] or None,
                audio_sha256=r["audio_sha256"],
                prompt_token_ids=None
                if scripted or r["prompt_token_ids"] is None
                else list(r["prompt_token_ids"]),
                zero_signal=bool(r["zero_signal"]),
                prompt=r["prompt"],
                batch=f"{s.name}/{shard_of_row[row]}",
            )
        g.completions.append(
            Completion(
                text=r["completion_text"],
                token_ids=None if scripted else list(r["completion_token_ids"]),
                logprobs=None
                if scripted or r["completion_logprobs"] is None
                else list(r["completion_logprobs"]),
                advantage=float(r["advantage"]),
                reward=float(r["reward"]),
                rewards={c: r[c] for c in reward_cols},
                index=int(r["rollout_index"]),
            )
        )
    for g in by_group.values():
        g.completions.sort(key=lambda c: c.index)
    return list(by_group.values())


def check_groups(
    ws: Workspace, dataset: str, groups: Sequence[Group], *, audio: bool = True
) -> tuple[list[Group], list[dict[str, Any]]]:
    """The groups a model stage can read, and quarantine rows (schema `QUARANTINE`, less dataset and
    stage) for the items of the others: rollout's item checks (`row_checks.check_items`) on every group
    whose clip is an item's file. A refused item drops every group it is in, whole. `audio=False` skips
    the file checks: a policy that reads cached codes never opens audio."""
    from ..row_checks import DEFAULT_MAX_PROMPT_TOKENS, check_items

    items = {
        g.item_id: {
            "item_id": g.item_id,
            "question": g.question,
            "choices": g.choices,
            "audio_path": g.audio_path,
            "audio_sha256": g.audio_sha256,
        }
        for g in groups
        if g.audio is None and g.audio_path is not None
    }
    # the option count and the clip; prompt length is not checked here (rollout capped what it sampled)
    refused = check_items(
        ws.dataset(dataset).root, list(items.values()), [], DEFAULT_MAX_PROMPT_TOKENS, audio=audio
    )
    if not refused:
        return list(groups), []
    return [g for g in groups if g.item_id not in refused], quarantine_rows(ws, dataset, refused)


def quarantine_rows(
    ws: Workspace, dataset: str, refused: Mapping[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    """Quarantine rows (less dataset and stage) for refused items: item id -> (reason, detail)."""
    cols = ws.items(dataset, columns=["item_id", "row_index"]).to_pydict()
    row_index = dict(zip(cols["item_id"], cols["row_index"]))
    return [
        {"row_index": row_index.get(i), "item_id": i, "reason": r, "detail": d, "raw": None}
        for i, (r, d) in sorted(refused.items())
    ]
