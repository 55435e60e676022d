"""`adqa-data train`: GRPO on rollout shards (or SFT on a split's gold answers) into a run folder.

Orchestration only: the loop is `adqa_data.train.loop`, the data path `adqa_data.train.data`. This
module resolves what to train on and from which checkpoint, keeps one run per
`runs/<dataset>/<name>/` (the workspace's `StageRun`: a rerun with the same settings and inputs is up to
date; a killed run resumes from its newest checkpoint; other settings under the same name are refused
without --force), and writes the provenance record `provenance/train/<dataset>.<name>.json`.

The run folder:
    checkpoints/step-NNNNNN/   trainable weights, optimizer, scheduler, RNG, data position
    policy/                    the final policy, loadable by rollout (--model runs/<dataset>/<name>/policy)
    policy-avg/                with average_last N: the mean of the last N checkpoints' weights
    metrics.jsonl              one line per logged step
    completions/step-*.parquet what was trained on every completions_steps steps

Under `accelerate launch` every process runs this; only the main one takes the lock and writes the
record, and it tells the others where the run folder is.

Before the model loads, every group's item gets the model stages' checks (`train.data.check_groups`): an
item whose clip was swapped for a link out of the dataset root or changed since download is quarantined
with the reason in `quarantine/<dataset>/train/<name>/` (as rollout, filter and eval do), its groups are
left out whole, and the run goes on; the summary counts them by reason. A policy that reads RVQ codes
(MiMo-Audio) gets its clips from the code cache, for GRPO and SFT alike, and never opens audio.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..fingerprints import model_fingerprint, stable_hash, table_fingerprint
from ..names import bounded_name, name_part, safe_name
from ..schema import ITEM_SCORES, ITEMS, QUARANTINE, ROLLOUTS
from ..train.config import TrainConfig
from ..workspace import StageRun, Workspace

STAGE = "train"
RUNS = "runs"


@dataclass
class TrainResult:
    dataset: str
    name: str
    method: str
    up_to_date: bool
    steps: int
    total_steps: int
    groups: int
    resumed_from: int | None  # the step a killed run resumed from
    run_dir: str
    policy_dir: str
    averaged_dir: str | None
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def finished_result(
    ws: Workspace,
    ds: str,
    name: str,
    method: str,
    total: int,
    groups: int | None,
    averaged: str | None = None,
) -> TrainResult:
    """The result of a run that is already up to date, from its provenance summary (`groups`: None = the
    count the summary recorded)."""
    s = (ws.provenance(STAGE, ds, name) or {}).get("summary", {})
    final_dir = ws.table_dir(RUNS, ds, name)
    return TrainResult(
        ds,
        name,
        method,
        True,
        s.get("steps", 0),
        s.get("total_steps", total),
        s.get("groups", 0) if groups is None else groups,
        None,
        str(final_dir),
        str(final_dir / "policy"),
        averaged,
        s,
        0.0,
    )


def start_trainer(
    cfg: TrainConfig, run_dir: Path, model: str, sampling: Any, total: int, ds: str, name: str, acc: Any
) -> tuple[Any, int | None]:
    """The run's Trainer, resumed from its last checkpoint when there is one (and the step it resumed at)."""
    from ..train.loop import Trainer

    trainer = Trainer(
        cfg,
        run_dir,
        model=model,
        sampling=sampling,
        total_steps=total,
        family=cfg.family,
        run_name=f"{ds}/{name}",
        accelerator=acc,
    )
    return trainer, (trainer.state.step if trainer.resume() else None)


def default_name(cfg: TrainConfig, sources: list[str]) -> str:
    head = "+".join(name_part(s) for s in sources) if cfg.method == "grpo" else name_part(cfg.split)
    return bounded_name(head, f"-{cfg.method}-seed{cfg.seed}")


def _sources(ws: Workspace, dataset: str, cfg: TrainConfig) -> list[str]:
    if cfg.method == "sft":
        return [cfg.split]
    if cfg.rollouts:
        return [safe_name(r, "--rollouts") for r in cfg.rollouts]
    return [
        ws.pick_set(
            "rollout", ROLLOUTS.name, dataset, None, "rollout set", "--rollouts", "'adqa-data rollout'"
        )
    ]


def _inputs(ws: Workspace, dataset: str, cfg: TrainConfig, sources: list[str], model: str) -> dict[str, str]:
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
    on_step: Callable[[int, int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train into `runs/<dataset>/<name>/` (see the module docstring); `on_step(step, total, metrics)`
    after every optimizer step (the CLI's progress line)."""
    from accelerate.utils import broadcast_object_list

    from ..train.data import check_groups, load_groups_for
    from ..train.loop import make_accelerator, total_steps_for
    from ..train.loop import train as run_loop

    ds = ws.dataset(dataset).name
    sources = _sources(ws, ds, cfg)
    groups, sampling = load_groups_for(ws, ds, cfg, sources)
    # one bad item is quarantined, not fatal: its clip must still be the file download recorded
    groups, refused = check_groups(ws, ds, groups, audio=sampling.codec_key is None)
    model = cfg.model or (sampling.policy if cfg.method == "grpo" else None)
    if model is None:
        raise UserError(
            "no model to train", fix="pass --model (SFT, or rollouts sampled by the scripted backend)"
        )
    name = safe_name(name, "--name") if name else default_name(cfg, sources)
    acc = make_accelerator(cfg)
    total = total_steps_for(cfg, len(groups), acc.num_processes) if groups else 0
    run_config = {**cfg.run_config(), "sources": sources, "model": model, "total_steps": total}
    if sampling.codec_key is not None:  # the clips are these codes
        run_config["codec_key"] = sampling.codec_key
    inputs = _inputs(ws, ds, cfg, sources, model)
    if refused:  # trained on the other groups: a run without them is another run
        inputs["quarantined"] = stable_hash(sorted(q["item_id"] for q in refused))
    run = StageRun(
        ws,
        STAGE,
        ds,
        run_config,
        inputs,
        force=force,
        unit=name,
        extra_versions=("torch", "transformers", "accelerate", "peft"),
    )
    final_dir = ws.table_dir(RUNS, ds, name)
    if acc.is_main_process:
        run.__enter__()
    try:
        plan = [None]
        if acc.is_main_process:
            if not run.up_to_date:
                qdir = run.output(QUARANTINE.name, STAGE, name)
                rows = [{"dataset": ds, "stage": STAGE, **q} for q in refused]
                run.write_shard(qdir, 0, QUARANTINE.from_pylist(rows), QUARANTINE)
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
            averaged = str(average_run(final_dir, cfg, model, sampling, acc)) if cfg.average_last else None
            return finished_result(ws, ds, name, cfg.method, total, len(groups), averaged)
        run_dir = Path(plan[0]["run_dir"])
        trainer, resumed = start_trainer(cfg, run_dir, model, sampling, total, ds, name, acc)
        history = run_loop(
            trainer,
            groups,
            None if on_step is None else lambda state, metrics: on_step(state.step, total, metrics),
        )
        trainer.export_policy(run_dir / "policy")
        averaged_dir = None
        if cfg.average_last:
            averaged_dir = average_into(trainer, run_dir / "policy-avg", cfg.average_last)
        state = trainer.state
        trainer.close()
        last = history[-1] if history else {}
        summary = {
            "method": cfg.method,
            "steps": state.step,
            "total_steps": total,
            "groups": len(groups),
            "quarantined": dict(sorted(Counter(q["reason"] for q in refused).items())),
            "sources": sources,
            "model": model,
            "temperature": trainer.temperature,
            "resumed_from": resumed,
            "tokens": state.tokens,
            "train_seconds": round(state.seconds, 3),
            "checkpoints": len(trainer.checkpoints()),
            "averaged_last": cfg.average_last or None,
            "last": {
                k: v
                for k, v in last.items()
                if k
                in ("loss", "reward", "kl", "clip_ratio/region_mean", "ratio_mean", "nll", "grad_norm", "lr")
            },
        }
        seconds = 0.0
        if acc.is_main_process:
            seconds = run.finish(summary)["seconds"]
        return TrainResult(
            ds,
            name,
            cfg.method,
            False,
            state.step,
            total,
            len(groups),
            resumed,
            str(final_dir),
            str(final_dir / "policy"),
            None if averaged_dir is None else str(final_dir / "policy-avg"),
            summary,
            seconds,
        )
    finally:
        if acc.is_main_process:
            run.__exit__(None, None, None)


def average_into(trainer: Any, out: Path, last: int) -> Path:
    """Load the mean of the last `last` checkpoints' trainable weights into the trainer and export it."""
    from ..train.loop import average_checkpoints

    ckpts = trainer.checkpoints()[-last:]
    trainer.load_trainable(average_checkpoints(ckpts))
    return trainer.export_policy(out)


def average_run(run_dir: Path, cfg: TrainConfig, model: str, sampling: Any, accelerator: Any = None) -> Path:
    """`policy-avg/` of a finished run, made from its checkpoints without training (a later
    `--average-last N` on an up-to-date run). Every process calls it."""
    from ..train.loop import Trainer

    out = run_dir / "policy-avg"
    trainer = Trainer(
        cfg,
        run_dir,
        model=model,
        sampling=sampling,
        total_steps=1,
        family=cfg.family,
        accelerator=accelerator,
    )
    try:
        if not trainer.checkpoints():
            raise UserError(f"run {run_dir} has no checkpoints to average")
        return average_into(trainer, out, cfg.average_last)
    finally:
        trainer.close()
