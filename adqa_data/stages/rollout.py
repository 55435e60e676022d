"""`adqa-data rollout`: K sampled completions per prompt, parsed, rewarded and ranked within their group.

reference/000 §2.3–2.5. For every prompt of a prompt set (`sample`), the policy samples K completions
(temperature sampling, the think-style prompt by default) through a backend (transformers, vLLM, or the
model-free `scripted` one). Each completion is parsed with the shared layered parser
(`answers.parse_answer`) and scored by the configured rewards (`rewards.REWARDS`, or plugins named
`module:function`), each kept as its own `reward_<name>` column, plus the weighted total. The anchoring
reward needs attention, which no sampler returns: a second teacher-forced transformers pass over prompt +
completion (`backends.anchoring`) runs for the *correct* completions only, since the reward is gated on
correctness, and not at all when its weight is 0. Advantages are group-relative (`advantages.py`); a
group whose rewards are all equal is flagged `zero_signal`.

Output: `rollouts/<dataset>/<name>/part-*.parquet`, one row per completion (schema `ROLLOUTS`). Shard i
holds groups [i*shard_size, (i+1)*shard_size) of the prompt set in draw order, always whole groups of K
rows, so a shard is the unit of work, of resume (a killed run redoes only unfinished shards) and of a
Ray task (`--engine ray`). Completions are reproducible and independent of batching: completion s of
item i is sampled from a generator seeded by (seed, item_id, s) — every backend derives its per-row
generators from `Sampling.seed` and `Query.key`, and the stage sets `Query.key = item_id`.
"""

from __future__ import annotations

import importlib
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..advantages import group_advantages
from ..answers import parse_answer
from ..audio import AudioError, load_audio
from ..inference.factory import default_device, default_dtype
from ..inference.types import Backend, Generation, Query, Sampling
from ..executor import Engine, map_unordered
from ..errors import UserError
from ..rewards import DEFAULT_WEIGHTS, REWARDS, AnchoringConfig, RewardFn
from ..schema import PROMPTS, ROLLOUTS
from ..workspace import StageRun, Workspace, read_table, stable_hash, tree_fingerprint

STAGE = "rollout"
BUILTIN_COLUMNS = ("correctness", "format", "anchoring")  # fixed reward_<name> columns of ROLLOUTS


# --------------------------------------------------------------------------------------------- config
class RolloutConfig(BaseModel):
    """Every rollout setting with its default and the reason for it. YAML files (`--config`) hold these
    keys; command-line options override them."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["transformers", "vllm", "scripted"] = Field(
        "transformers", description="transformers runs anywhere (CPU too); vllm is the fast path on GPUs; "
        "scripted needs no model (tests, dry runs)")
    model: str | None = Field(None, description="the policy: a local checkpoint directory or a hub id")
    family: str | None = Field(None, description="model adapter family; detected from config.json when omitted")
    device: str = Field("auto", description="auto = cuda when available, else cpu")
    dtype: str = Field("auto", description="auto = the checkpoint's dtype (float32 for the tiny models)")
    k: int = Field(4, ge=1, description="completions per prompt; reference/000 §2.3 uses K=4")
    temperature: float = Field(1.0, gt=0, description="1.0 samples the policy itself, so the stored "
                               "log-probs are the policy's and GRPO's importance ratio needs no correction")
    top_p: float = Field(1.0, gt=0, le=1, description="1.0 = no nucleus truncation, for the same reason")
    max_new_tokens: int = Field(512, ge=1, description="room for concise reasoning plus the answer block")
    seed: int = Field(0, description="completion s of item i uses a generator seeded by (seed, item_id, s)")
    prompt_style: str = Field("think", description="reference/000 §2.2: reason in <think>, one letter in <answer>")
    rewards: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS),
        description="reward name (or plugin module:function) -> weight of its column in the total")
    baseline: Literal["mean", "leave_one_out"] = Field("mean", description="GRPO mean; RLOO leave-one-out")
    scale: Literal["group", "none"] = Field("group", description="divide by the group's std (GRPO) or not")
    std: Literal["sample", "population"] = Field("sample", description="sample std = TRL's GRPOTrainer")
    eps: float = Field(1e-4, ge=0, description="added to the std: bounds advantages of near-equal groups")
    anchoring_layers: str | int | list[int] = Field(
        "deep", description="decoder layers whose attention is averaged: 'deep' = the last quarter, k = last k")
    anchoring_ar_threshold: float = Field(1.0, gt=0, description="AR: multiple of uniform attention")
    anchoring_entropy_floor: float = Field(0.5, ge=0, lt=1, description="ENT earns nothing below this")
    anchoring_batch_size: int = Field(4, ge=1, description="completions per anchoring forward")
    shard_size: int = Field(64, ge=1, description="groups per shard: the unit of resume and of a Ray task")
    backend_options: dict[str, Any] = Field(
        default_factory=dict, description="passed to the backend's constructor (batch sizes, vLLM memory); "
        "performance settings only: they are not part of the run key")

    @field_validator("rewards")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("at least one reward is needed")
        for name, w in v.items():
            if not math.isfinite(float(w)):
                raise ValueError(f"reward {name!r} has a weight that is not finite: {w}")
        if not any(float(w) != 0 for w in v.values()):
            raise ValueError("every reward weight is 0: the total would carry no signal")
        return {str(k): float(w) for k, w in v.items()}

    @field_validator("baseline", mode="before")
    @classmethod
    def _baseline_alias(cls, v: Any) -> Any:
        return v.replace("-", "_") if isinstance(v, str) else v

    def anchoring_config(self) -> AnchoringConfig:
        return AnchoringConfig(ar_threshold=self.anchoring_ar_threshold, entropy_floor=self.anchoring_entropy_floor)

    def run_config(self) -> dict[str, Any]:
        """What decides the output: everything but `backend_options`."""
        return self.model_dump(exclude={"backend_options"})


def parse_reward_weights(pairs: Sequence[str]) -> dict[str, float]:
    """`["correctness=1", "format=0.5"]` -> {"correctness": 1.0, "format": 0.5}."""
    out: dict[str, float] = {}
    for pair in pairs:
        name, sep, weight = pair.rpartition("=")
        if not sep or not name.strip():
            raise UserError(f"--reward {pair!r} is not NAME=WEIGHT",
                            fix="e.g. --reward correctness=1.0 --reward format=0.5 --reward anchoring=0.5")
        try:
            out[name.strip()] = float(weight)
        except ValueError:
            raise UserError(f"--reward {pair!r}: {weight!r} is not a number") from None
    return out


def load_config(path: str | Path | None = None, **overrides: Any) -> RolloutConfig:
    """A `RolloutConfig` from a YAML file (optional) with `overrides` (None values ignored) on top."""
    data: dict[str, Any] = {}
    if path is not None:
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except FileNotFoundError:
            raise UserError(f"no such rollout config: {p}") from None
        except yaml.YAMLError as e:
            raise UserError(f"rollout config {p} is not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise UserError(f"rollout config {p} must be a mapping of settings", fix="see pipelines/rollout.yaml")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return RolloutConfig(**data)
    except ValidationError as e:
        raise UserError(f"invalid rollout settings:\n{e}", where=str(path) if path else None,
                        fix="see 'adqa-data rollout --help' and pipelines/rollout.yaml") from None


# -------------------------------------------------------------------------------------------- rewards
@dataclass(frozen=True)
class RewardSpec:
    name: str  # as configured: a registry name or module:function
    column: str  # reward_<short name>
    fn: RewardFn
    weight: float


def resolve_rewards(weights: Mapping[str, float]) -> list[RewardSpec]:
    """The configured rewards in a fixed order (built-ins first, then plugins by name).

    A name is a key of `rewards.REWARDS` or a plugin `package.module:function` following the same calling
    convention (`fn(completions, **columns) -> list[float]`); a plugin's column is `reward_<function>`.
    """
    specs = []
    ordered = [n for n in BUILTIN_COLUMNS if n in weights] + sorted(n for n in weights if n not in BUILTIN_COLUMNS)
    for name in ordered:
        if name in REWARDS:
            fn, short = REWARDS[name], name
        elif ":" in name:
            module, _, attr = name.partition(":")
            try:
                fn = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as e:
                raise UserError(f"reward plugin {name!r} cannot be loaded: {e}",
                                fix="name an importable module:function") from None
            short = re.sub(r"\W+", "_", attr).strip("_").lower()
        else:
            raise UserError(f"unknown reward {name!r}",
                            fix=f"use one of {sorted(REWARDS)} or a plugin as package.module:function")
        specs.append(RewardSpec(name, f"reward_{short}", fn, float(weights[name])))
    columns = [s.column for s in specs]
    if len(set(columns)) != len(columns):
        raise UserError(f"two rewards write the same column: {columns}", fix="rename a plugin function")
    return specs


def score_rewards(
    specs: Sequence[RewardSpec], completions: list[str], columns: Mapping[str, list[Any]]
) -> dict[str, list[float]]:
    """Every configured reward over a batch, by column name; `columns` must hold `correct` and
    `anchor_scores` (from the parse and the anchoring pass) besides the item columns."""
    out: dict[str, list[float]] = {}
    for spec in specs:
        values = spec.fn(completions, **columns)
        if len(values) != len(completions) or any(v is None or not math.isfinite(float(v)) for v in values):
            raise UserError(f"reward {spec.name!r} did not return one finite number per completion",
                            fix="a reward function returns list[float], one per completion")
        out[spec.column] = [float(v) for v in values]
    return out


# ------------------------------------------------------------------------------------------- policies
@dataclass
class Policy:
    """A loaded sampler and, on demand, its anchoring pass; cached per process (one load per Ray worker)."""

    backend: Backend
    spec: dict[str, Any]
    anchorer: Any = None

    @property
    def sample_rate(self) -> int:
        adapter = getattr(self.backend, "adapter", None)
        return int(getattr(adapter, "sample_rate", None) or getattr(self.backend, "sample_rate", None) or 16000)

    def anchoring(self, cfg: RolloutConfig) -> Any:
        """The anchoring pass, built the first time a correct completion needs it."""
        if self.anchorer is None:
            self.anchorer = _make_anchorer(self, cfg)
        return self.anchorer

    def close(self) -> None:
        if self.anchorer is not None:
            self.anchorer.close()
        self.backend.close()


_POLICIES: dict[str, Policy] = {}


def policy_spec(cfg: RolloutConfig) -> dict[str, Any]:
    return {"backend": cfg.backend, "model": cfg.model, "family": cfg.family, "device": cfg.device,
            "dtype": cfg.dtype, "options": dict(cfg.backend_options)}


def make_backend(spec: Mapping[str, Any]) -> Backend:
    """Load the sampler a policy spec names."""
    from ..inference.factory import load_backend

    return load_backend(spec["backend"], spec["model"], family=spec["family"], device=spec["device"],
                        dtype=spec["dtype"], **dict(spec.get("options") or {}))


def _make_anchorer(policy: Policy, cfg: RolloutConfig) -> Any:
    """Reuse the transformers sampler's loaded model; load one next to a vLLM sampler (on a GPU, leave
    it room: backend_options {gpu_memory_utilization: ...})."""
    if policy.spec["backend"] == "scripted":
        from ..inference.scripted import ScriptedAnchoring

        return ScriptedAnchoring()
    from ..inference.anchoring_pass import AnchoringPass

    kwargs = {"layers": cfg.anchoring_layers, "config": cfg.anchoring_config(), "batch_size": cfg.anchoring_batch_size}
    runtime = getattr(policy.backend, "rt", None)
    if runtime is not None:
        return AnchoringPass(runtime, **kwargs)
    device = default_device(policy.spec["device"])
    try:
        return AnchoringPass.load(policy.spec["model"], policy.spec["family"], device=device,
                                  dtype=default_dtype(policy.spec["dtype"], device), **kwargs)
    except UserError as e:
        raise UserError(f"the anchoring reward needs the policy in transformers: {e.what}",
                        fix="use a family with a transformers implementation, or --reward anchoring=0") from None


def get_policy(spec: Mapping[str, Any]) -> Policy:
    key = stable_hash(dict(spec))
    if key not in _POLICIES:
        _POLICIES[key] = Policy(make_backend(spec), dict(spec))
    return _POLICIES[key]


def close_policies() -> None:
    """Release every cached model (the local engine calls this when a run ends)."""
    while _POLICIES:
        _, policy = _POLICIES.popitem()
        policy.close()


# ---------------------------------------------------------------------------------------- one shard
def _query(group: Mapping[str, Any], cfg: RolloutConfig, sample_rate: int) -> Query:
    try:
        audio = load_audio(group["audio_file"], sample_rate)
    except AudioError as e:
        raise UserError(f"item {group['item_id']}: audio cannot be read ({e.reason}: {e.detail})",
                        where=group["audio_file"], fix="rerun 'adqa-data download' to re-validate the dataset") from None
    return Query(key=group["item_id"], question=group["question"], choices=list(group["choices"]), audio=audio,
                 audio_id=group["audio_sha256"], prompt_style=cfg.prompt_style)


def _prompt_text(backend: Backend, query: Query) -> str:
    adapter = getattr(backend, "adapter", None)
    if adapter is not None:
        return adapter.build_prompt(query)
    from ..prompt_styles import get_style

    return get_style(query.prompt_style).render(query.question, query.choices)


def _check_generations(queries: list[Query], gens: list[Generation], k: int) -> None:
    if len(gens) != len(queries):
        raise RuntimeError(f"backend returned {len(gens)} generations for {len(queries)} prompts")
    for q, g in zip(queries, gens):
        if g.key != q.key or len(g.completions) != k:
            raise RuntimeError(f"backend returned {len(g.completions)} completions for {q.key} (key {g.key}), "
                               f"expected {k}: a group must be whole")


def rollout_shard(task: dict[str, Any]) -> dict[str, Any]:
    """Sample, parse, reward and rank the groups of one shard, and write it (in-process or a Ray task)."""
    cfg = RolloutConfig(**task["config"])
    policy = get_policy(task["policy"])
    groups = task["groups"]
    queries = [_query(g, cfg, policy.sample_rate) for g in groups]
    sampling = Sampling(n=cfg.k, temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens,
                        seed=cfg.seed, logprobs=True)
    gens = policy.backend.generate(queries, sampling)
    _check_generations(queries, gens, cfg.k)
    rows = _rows(task, cfg, policy, queries, gens)
    specs = resolve_rewards(cfg.rewards)
    _reward_and_rank(rows, specs, cfg, policy, queries, gens)
    table = _table(rows, specs)
    StageRun.write_shard(Path(task["out_dir"]), task["index"], table, ROLLOUTS)
    return {"index": task["index"], "groups": len(groups), "rows": len(rows)}


def _rows(task: Mapping[str, Any], cfg: RolloutConfig, policy: Policy, queries: list[Query],
          gens: list[Generation]) -> list[dict[str, Any]]:
    rows = []
    for group, query, gen in zip(task["groups"], queries, gens):
        prompt = _prompt_text(policy.backend, query)
        for s, c in enumerate(gen.completions):
            parsed = parse_answer(c.text, query.choices)
            rows.append({
                "group_id": f"{task['name']}:{group['item_id']}", "dataset": task["dataset"],
                "item_id": group["item_id"], "question_type": group["question_type"],
                "source_dataset": group["source_dataset"], "rollout_index": s, "k": cfg.k, "seed": cfg.seed,
                "policy": cfg.model or cfg.backend, "prompt_style": cfg.prompt_style, "prompt": prompt,
                "choices": query.choices, "answer_index": group["answer_index"],
                "answer_text": group["answer_text"], "audio_path": group["audio_path"],
                "audio_sha256": group["audio_sha256"], "prompt_token_ids": list(gen.prompt_token_ids),
                "completion_token_ids": list(c.token_ids), "completion_text": c.text,
                "completion_logprobs": None if c.logprobs is None else list(c.logprobs),
                "finish_reason": c.finish_reason, "completion_length": len(c.token_ids),
                "parsed_index": parsed.index, "parse_layer": parsed.layer, "parse_reason": parsed.reason,
            })
    return rows


def _reward_and_rank(rows: list[dict[str, Any]], specs: Sequence[RewardSpec], cfg: RolloutConfig, policy: Policy,
                     queries: list[Query], gens: list[Generation]) -> None:
    """Fill every reward column, the total, the advantage and the zero-signal flag, in place."""
    texts = [r["completion_text"] for r in rows]
    cols: dict[str, list[Any]] = {name: [r[key] for r in rows] for name, key in (
        ("choices", "choices"), ("answer_index", "answer_index"), ("answer_text", "answer_text"),
        ("item_id", "item_id"), ("question_type", "question_type"), ("source_dataset", "source_dataset"),
        ("prompts", "prompt"), ("completion_ids", "completion_token_ids"), ("finish_reason", "finish_reason"),
        ("completion_length", "completion_length"), ("parsed_index", "parsed_index"), ("parse_layer", "parse_layer"),
    )}
    # correctness and format are cheap and always stored; correctness also gates anchoring
    cols["correct"] = REWARDS["correctness"](texts, **cols)
    computed = [s for s in specs if not (s.name == "anchoring" and s.weight == 0)]
    anchoring_on = any(s.name == "anchoring" for s in computed)
    cols["anchor_scores"] = (_anchor_scores(cfg, policy, queries, gens, cols["correct"]) if anchoring_on
                             else [None] * len(rows))
    values: dict[str, list[Any]] = {"reward_correctness": cols["correct"]}
    values.update(score_rewards([s for s in computed if s.name != "correctness"], texts, cols))
    values.setdefault("reward_format", REWARDS["format"](texts, **cols))
    values.setdefault("reward_anchoring", [None] * len(rows))  # not configured: no pass, null column
    totals = [math.fsum(s.weight * values[s.column][i] for s in computed) for i in range(len(rows))]
    adv = group_advantages(np.asarray(totals), [r["group_id"] for r in rows], baseline=cfg.baseline,
                           scale=cfg.scale, std=cfg.std, eps=cfg.eps)
    for i, r in enumerate(rows):
        for column, v in values.items():
            r[column] = v[i]
        r["reward"] = totals[i]
        r["advantage"] = float(adv.advantages[i])
        r["zero_signal"] = bool(adv.all_equal[i])


def _anchor_scores(cfg: RolloutConfig, policy: Policy, queries: list[Query], gens: list[Generation],
                   correct: list[float]) -> list[float | None]:
    """Anchoring scores of the correct completions (the reward is gated on correctness); None elsewhere."""
    scores: list[float | None] = []
    for i, (query, gen) in enumerate(zip(queries, gens)):
        flags = correct[i * cfg.k : (i + 1) * cfg.k]
        wanted = [c.token_ids for c, ok in zip(gen.completions, flags) if ok == 1.0]
        got = iter(policy.anchoring(cfg).scores(query, gen.prompt_token_ids, wanted) if wanted else [])
        scores += [next(got) if ok == 1.0 else None for ok in flags]
    return scores


def _table(rows: list[dict[str, Any]], specs: Sequence[RewardSpec]) -> pa.Table:
    """The shard's table: the schema's columns, then one float32 column per plugin reward."""
    table = ROLLOUTS.from_pylist(rows)
    for spec in specs:
        if spec.column not in table.column_names:
            table = table.append_column(pa.field(spec.column, pa.float32()),
                                        pa.array([r[spec.column] for r in rows], pa.float32()))
    return table


# ---------------------------------------------------------------------------------------------- stage
@dataclass
class RolloutResult:
    dataset: str
    prompts: str
    name: str
    up_to_date: bool
    groups: int
    rows: int
    shards: int
    shards_written: int
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    out_dir: str = ""


def prompt_sets(ws: Workspace, dataset: str) -> list[str]:
    """Names of the finished prompt sets of a dataset."""
    root = ws.table_dir(PROMPTS.name, dataset)
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir()
                  if d.is_dir() and (ws.provenance("sample", dataset, d.name) or {}).get("status") == "complete")


def _resolve_prompts(ws: Workspace, dataset: str, prompts: str | None) -> str:
    known = prompt_sets(ws, dataset)
    if prompts is None:
        if len(known) == 1:
            return known[0]
        if not known:
            raise UserError(f"dataset {dataset!r} has no prompt set yet",
                            fix="run 'adqa-data sample' first (e.g. --split all for unfiltered data)")
        raise UserError(f"dataset {dataset!r} has several prompt sets: {', '.join(known)}",
                        fix="name one with --prompts")
    if prompts not in known:
        raise UserError(f"no finished prompt set {prompts!r} in dataset {dataset!r}",
                        fix=f"use one of: {', '.join(known)}" if known else "run 'adqa-data sample' first")
    return prompts


def plan_groups(ws: Workspace, dataset: str, prompts: str) -> list[dict[str, Any]]:
    """The prompt set in draw order, joined with the items: one JSON-able record per group."""
    order = sorted(ws.read(PROMPTS, dataset, prompts).to_pylist(), key=lambda r: r["draw"])
    cols = ["item_id", "question", "choices", "answer_index", "answer_text", "audio_path", "audio_sha256",
            "question_type", "source_dataset"]
    items = {r["item_id"]: r for r in ws.items(dataset, columns=cols).to_pylist()}
    root = ws.dataset(dataset)
    missing = [p["item_id"] for p in order if p["item_id"] not in items]
    if missing:
        raise UserError(f"prompt set {prompts!r} names {len(missing)} items not in the item table "
                        f"(e.g. {missing[0]})", fix="rerun 'adqa-data sample --force' after 'download'")
    groups = []
    for p in order:
        it = items[p["item_id"]]
        if it["answer_index"] is None:
            raise UserError(f"item {it['item_id']} has no gold answer: its rollouts cannot be rewarded",
                            fix="sample prompts from a dataset with answers")
        groups.append({**it, "audio_file": str(root.resolve(it["audio_path"]))})
    return groups


def _model_fingerprint(cfg: RolloutConfig) -> str:
    if cfg.model is None:
        return cfg.backend
    p = Path(cfg.model).expanduser()
    return f"dir:{tree_fingerprint(p)}" if p.is_dir() else f"id:{cfg.model}"


def _check_model(cfg: RolloutConfig) -> None:
    """A path that does not exist is a typo, not a hub id (hub ids are `org/name`)."""
    if cfg.backend == "scripted" or cfg.model is None:
        return
    m = cfg.model
    if not Path(m).expanduser().exists() and (m.startswith(("/", ".", "~")) or m.count("/") > 1):
        raise UserError(f"model directory {m} does not exist", fix="check --model (a local directory or a hub id)")


def default_name(prompts: str, cfg: RolloutConfig) -> str:
    tag = Path(cfg.model.rstrip("/")).name if cfg.model else cfg.backend
    return f"{prompts}-{tag}-k{cfg.k}-seed{cfg.seed}"


def rollout(
    ws: Workspace,
    config: RolloutConfig,
    dataset: str | None = None,
    prompts: str | None = None,
    name: str | None = None,
    engine: Engine = "local",
    workers: int | None = None,
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    release: bool = True,
) -> RolloutResult:
    """Roll out a prompt set into `rollouts/<dataset>/<name>/` (see the module docstring).

    `release=False` keeps the policy loaded in this process after a local run, for another rollout
    with the same policy settings (a sweep over prompt sets or shard layouts); `close_policies()`
    frees it."""
    ds = ws.dataset(dataset).name
    prompts = _resolve_prompts(ws, ds, prompts)
    if config.backend != "scripted" and not config.model:
        raise UserError(f"the {config.backend} backend needs a policy model", fix="pass --model PATH_OR_HUB_ID")
    _check_model(config)
    resolve_rewards(config.rewards)  # fail on a bad reward name before loading anything
    from ..prompt_styles import get_style

    get_style(config.prompt_style)
    groups = plan_groups(ws, ds, prompts)
    name = name or default_name(prompts, config)
    run_config = {**config.run_config(), "prompts": prompts, "name": name, "schema": ROLLOUTS.version}
    inputs = {
        "prompts": stable_hash([g["item_id"] for g in groups]),
        "items": stable_hash([[g[c] for c in ("question", "choices", "answer_index", "audio_sha256")] for g in groups]),
        "model": _model_fingerprint(config),
    }
    run = StageRun(ws, STAGE, ds, run_config, inputs, force=force, unit=name, extra_versions=("torch", "transformers", "vllm"))
    with run:
        out = ws.table_dir(ROLLOUTS.name, ds, name)
        if run.up_to_date:
            prov = ws.provenance(STAGE, ds, name) or {}
            s = prov.get("summary", {})
            return RolloutResult(ds, prompts, name, True, s.get("groups", 0), s.get("rows", 0), s.get("shards", 0), 0,
                                 s, 0.0, str(out))
        run.invalidate()
        out = run.output(ROLLOUTS.name, name)
        size = config.shard_size
        chunks = [groups[i : i + size] for i in range(0, len(groups), size)]
        todo = [{"index": i, "out_dir": str(out), "dataset": ds, "name": name, "groups": chunk,
                 "config": config.model_dump(), "policy": policy_spec(config)}
                for i, chunk in enumerate(chunks) if not StageRun.shard_done(out, i)]
        done = len(groups) - sum(len(t["groups"]) for t in todo)
        if on_progress:
            on_progress(done, len(groups))
        ray_options = {"num_gpus": 1} if engine == "ray" and default_device(config.device) == "cuda" else None
        try:
            for res in map_unordered(rollout_shard, todo, engine=engine,
                                     workers=workers if engine == "ray" else 1, ray_options=ray_options):
                done += res["groups"]
                if on_progress:
                    on_progress(done, len(groups))
        finally:
            if engine == "local" and release:
                close_policies()
        missing = [i for i in range(len(chunks)) if not StageRun.shard_done(out, i)]
        if missing:  # never record a run as complete with groups left out
            raise RuntimeError(f"rollout shards {missing[:5]} were not written; rerun to resume")
        summary = summarize(read_table(out, ROLLOUTS), config)
        if summary["rows"] != config.k * len(groups):
            raise RuntimeError(f"{summary['rows']} rows for {len(groups)} groups of {config.k}: a group is not whole")
        summary.update(shards=len(chunks), shards_written=len(todo), prompts=prompts)
        prov = run.finish(summary)
    return RolloutResult(ds, prompts, name, False, summary["groups"], summary["rows"], len(chunks), len(todo),
                         summary, prov["seconds"], str(out))


def summarize(table: pa.Table, config: RolloutConfig) -> dict[str, Any]:
    """What a researcher checks first: accuracy, format, signal, lengths, parse layers, by type."""
    t = table.select([c for c in table.column_names if c.startswith("reward") or c in (
        "group_id", "question_type", "completion_length", "finish_reason", "parse_layer", "parse_reason",
        "zero_signal")]).to_pylist()
    n = len(t)
    groups = {r["group_id"] for r in t}
    zero = {r["group_id"] for r in t if r["zero_signal"]}
    by_type: dict[str, list[float]] = {}
    for r in t:
        by_type.setdefault(r["question_type"] or "(none)", []).append(r["reward_correctness"])
    anchored = [r["reward_anchoring"] for r in t if r["reward_anchoring"] is not None and r["reward_correctness"] == 1]

    def mean(xs: Sequence[float]) -> float | None:
        return round(float(np.mean(xs)), 4) if len(xs) else None

    reward_cols = sorted(c for c in table.column_names if c.startswith("reward_"))
    return {
        "groups": len(groups), "rows": n, "k": config.k, "rewards": dict(config.rewards),
        "accuracy": mean([r["reward_correctness"] for r in t]),
        "mean_reward": mean([r["reward"] for r in t]),
        "reward_means": {c: mean([r[c] for r in t if r[c] is not None]) for c in reward_cols},
        "anchoring_mean_when_correct": mean(anchored),
        "zero_signal_groups": len(zero), "zero_signal_share": round(len(zero) / max(len(groups), 1), 4),
        "mean_completion_length": mean([r["completion_length"] for r in t]),
        "truncated_share": round(sum(r["finish_reason"] == "length" for r in t) / max(n, 1), 4),
        "parse": dict(sorted(Counter(r["parse_layer"] or r["parse_reason"] or "?" for r in t).items())),
        "accuracy_by_type": {k: mean(v) for k, v in sorted(by_type.items())},
    }


def render(res: RolloutResult) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    s = res.summary
    state = "[green]up to date[/] (--force redoes it)" if res.up_to_date else \
        f"{res.shards_written} of {res.shards} shards written, {res.seconds:.1f} s"
    console.print(f"[bold]{res.dataset} / {res.name}[/]: {res.groups} groups x {s.get('k')} = {res.rows} rows; {state}")
    console.print(f"  output: {res.out_dir}")
    t = Table(title="rollouts", title_justify="left")
    t.add_column("measure")
    t.add_column("value", justify="right")
    for key in ("accuracy", "mean_reward", "anchoring_mean_when_correct", "zero_signal_share",
                "mean_completion_length", "truncated_share"):
        t.add_row(key, str(s.get(key)))
    for col, v in (s.get("reward_means") or {}).items():
        t.add_row(f"mean {col}", str(v))
    for layer, count in (s.get("parse") or {}).items():
        t.add_row(f"parse: {layer}", str(count))
    for qt, acc in (s.get("accuracy_by_type") or {}).items():
        t.add_row(f"accuracy: {qt}", str(acc))
    console.print(t)
