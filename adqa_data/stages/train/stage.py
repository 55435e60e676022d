"""`adqa-data train`: GRPO on rollout shards (or SFT on a split's gold answers) into a run folder.

Orchestration only: the loop is `adqa_data.train.loop`, the rollout groups come through the rollout
set's contract (`stages.rollout.contract`), SFT groups from `data`. This module resolves what to train
on and from which checkpoint, keeps one run per `runs/<dataset>/<name>/` (`runs` lists the folder; the
workspace's `StageRun`: a rerun with the same settings and inputs is up to date; a killed run resumes
from its newest checkpoint; other settings under the same name are refused without --force), and writes
the provenance record `provenance/train/<dataset>.<name>.json`.

Under `accelerate launch` every process runs this; only the main one takes the lock and writes the
record, and it tells the others where the run folder is.

Before the model loads, every group's item gets rollout's item checks (`contract.check_groups`): an item
whose clip was swapped for a link out of the dataset root or changed since download is quarantined with
the reason in `quarantine/<dataset>/train/<name>/` (as rollout, filter and eval do), its groups are left
out whole, and the run goes on; the summary counts them by reason. A policy that reads RVQ codes
(MiMo-Audio) gets its clips from the code cache, for GRPO and SFT alike, and never opens audio.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ...core.errors import UserError
from ...core.fingerprints import model_fingerprint, stable_hash, table_fingerprint
from ...core.names import bounded_name, name_part, safe_name
from ...core.quarantine import write_quarantine
from ...core.schema import ITEM_SCORES, ITEMS
from ...core.workspace import Workspace
from ...train.config import TrainConfig
from ..rollout import contract
from . import online, runs
from .config import TrainStageConfig, stage_config
from .data import load_groups_for
from .online import OnRound
from .runs import RUNS, STAGE, OnStep, TrainResult


def default_name(cfg: TrainConfig, sources: list[str]) -> str:
    head = "+".join(name_part(s) for s in sources) if cfg.method == "grpo" else name_part(cfg.split)
    return bounded_name(head, f"-{cfg.method}-seed{cfg.seed}")


def training_sources(ws: Workspace, dataset: str, cfg: TrainConfig) -> list[str]:
    """What the run trains on: its rollout sets (named, else the dataset's only one), or the SFT split."""
    if cfg.method == "sft":
        return [cfg.split]
    if cfg.rollouts:
        return [safe_name(r, "--rollouts") for r in cfg.rollouts]
    return [contract.pick_set(ws, dataset, None)]


def run_inputs(
    ws: Workspace, dataset: str, cfg: TrainConfig, sources: list[str], model: str
) -> dict[str, str]:
    """What the trained weights depend on besides the settings: the data and the starting weights."""
    if cfg.method == "grpo":
        data = {s: (ws.provenance("rollout", dataset, s) or {}).get("key", "?") for s in sources}
    else:
        data = {
            "items": table_fingerprint(ws.table_dir(ITEMS.name, dataset)),
            "item_scores": table_fingerprint(ws.table_dir(ITEM_SCORES.name, dataset)),
        }
    return {"data": str(sorted(data.items())), "model": model_fingerprint(model)}


def train(
    ws: Workspace,
    cfg: TrainConfig,
    dataset: str | None = None,
    name: str | None = None,
    force: bool = False,
    on_step: OnStep | None = None,
) -> TrainResult:
    """The library shorthand of an offline run: `cfg` with the dataset and run name given here -> `run`."""
    return run(ws, stage_config(cfg, dataset=dataset, name=name), force=force, on_step=on_step)


def run(
    ws: Workspace,
    config: TrainStageConfig,
    *,
    force: bool = False,
    on_step: OnStep | None = None,
    on_round: OnRound | None = None,
) -> TrainResult:
    """Train into `runs/<dataset>/<name>/`: offline on stored groups (see the module docstring), or in
    `config.online` rounds (`online`). `on_step(step, total, metrics)` after every optimizer step (the
    CLI's progress line); `on_round(k, record)` after every online round."""
    if config.online is not None:
        return online.run_online(ws, config, force=force, on_step=on_step, on_round=on_round)
    return _run_offline(ws, config, force, on_step)


def _run_offline(ws: Workspace, config: TrainStageConfig, force: bool, on_step: OnStep | None) -> TrainResult:
    from accelerate.utils import broadcast_object_list

    from ...train.loop import average_run, make_accelerator, total_steps_for
    from ...train.loop import train as run_loop

    ds = ws.dataset(config.dataset).name
    cfg = config.train_config()
    sources = training_sources(ws, ds, cfg)
    groups, sampling = load_groups_for(ws, ds, cfg, sources)
    # one bad item is quarantined, not fatal: its clip must still be the file download recorded
    groups, refused = contract.check_groups(ws, ds, groups, audio=sampling.codec_key is None)
    model = cfg.model or (sampling.policy if cfg.method == "grpo" else None)
    if model is None:
        raise UserError(
            "no model to train", fix="pass --model (SFT, or rollouts sampled by the scripted backend)"
        )
    name = safe_name(config.name, "--name") if config.name else default_name(cfg, sources)
    acc = make_accelerator(cfg)
    total = total_steps_for(cfg, len(groups), acc.num_processes) if groups else 0
    run_config = {**cfg.run_config(), "sources": sources, "model": model, "total_steps": total}
    if sampling.codec_key is not None:  # the clips are these codes
        run_config["codec_key"] = sampling.codec_key
    inputs = run_inputs(ws, ds, cfg, sources, model)
    if refused:  # trained on the other groups: a run without them is another run
        inputs["quarantined"] = stable_hash(sorted(q["item_id"] for q in refused))
    run = runs.stage_run(ws, ds, name, run_config, inputs, force)
    final_dir = ws.table_dir(RUNS, ds, name)
    # the main process holds the run (its lock and record); the others follow the plan it broadcasts
    with run if acc.is_main_process else contextlib.nullcontext():
        plan = [None]
        if acc.is_main_process:
            if not run.up_to_date:
                write_quarantine(run, refused, name)
            plan = [
                {
                    "up_to_date": run.up_to_date,
                    "run_dir": str(final_dir if run.up_to_date else run.output(RUNS, name)),
                }
            ]
        broadcast_object_list(plan)
        if not groups:
            raise UserError(
                f"no group of {', '.join(sources)} can be trained on: {len(refused)} item(s) quarantined "
                f"({', '.join(sorted({q['reason'] for q in refused}))})",
                where=f"quarantine/{ds}/{STAGE}/{name}",
                fix="see the reasons with 'adqa-data info'",
            )
        if plan[0]["up_to_date"]:
            if cfg.average_last:
                average_run(final_dir, cfg, model, sampling, acc)
            return runs.train_result(
                ws,
                ds,
                name,
                runs.recorded_summary(ws, ds, name),
                method=cfg.method,
                up_to_date=True,
                averaged=bool(cfg.average_last),
                groups=len(groups),
                total=total,
            )
        run_dir = Path(plan[0]["run_dir"])
        trainer, resumed = runs.start_trainer(cfg, run_dir, model, sampling, total, f"{ds}/{name}", acc)
        history = run_loop(trainer, groups, runs.step_callback(on_step, total))
        trainer.export_policy(run_dir / "policy")
        if cfg.average_last:
            trainer.average_into(run_dir / "policy-avg", cfg.average_last)
        trainer.close()
        summary = runs.run_summary(
            trainer,
            total=total,
            groups=len(groups),
            model=model,
            resumed=resumed,
            sources=sources,
            last=history[-1] if history else {},
            quarantined=refused,
        )
        seconds = run.finish(summary)["seconds"] if acc.is_main_process else 0.0
    return runs.train_result(
        ws,
        ds,
        name,
        summary,
        method=cfg.method,
        up_to_date=False,
        averaged=bool(cfg.average_last),
        seconds=seconds,
    )
