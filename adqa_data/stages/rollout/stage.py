"""The rollout stage over `StageRun`: resolve the prompt set, plan whole-group shards, run them, summarize.

Output: `rollouts/<dataset>/<name>/part-*.parquet`, one row per completion (schema `ROLLOUTS`). Shard i
holds groups [i*shard_size, (i+1)*shard_size) of the prompt set in draw order, always whole groups of K
rows, so a shard is the unit of work, of resume (a killed run redoes only unfinished shards) and of a
Ray task (`--engine ray`). The run key covers the settings (not `backend_options`), the prompt set, the
items' question/choices/answer/audio and the policy's fingerprint.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...codecs.consumers import ItemCodes, select_codec_key
from ...core.engine import Engine, map_with_state
from ...core.errors import UserError
from ...core.fingerprints import model_fingerprint, rows_fingerprint, stable_hash
from ...core.names import bounded_name, name_part, safe_name
from ...core.quarantine import write_quarantine
from ...core.results import SetResult
from ...core.schema import PROMPTS, ROLLOUTS
from ...core.workspace import StageRun, Workspace, read_table
from ...inference.factory import GENERATION_LIBRARIES, backend_input, default_device
from ...inference.trust import allow_remote_code, check_model_ref, family_needs_remote_code
from ...rewards.plugins import resolve_rewards
from ..row_checks import PromptCheck, byte_count, check_items, token_counter
from .config import RolloutConfig
from .contract import quarantine_rows
from .policy import Policies, Policy, policy_spec
from .shards import rollout_shard, shard_with
from .summary import summarize

STAGE = "rollout"


# ---------------------------------------------------------------------------------------------- stage
@dataclass(kw_only=True)
class RolloutResult(SetResult):
    prompts: str
    groups: int = 0


def prompt_sets(ws: Workspace, dataset: str) -> list[str]:
    """Names of the finished prompt sets of a dataset."""
    return ws.finished_sets("sample", PROMPTS.name, dataset)


def resolve_prompts(ws: Workspace, dataset: str, prompts: str | None) -> str:
    """`prompts` when it is a finished prompt set, else the dataset's only one (rollout, online training)."""
    return ws.pick_set(
        "sample",
        PROMPTS.name,
        dataset,
        prompts,
        "prompt set",
        "--prompts",
        "'adqa-data sample' (e.g. --split all for unfiltered data)",
    )


def plan_groups(ws: Workspace, dataset: str, prompts: str) -> list[dict[str, Any]]:
    """The prompt set in draw order, joined with the items: one JSON-able record per group."""
    order = sorted(ws.read(PROMPTS, dataset, prompts).to_pylist(), key=lambda r: r["draw"])
    cols = [
        "item_id",
        "question",
        "choices",
        "answer_index",
        "answer_text",
        "audio_path",
        "audio_sha256",
        "question_type",
        "source_dataset",
    ]
    items = {r["item_id"]: r for r in ws.items(dataset, columns=cols).to_pylist()}
    root = ws.dataset(dataset)
    missing = [p["item_id"] for p in order if p["item_id"] not in items]
    if missing:
        raise UserError(
            f"prompt set {prompts!r} names {len(missing)} items not in the item table (e.g. {missing[0]})",
            fix="rerun 'adqa-data sample --force' after 'download'",
        )
    groups = []
    for p in order:
        it = items[p["item_id"]]
        if it["answer_index"] is None:
            raise UserError(
                f"item {it['item_id']} has no gold answer: its rollouts cannot be rewarded",
                fix="sample prompts from a dataset with answers",
            )
        groups.append({**it, "root": root.root})
    return groups


def _check_model(cfg: RolloutConfig) -> RolloutConfig:
    """The policy reference checked before anything loads (a folder that is not there, a hub id the
    offline cache lacks), and `trust_remote_code` in force only where needed, allowed and pinned."""
    if cfg.backend == "scripted" or cfg.model is None:
        return cfg
    check_model_ref(cfg.model, cfg.revision, "--model")
    if cfg.revision is not None and cfg.backend != "vllm":
        raise UserError(
            "--revision is read by the vllm backend only",
            fix="for the transformers backend, download that commit and pass its folder as --model",
        )
    needed = cfg.trust_remote_code or family_needs_remote_code(cfg.family, cfg.backend)
    remote = allow_remote_code(cfg.model, cfg.revision, needed, cfg.trust_remote_code, "the policy")
    return cfg.model_copy(update={"trust_remote_code": remote})


def policy_codes(
    ws: Workspace, dataset: str, cfg: RolloutConfig, groups: list[dict[str, Any]]
) -> dict[str, str] | None:
    """For a policy that reads RVQ codes (MiMo-Audio): the code index its shards read instead of audio
    (`--codec`, default the policy's codec), checked to hold every item; None for an audio policy."""
    consumes, codec = backend_input(cfg.backend, cfg.model, cfg.family)
    if consumes != "codes":
        if cfg.codec is not None:
            raise UserError(
                f"--codec {cfg.codec} was given, but this policy reads audio, not codes",
                fix="leave --codec out (it selects the codes a MiMo-Audio policy reads)",
            )
        return None
    key = select_codec_key(ws, dataset, cfg.codec or str(codec))
    ItemCodes(ws, dataset, key).check([g["item_id"] for g in groups])
    return {"workspace": str(ws.root), "dataset": dataset, "codec_key": key}


def default_name(prompts: str, cfg: RolloutConfig) -> str:
    """`<prompts>-<model>-k<K>-seed<seed>-<settings hash>`: runs with other settings (temperature,
    rewards, prompt style, ...) get other names, so one never replaces another by default."""
    tag = name_part(Path(cfg.model.rstrip("/")).name if cfg.model else cfg.backend)
    return bounded_name(f"{prompts}-{tag}", f"-k{cfg.k}-seed{cfg.seed}-{stable_hash(cfg.run_config(), n=6)}")


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
    draws: Sequence[int] | None = None,
    policy: Policy | None = None,
    policies: Policies | None = None,
) -> RolloutResult:
    """The library shorthand: `config` with the dataset, prompt set and set name given here (where not
    None) -> `run`."""
    given = {"dataset": dataset, "prompts": prompts, "name": name}
    config = config.model_copy(update={k: v for k, v in given.items() if v is not None})
    return run(
        ws,
        config,
        force=force,
        on_progress=on_progress,
        engine=engine,
        workers=workers,
        draws=draws,
        policy=policy,
        policies=policies,
    )


def run(
    ws: Workspace,
    config: RolloutConfig,
    *,
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    engine: Engine = "local",
    workers: int | None = None,
    draws: Sequence[int] | None = None,
    policy: Policy | None = None,
    policies: Policies | None = None,
) -> RolloutResult:
    """Roll out `config.prompts` into `rollouts/<dataset>/<name>/` (see the module docstring).

    `draws`: roll out only these positions of the prompt set's draw order, in this order (a slice:
    online training's rounds); they are part of the run key and the record. `policy`: sample with this
    already loaded policy (online training: the trainer's own model, or a vLLM engine it reloads) instead
    of loading `config.model`; it stays the caller's (not closed here), it must be the model
    `config.model` names, and it runs in this process only. `policies`: load the policy through the
    caller's `Policies` and leave it loaded there (a sweep over prompt sets or shard layouts with one
    model; the caller closes it); by default the run loads it and releases it when it ends."""
    if config.name is not None:
        safe_name(config.name, "--name")
    if (policy is not None or policies is not None) and engine != "local":
        raise UserError("a provided policy samples in this process", fix="use --engine local")
    ds = ws.dataset(config.dataset).name
    prompts = resolve_prompts(ws, ds, config.prompts)
    if config.backend != "scripted" and not config.model:
        raise UserError(
            f"the {config.backend} backend needs a policy model", fix="pass --model PATH_OR_HUB_ID"
        )
    config = _check_model(config)
    resolve_rewards(config.rewards)  # fail on a bad reward name or plugin before loading anything
    from ...mcq.prompt_styles import get_style

    get_style(config.prompt_style)
    groups = plan_groups(ws, ds, prompts)
    if draws is not None:
        draws = [int(d) for d in draws]
        if not draws or not all(0 <= d < len(groups) for d in draws):
            raise UserError(f"draws must be positions 0..{len(groups) - 1} of prompt set {prompts!r}")
        groups = [groups[d] for d in draws]
    codes = policy_codes(ws, ds, config, groups)
    name = config.name or default_name(prompts, config)
    run_config = {**config.run_config(), "prompts": prompts, "name": name, "schema": ROLLOUTS.version}
    if draws is not None:
        run_config["draws"] = draws
    if codes is not None:  # the clips are these codes (the trainer reads the same index)
        run_config["codec_key"] = codes["codec_key"]
    if config.prompt_style.endswith((".yaml", ".yml")):  # a style file: its content decides the prompts
        run_config["prompt_style_definition"] = get_style(config.prompt_style).model_dump()
    inputs = {
        "prompts": rows_fingerprint(g["item_id"] for g in groups),
        "items": rows_fingerprint(
            [g[c] for c in ("question", "choices", "answer_index", "audio_sha256")] for g in groups
        ),
        "model": model_fingerprint(config.model),
    }
    run = StageRun(
        ws, STAGE, ds, run_config, inputs, force=force, unit=name, extra_versions=GENERATION_LIBRARIES
    )
    final_dir = str(ws.table_dir(ROLLOUTS.name, ds, name))
    with run:
        if run.up_to_date:
            record = ws.provenance(STAGE, ds, name)
            return RolloutResult.recorded(record, dataset=ds, prompts=prompts, name=name, out_dir=final_dir)
        # one bad item is quarantined, not fatal: audio, option count and prompt length, before the model loads
        groups, refused = _refuse_groups(ws, ds, groups, config, audio=codes is None)
        write_quarantine(run, refused, name)
        if not groups:
            raise UserError(
                f"no prompt of set {prompts!r} can be rolled out: {len(refused)} quarantined "
                f"({', '.join(sorted({q['reason'] for q in refused}))})",
                where=f"quarantine/{ds}/{STAGE}/{name}",
                fix="see the reasons with 'adqa-data info'",
            )
        # shards are keyed by exactly the groups they hold
        out = run.output(
            ROLLOUTS.name, name, key=stable_hash([run.key, sorted(q["item_id"] for q in refused)], n=24)
        )
        size = config.shard_size
        chunks = [groups[i : i + size] for i in range(0, len(groups), size)]
        todo = [
            {
                "index": i,
                "out_dir": str(out),
                "dataset": ds,
                "name": name,
                "groups": chunk,
                "config": config.model_dump(),
                "policy": policy_spec(config),
                "codes": codes,
            }
            for i, chunk in enumerate(chunks)
            if not StageRun.shard_done(out, i)
        ]
        done = len(groups) - sum(len(t["groups"]) for t in todo)
        if on_progress:
            on_progress(done, len(groups))
        for res in _run_shards(todo, config, engine, workers, policy, policies):
            done += res["groups"]
            if on_progress:
                on_progress(done, len(groups))
        missing = [i for i in range(len(chunks)) if not StageRun.shard_done(out, i)]
        if missing:  # never record a run as complete with groups left out
            raise RuntimeError(f"rollout shards {missing[:5]} were not written; rerun to resume")
        summary = summarize(read_table(out, ROLLOUTS), config)
        if summary["rows"] != config.k * len(groups):
            raise RuntimeError(
                f"{summary['rows']} rows for {len(groups)} groups of {config.k}: a group is not whole"
            )
        summary.update(
            shards=len(chunks),
            shards_written=len(todo),
            prompts=prompts,
            quarantined=dict(sorted(Counter(q["reason"] for q in refused).items())),
        )
        prov = run.finish(summary)
    # the final folder: `out` may be the staging one, now gone
    return RolloutResult.finished(
        summary, prov["seconds"], dataset=ds, prompts=prompts, name=name, out_dir=final_dir
    )


def _run_shards(
    todo: list[dict[str, Any]],
    config: RolloutConfig,
    engine: Engine,
    workers: int | None,
    policy: Policy | None,
    policies: Policies | None,
) -> Iterator[dict[str, Any]]:
    """Every shard task's result as it finishes: with the caller's policy, else with the policy loaded
    once per worker (this process, or each Ray actor) and released when the shards are done, unless the
    caller's `policies` holds it."""
    if policy is not None:
        try:
            yield from map(functools.partial(rollout_shard, policy=policy), todo)
        finally:
            policy.close_anchoring()  # built on the caller's backend for this run only
        return
    if policies is not None:
        yield from map_with_state(shard_with, lambda: policies, _keep, todo)
        return
    ray_options = {"num_gpus": 1} if engine == "ray" and default_device(config.device) == "cuda" else None
    yield from map_with_state(
        shard_with,
        Policies,
        Policies.close,
        todo,
        engine=engine,
        workers=workers if engine == "ray" else 1,
        ray_options=ray_options,
    )


def _keep(policies: Policies) -> None:
    """The caller's `Policies` stay loaded (it closes them)."""


def _refuse_groups(
    ws: Workspace, dataset: str, groups: list[dict[str, Any]], cfg: RolloutConfig, audio: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The groups the policy can be asked, and quarantine rows for the others (`row_checks`)."""
    count, unit = (
        (byte_count, "UTF-8 bytes")
        if cfg.backend == "scripted"
        else token_counter(cfg.model, cfg.revision if cfg.backend == "vllm" else None, cfg.trust_remote_code)
    )
    root = groups[0]["root"] if groups else ""
    refused = check_items(
        root,
        groups,
        [PromptCheck(cfg.prompt_style, count, unit, "the policy")],
        cfg.max_prompt_tokens,
        audio=audio,
    )
    if not refused:
        return groups, []
    return [g for g in groups if g["item_id"] not in refused], quarantine_rows(ws, dataset, refused)
