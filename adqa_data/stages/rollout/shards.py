"""One rollout shard: sample K completions per prompt, parse them, reward them, rank them in their group.

A shard is a plain dict (`rollout_shard(task)`), so it runs in-process or as a Ray task and its rows
depend only on the task: completion s of item i comes from a generator seeded by (seed, item_id, s),
whatever shard or batch it is in. The anchoring reward needs attention, which no sampler returns: a
second teacher-forced pass (`Policy.anchoring`) runs for the correct completions only, since the reward
is gated on correctness, and not at all when its weight is 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ...audio.clips import AudioError, read_failure, read_item_audio
from ...codecs.consumers import ItemCodes
from ...core.schema import ROLLOUTS
from ...core.workspace import StageRun, Workspace
from ...inference.types import Generation, Query, Sampling
from ...mcq.advantages import group_advantages
from ...mcq.answers import parse_answer
from ...rewards import REWARDS
from ...rewards.plugins import RewardSpec, resolve_rewards, score_rewards
from .config import RolloutConfig
from .policy import Policies, Policy


def _query(group: Mapping[str, Any], cfg: RolloutConfig, sample_rate: int) -> Query:
    try:  # checked before the run (row_checks); a file changed since then stops it here
        audio = read_item_audio(group["root"], group["audio_path"], group["audio_sha256"], sample_rate)
    except AudioError as e:
        raise read_failure(
            e, f"item {group['item_id']}", str(Path(group["root"]) / group["audio_path"])
        ) from None
    return _group_query(group, cfg, audio=audio)


def _group_query(
    group: Mapping[str, Any], cfg: RolloutConfig, *, audio: Any = None, codes: Any = None
) -> Query:
    """A group's one query, with its clip as audio or as cached codes (the other None)."""
    return Query(
        key=group["item_id"],
        question=group["question"],
        choices=list(group["choices"]),
        audio=audio,
        audio_id=group["audio_sha256"],
        prompt_style=cfg.prompt_style,
        codes=codes,
    )


def _code_queries(task: Mapping[str, Any], cfg: RolloutConfig) -> list[Query]:
    """The shard's queries with the clips' cached codes (a codes-reading policy): no audio is opened."""
    c = task["codes"]
    groups = task["groups"]
    arrays = ItemCodes(Workspace(c["workspace"]), c["dataset"], c["codec_key"]).load(
        [g["item_id"] for g in groups]
    )
    return [_group_query(g, cfg, codes=a) for g, a in zip(groups, arrays)]


def _check_generations(queries: list[Query], gens: list[Generation], k: int) -> None:
    if len(gens) != len(queries):
        raise RuntimeError(f"backend returned {len(gens)} generations for {len(queries)} prompts")
    for q, g in zip(queries, gens):
        if g.key != q.key or len(g.completions) != k:
            raise RuntimeError(
                f"backend returned {len(g.completions)} completions for {q.key} (key {g.key}), "
                f"expected {k}: a group must be whole"
            )


def shard_with(policies: Policies, task: dict[str, Any]) -> dict[str, Any]:
    """`rollout_shard` with the policy the task names, loaded (once) into the worker's `policies`."""
    return rollout_shard(task, policies.get(task["policy"]))


def rollout_shard(task: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """Sample, parse, reward and rank the groups of one shard with `policy`, and write it (in-process or
    in a Ray actor that holds the policy)."""
    cfg = RolloutConfig(**task["config"])
    groups = task["groups"]
    if task.get("codes"):
        queries = _code_queries(task, cfg)
    else:
        queries = [_query(g, cfg, policy.backend.sample_rate) for g in groups]
    sampling = Sampling.of(cfg, n=cfg.k, temperature=cfg.temperature, logprobs=True)
    gens = policy.backend.generate(queries, sampling)
    _check_generations(queries, gens, cfg.k)
    rows = _rows(task, cfg, policy, queries, gens)
    specs = resolve_rewards(cfg.rewards)
    _reward_and_rank(rows, specs, cfg, policy, queries, gens)
    table = _table(rows, specs)
    StageRun.write_shard(Path(task["out_dir"]), task["index"], table, ROLLOUTS)
    return {"index": task["index"], "groups": len(groups), "rows": len(rows)}


def _rows(
    task: Mapping[str, Any], cfg: RolloutConfig, policy: Policy, queries: list[Query], gens: list[Generation]
) -> list[dict[str, Any]]:
    rows = []
    for group, query, gen in zip(task["groups"], queries, gens):
        prompt = policy.backend.prompt_text(query)
        for s, c in enumerate(gen.completions):
            parsed = parse_answer(c.text, query.choices)
            rows.append(
                {
                    "group_id": f"{task['name']}:{group['item_id']}",
                    "dataset": task["dataset"],
                    "item_id": group["item_id"],
                    "question_type": group["question_type"],
                    "source_dataset": group["source_dataset"],
                    "rollout_index": s,
                    "k": cfg.k,
                    "seed": cfg.seed,
                    "policy": cfg.model or cfg.backend,
                    "prompt_style": cfg.prompt_style,
                    "prompt": prompt,
                    "choices": query.choices,
                    "answer_index": group["answer_index"],
                    "answer_text": group["answer_text"],
                    "audio_path": group["audio_path"],
                    "audio_sha256": group["audio_sha256"],
                    "prompt_token_ids": list(gen.prompt_token_ids),
                    "completion_token_ids": list(c.token_ids),
                    "completion_text": c.text,
                    "completion_logprobs": None if c.logprobs is None else list(c.logprobs),
                    "finish_reason": c.finish_reason,
                    "completion_length": len(c.token_ids),
                    "parsed_index": parsed.index,
                    "parse_layer": parsed.layer,
                    "parse_reason": parsed.reason,
                }
            )
    return rows


def _reward_and_rank(
    rows: list[dict[str, Any]],
    specs: Sequence[RewardSpec],
    cfg: RolloutConfig,
    policy: Policy,
    queries: list[Query],
    gens: list[Generation],
) -> None:
    """Fill every reward column, the total, the advantage and the zero-signal flag, in place."""
    texts = [r["completion_text"] for r in rows]
    cols: dict[str, list[Any]] = {
        name: [r[key] for r in rows]
        for name, key in (
            ("choices", "choices"),
            ("answer_index", "answer_index"),
            ("answer_text", "answer_text"),
            ("item_id", "item_id"),
            ("question_type", "question_type"),
            ("source_dataset", "source_dataset"),
            ("prompts", "prompt"),
            ("completion_ids", "completion_token_ids"),
            ("finish_reason", "finish_reason"),
            ("completion_length", "completion_length"),
            ("parsed_index", "parsed_index"),
            ("parse_layer", "parse_layer"),
        )
    }
    # correctness and format are cheap and always stored; correctness also gates anchoring
    cols["correct"] = REWARDS["correctness"](texts, **cols)
    computed = [s for s in specs if not (s.name == "anchoring" and s.weight == 0)]
    anchoring_on = any(s.name == "anchoring" for s in computed)
    anchored = _anchoring(cfg, policy, queries, gens, cols["correct"]) if anchoring_on else [None] * len(rows)
    cols["anchor_scores"] = [None if d is None else d["score"] for d in anchored]
    values: dict[str, list[Any]] = {"reward_correctness": cols["correct"]}
    values.update(score_rewards([s for s in computed if s.name != "correctness"], texts, cols))
    values.setdefault("reward_format", REWARDS["format"](texts, **cols))
    values.setdefault("reward_anchoring", [None] * len(rows))  # not configured: no pass, null column
    totals = [math.fsum(s.weight * values[s.column][i] for s in computed) for i in range(len(rows))]
    adv = group_advantages(  # the shard's rows are the batch of scale="batch"
        np.asarray(totals),
        [r["group_id"] for r in rows],
        baseline=cfg.baseline,
        scale=cfg.scale,
        min_spread=cfg.min_spread,
        std=cfg.std,
        eps=cfg.eps,
    )
    for i, r in enumerate(rows):
        for column, v in values.items():
            r[column] = v[i]
        r["reward"] = totals[i]
        r["advantage"] = float(adv.advantages[i])
        r["zero_signal"] = bool(adv.all_equal[i])
        # where along the clip the reasoning looked, kept for the report: null where no pass ran
        profile = None if anchored[i] is None else anchored[i].get("profile")
        r["anchoring_profile"] = None if profile is None else [float(x) for x in profile]


def _anchoring(
    cfg: RolloutConfig, policy: Policy, queries: list[Query], gens: list[Generation], correct: list[float]
) -> list[dict[str, Any] | None]:
    """The anchoring pass's components (score, profile) for the correct completions (the reward is gated
    on correctness); None elsewhere."""
    out: list[dict[str, Any] | None] = []
    for i, (query, gen) in enumerate(zip(queries, gens)):
        flags = correct[i * cfg.k : (i + 1) * cfg.k]
        wanted = [c.token_ids for c, ok in zip(gen.completions, flags) if ok == 1.0]
        got = iter(policy.anchoring(cfg).components(query, gen.prompt_token_ids, wanted) if wanted else [])
        out += [next(got) if ok == 1.0 else None for ok in flags]
    return out


def _table(rows: list[dict[str, Any]], specs: Sequence[RewardSpec]) -> pa.Table:
    """The shard's table: the schema's columns, then one float32 column per plugin reward."""
    table = ROLLOUTS.from_pylist(rows)
    for spec in specs:
        if spec.column not in table.column_names:
            table = table.append_column(
                pa.field(spec.column, pa.float32()), pa.array([r[spec.column] for r in rows], pa.float32())
            )
    return table
