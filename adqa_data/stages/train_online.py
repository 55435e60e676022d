"""`adqa-data train --online ROUNDS`: rounds of [roll out with the current weights, then train on it].

One job, kept in one module (hence its length): the round loop of online training (rollout slice, train, resume at round and step).

Round k (1-based) takes slice k of a prompt set: prompts [(k-1)·m, k·m) in draw order, m = `round_prompts`
(default: the set's size / ROUNDS), wrapping round to the start when ROUNDS·m exceeds the set. The rollout
stage rolls that slice out (`rollout(..., draws=...)`: the positions are in its run key and record) into
`rollouts/<dataset>/<run>-round<k>/` with the policy as round k-1 left it (rollout seed + k - 1, so a
prompt seen again draws other samples), and the trainer takes one pass over it (`train.loop.train_round`:
whole groups, `num_iterations` steps per batch, the stored sampler log-probs as the ratio's denominator).
Each round's shards and provenance record stay in the workspace: the record of what the policy saw and
how it was sampled. Rewards and advantages are the rollout's (`rewards`, `baseline`, `scale` and
`min_spread` of the train settings, when given, are what the rollout computes with); training uses the
advantages the shards hold.

The sampler. The rollout stage runs unchanged; what it samples with is provided to it
(`rollout.policy.provided_policy`) instead of loaded:
- transformers: a backend around the trainer's own model — one copy of the weights in memory, switched
  to eval mode while it samples. The round's weights are also exported to `rounds/round-<k>/policy/` in
  the run folder: the rollout's record names that checkpoint (its tokenizer, its fingerprint).
- vllm (GPU): one engine for the whole run; before round k >= 2 it reloads its weights from that export
  (`VLLMBackend.reload_weights`: every worker reads the files into its model's own `load_weights`), and
  its prefix cache is reset. The engine shares the GPU with the trainer: give it a share of the memory in
  the rollout settings (`backend_options: {engine_kwargs: {gpu_memory_utilization: 0.3}}`). Exercised by
  `benchmarks/gpu_smoke.sh` (it needs a GPU; the CPU tests cover the transformers path).
- any other backend: the rollout stage loads the round's export itself.
Round 1 samples with the starting checkpoint. Only the newest round's export is kept while the run goes
on, and none once it is complete (a 7B export is tens of GB; the shards and records remain, and each
round ends with a checkpoint of the trainable weights). Online rounds run in one process (the sampler and
the trainer share it): under `accelerate launch` with several processes they are refused.

Resume. A checkpoint is written at the end of every round (and every `save_steps`). A rerun restores
the newest one — weights, optimizer, schedule, RNG, and the data position `round-<k>` / batch /
iteration — skips the rounds it has finished, reuses a round's complete rollout set (`rounds.json` in the
run folder records each round's rollout key), and continues: the result is that of a run never stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..fingerprints import model_fingerprint
from ..names import bounded_name, name_part, safe_name
from ..workspace import StageRun, Workspace, write_json_atomic
from .train import RUNS, STAGE, TrainResult, finished_result, start_trainer

ROUNDS_FILE = "rounds.json"


@dataclass(frozen=True)
class OnlinePlan:
    """What an online run rolls out: `rounds` slices of `round_prompts` prompts of the prompt set
    `prompts` (of `size` prompts), with the rollout settings `rollout` (a `RolloutConfig`; its model is set
    per round)."""

    prompts: str
    size: int
    rounds: int
    round_prompts: int
    rollout: Any  # RolloutConfig

    def slice(self, k: int) -> list[int]:
        """Draw positions of round k's prompts (wrapping round)."""
        start = (k - 1) * self.round_prompts
        return [(start + i) % self.size for i in range(self.round_prompts)]


def round_name(run: str, k: int) -> str:
    return f"{run}-round{k}"


def default_name(cfg: Any, prompts: str, rounds: int) -> str:
    return bounded_name(name_part(prompts), f"-online{rounds}-{cfg.method}-seed{cfg.seed}")


def make_plan(
    ws: Workspace,
    dataset: str,
    rollout_cfg: Any,
    *,
    rounds: int,
    prompts: str | None = None,
    round_prompts: int | None = None,
) -> OnlinePlan:
    """Check the online settings against the workspace (the prompt set exists, a slice is not empty)."""
    from .rollout.stage import plan_groups, resolve_prompts

    if rounds < 1:
        raise UserError("--online takes a number of rounds >= 1")
    prompts = resolve_prompts(ws, dataset, prompts)
    n = len(plan_groups(ws, dataset, prompts))
    m = round_prompts if round_prompts is not None else max(1, n // rounds)
    if m < 1:
        raise UserError("--round-prompts must be >= 1")
    if rollout_cfg.backend == "scripted":
        raise UserError(
            "online rounds sample with the policy being trained",
            fix="use --rollout-backend transformers (default) or vllm",
        )
    return OnlinePlan(prompts, n, rounds, m, rollout_cfg)


# -------------------------------------------------------------------------------------------- sampling
@contextlib.contextmanager
def sampling_mode(module: Any) -> Iterator[None]:
    """Every submodule in eval mode while the policy samples (gradient checkpointing and dropout act in
    training mode only), then each back to the mode it had."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.train(training)


class Sampler:
    """What each round's rollout samples with (module docstring): the trainer's model wrapped by the
    transformers backend, one vLLM engine reloaded per round, or nothing (the stage loads the export)."""

    def __init__(self, trainer: Any, rollout_cfg: Any):
        self.trainer, self.cfg = trainer, rollout_cfg
        self.engine: Any = None  # the vLLM engine, built on first use

    @contextlib.contextmanager
    def serving(self, sampler_path: str) -> Iterator[None]:
        from .rollout.policy import policy_spec, provided_policy

        cfg = self.cfg.model_copy(update={"model": sampler_path})
        spec = policy_spec(cfg)
        model = self.trainer.policy.model
        if cfg.backend == "transformers" and getattr(model.adapter, "consumes", "audio") == "audio":
            from ..inference.transformers_backend import TransformersBackend

            options = {k: v for k, v in cfg.backend_options.items() if k != "trust_remote_code"}
            backend = TransformersBackend(sampler_path, loaded=model, **options)
            with sampling_mode(model.module), provided_policy(spec, backend):
                yield
            backend.close()  # its prefix caches only: the model is the trainer's
            return
        if cfg.backend == "vllm":
            if self.engine is None:
                self.engine = self._vllm(sampler_path)
            else:
                self.engine.reload_weights(sampler_path)
            with provided_policy(spec, self.engine):
                yield
            return
        yield  # the stage loads the export

    def _vllm(self, path: str) -> Any:
        from ..inference.vllm_backend import WEIGHT_RELOAD_EXTENSION, VLLMBackend

        options = dict(self.cfg.backend_options)
        engine = {**options.pop("engine_kwargs", {}), "worker_extension_cls": WEIGHT_RELOAD_EXTENSION}
        return VLLMBackend(
            path,
            family=self.cfg.family,
            dtype=self.cfg.dtype,
            seed=self.cfg.seed,
            trust_remote_code=self.cfg.trust_remote_code,
            engine_kwargs=engine,
            **options,
        )

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None


# --------------------------------------------------------------------------------------------- the run
def _read_rounds(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / ROUNDS_FILE).read_text())
    except (OSError, ValueError):
        return {"rounds": {}}


def planned_steps(cfg: Any, plan: OnlinePlan) -> int:
    """The schedule's length: `max_steps`, else one pass over every round's groups."""
    if cfg.max_steps is not None:
        return int(cfg.max_steps)
    return plan.rounds * math.ceil(plan.round_prompts / cfg.groups_per_step()) * cfg.num_iterations


def train_online(
    ws: Workspace,
    cfg: Any,
    rollout_cfg: Any,
    *,
    rounds: int,
    dataset: str | None = None,
    prompts: str | None = None,
    round_prompts: int | None = None,
    name: str | None = None,
    force: bool = False,
    on_step: Callable[[int, int, dict[str, float]], None] | None = None,
    on_round: Callable[[int, dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train `cfg` (a `TrainConfig`, method grpo) online for `rounds` rounds into `runs/<dataset>/<name>/`
    (module docstring). `rollout_cfg`: the rollout settings (a `RolloutConfig`; its model, when set, is the
    starting checkpoint unless `cfg.model` is). `on_step(step, total, metrics)` after every optimizer step;
    `on_round(k, record)` after every round."""
    from ..train.data import SamplingInfo
    from ..train.loop import make_accelerator

    if cfg.method != "grpo":
        raise UserError("online rounds train with GRPO", fix="drop --method sft (or --online)")
    ds = ws.dataset(dataset).name
    model = cfg.model or rollout_cfg.model
    if model is None:
        raise UserError("online rounds need the starting policy", fix="pass --model")
    # the rollout computes with the train settings' weights and advantage settings, when given;
    # training uses the advantages the round's shards hold
    given = {k: getattr(cfg, k) for k in ("rewards", "baseline", "scale", "min_spread")}
    rollout_cfg = rollout_cfg.model_copy(update={k: v for k, v in given.items() if v is not None})
    rollout_cfg = rollout_cfg.model_copy(update={"model": model, "family": cfg.family or rollout_cfg.family})
    plan = make_plan(ws, ds, rollout_cfg, rounds=rounds, prompts=prompts, round_prompts=round_prompts)
    name = safe_name(name, "--name") if name else default_name(cfg, plan.prompts, rounds)
    acc = make_accelerator(cfg)
    if acc.num_processes > 1:
        raise UserError(
            "online rounds run in one process (the sampler and the trainer share it)",
            fix="run without accelerate launch, or roll out and train offline per round",
        )
    total = planned_steps(cfg, plan)
    run_config = {
        **cfg.run_config(),
        "model": model,
        "total_steps": total,
        "online": {
            "prompts": plan.prompts,
            "rounds": rounds,
            "round_prompts": plan.round_prompts,
            "rollout": rollout_cfg.model_copy(update={"model": None}).run_config(),
        },
    }
    inputs = {
        "prompts": (ws.provenance("sample", ds, plan.prompts) or {}).get("key", "?"),
        "model": model_fingerprint(model),
    }
    run = StageRun(
        ws,
        STAGE,
        ds,
        run_config,
        inputs,
        force=force,
        unit=name,
        extra_versions=("torch", "transformers", "accelerate", "peft", "vllm"),
    )
    final_dir = ws.table_dir(RUNS, ds, name)
    with run:
        if run.up_to_date:
            return finished_result(ws, ds, name, "grpo", total, None)
        run_dir = run.output(RUNS, name)
        sampling = SamplingInfo(
            temperature=rollout_cfg.temperature,
            top_p=rollout_cfg.top_p,
            max_new_tokens=rollout_cfg.max_new_tokens,
            policy=model,
            family=rollout_cfg.family,
            backend=rollout_cfg.backend,
            k=rollout_cfg.k,
        )
        trainer, resumed = start_trainer(cfg, run_dir, model, sampling, total, ds, name, acc)
        sampler = Sampler(trainer, rollout_cfg)
        try:
            records = _run_rounds(
                ws, ds, name, plan, trainer, sampler, run_dir, force, total, on_step, on_round
            )
        finally:
            sampler.close()
        trainer.export_policy(run_dir / "policy")
        averaged = None
        if cfg.average_last:
            from .train import average_into

            averaged = str(average_into(trainer, run_dir / "policy-avg", cfg.average_last))
        state = trainer.state
        trainer.close()
        ws.remove_tree(run_dir / "rounds", "runs")  # the shards and records stay
        summary = {
            "method": "grpo",
            "online": True,
            "steps": state.step,
            "total_steps": total,
            "groups": sum(r["groups"] for r in records),
            "rounds": records,
            "model": model,
            "temperature": trainer.temperature,
            "resumed_from": resumed,
            "tokens": state.tokens,
            "train_seconds": round(state.seconds, 3),
            "checkpoints": len(trainer.checkpoints()),
        }
        prov = run.finish(summary)
    return TrainResult(
        ds,
        name,
        "grpo",
        False,
        state.step,
        total,
        summary["groups"],
        resumed,
        str(final_dir),
        str(final_dir / "policy"),
        averaged and str(final_dir / "policy-avg"),
        summary,
        prov["seconds"],
    )


def _run_rounds(
    ws: Workspace,
    ds: str,
    name: str,
    plan: OnlinePlan,
    trainer: Any,
    sampler: Sampler,
    run_dir: Path,
    force: bool,
    total: int,
    on_step: Callable[[int, int, dict[str, float]], None] | None,
    on_round: Callable[[int, dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    from ..train.data import load_rollout_groups
    from ..train.loop import train_round
    from .rollout.stage import rollout

    book = _read_rounds(run_dir)
    stream = trainer.state.stream
    reached = int(stream.removeprefix("round-")) if stream.startswith("round-") else 0
    records = []
    for k in range(1, plan.rounds + 1):
        if trainer.done:
            break
        rname = round_name(name, k)
        rec = book["rounds"].get(str(k))
        prov = ws.provenance("rollout", ds, rname) or {}
        rolled = bool(rec) and prov.get("status") == "complete" and prov.get("key") == rec.get("rollout_key")
        if k < reached and rolled:  # trained in full before the restart
            records.append(rec)
            continue
        if not rolled:
            if k <= reached:  # its training began: the weights are no longer the round's sampler
                raise UserError(
                    f"round {k}'s rollout set {rname!r} changed after this run trained on it",
                    where=str(run_dir),
                    fix="rerun with --force to start the run over",
                )
            sampler_path = str(plan.rollout.model) if k == 1 else str(_export_sampler(trainer, run_dir, k))
            rcfg = plan.rollout.model_copy(update={"model": sampler_path, "seed": plan.rollout.seed + k - 1})
            with sampler.serving(sampler_path):
                res = rollout(
                    ws, rcfg, dataset=ds, prompts=plan.prompts, name=rname, force=force, draws=plan.slice(k)
                )
            rec = {
                "round": k,
                "prompts": plan.prompts,
                "draws": [plan.slice(k)[0], plan.round_prompts],
                "rollouts": rname,
                "sampler": sampler_path,
                "rollout_key": (ws.provenance("rollout", ds, rname) or {}).get("key"),
                "rollout": {
                    x: res.summary.get(x)
                    for x in (
                        "accuracy",
                        "mean_reward",
                        "zero_signal_share",
                        "mean_completion_length",
                        "reward_means",
                    )
                },
            }
            book["rounds"][str(k)] = rec
            write_json_atomic(run_dir / ROUNDS_FILE, book, inside=ws.root)
            for old in range(1, k):  # only the newest sampler export is kept
                ws.remove_tree(run_dir / "rounds" / f"round-{old}", "runs")
        groups, _ = load_rollout_groups(ws, ds, [rname])
        if trainer.cfg.skip_zero_signal:
            groups = [g for g in groups if not g.zero_signal]
        rec["groups"] = len(groups)
        rec.setdefault("start_step", trainer.state.step)
        history = train_round(
            trainer,
            groups,
            k,
            None if on_step is None else lambda state, metrics: on_step(state.step, total, metrics),
        )
        if trainer.state.stream != f"round-{k}":  # no batch this round: still mark it as trained
            trainer.state.stream, trainer.state.batch, trainer.state.iteration = f"round-{k}", 0, 0
        trainer.save_checkpoint()
        rec["end_step"] = trainer.state.step
        if history:
            rec["last"] = {x: history[-1].get(x) for x in ("loss", "reward", "kl", "ratio_mean", "grad_norm")}
        book["rounds"][str(k)] = rec
        write_json_atomic(run_dir / ROUNDS_FILE, book, inside=ws.root)
        records.append(rec)
        if on_round is not None:
            on_round(k, rec)
    return records


def _export_sampler(trainer: Any, run_dir: Path, k: int) -> Path:
    """Round k's sampler weights as a loadable checkpoint (kept when it is already there: a resumed run
    restored the same weights, and the rollout's record fingerprints the files)."""
    out = run_dir / "rounds" / f"round-{k}" / "policy"
    if not (out / "config.json").is_file():
        trainer.export_policy(out)
    return out
