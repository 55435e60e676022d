"""`adqa-data train --online ROUNDS`: rounds of [roll out with the current weights, then train on it].

Round k (1-based) takes slice k of a prompt set: prompts [(k-1)·m, k·m) in draw order, m = `round_prompts`
(default: the set's size / ROUNDS), wrapping round to the start when ROUNDS·m exceeds the set. The rollout
stage rolls that slice out (`rollout(..., draws=...)`: the positions are in its run key and record) into
`rollouts/<dataset>/<run>-round<k>/` with the policy as round k-1 left it (rollout seed + k - 1, so a
prompt seen again draws other samples), and the trainer takes one pass over it (`train.loop.train_round`:
whole groups, `num_iterations` steps per batch, the stored sampler log-probs as the ratio's denominator).
Each round's shards and provenance record stay in the workspace: the record of what the policy saw and
how it was sampled. Rewards and advantages are the rollout's (`rewards`, `baseline`, `scale` and
`min_spread` of the train settings, when given, are what the rollout computes with); training uses the
advantages the shards hold, read back through the rollout set's contract.

The sampler. The rollout stage runs unchanged; what it samples with is passed to it explicitly
(`sampler.Sampler`: the trainer's own model, or one vLLM engine reloaded per round). Round 1 samples with
the starting checkpoint. Only the newest round's export is kept while the run goes on, and none once it
is complete (a 7B export is tens of GB; the shards and records remain, and each round ends with a
checkpoint of the trainable weights). Online rounds run in one process (the sampler and the trainer
share it): under `accelerate launch` with several processes they are refused.

Resume. A checkpoint is written at the end of every round (and every `save_steps`). A rerun restores
the newest one — weights, optimizer, schedule, RNG, and the data position `round-<k>` / batch /
iteration — skips the rounds it has finished, reuses a round's complete rollout set (`rounds.json` in the
run folder records each round's rollout key), and continues: the result is that of a run never stopped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.errors import UserError
from ...core.fingerprints import model_fingerprint
from ...core.names import bounded_name, name_part, safe_name
from ...core.workspace import Workspace, write_json_atomic
from ...train.config import TrainConfig
from ...train.groups import SamplingInfo
from ..rollout import contract
from ..rollout.config import RolloutConfig
from . import runs
from .runs import RUNS, OnStep, TrainResult

if TYPE_CHECKING:  # pragma: no cover
    from ...train.loop import Trainer
    from .config import TrainStageConfig
    from .sampler import Sampler

ROUNDS_FILE = "rounds.json"
OnRound = Callable[[int, dict[str, Any]], None]  # (round, its record) after every round
ROUND_ROLLOUT_KEYS = (
    "accuracy",
    "mean_reward",
    "zero_signal_share",
    "mean_completion_length",
    "reward_means",
)
ROUND_LAST_KEYS = ("loss", "reward", "kl", "ratio_mean", "grad_norm")


@dataclass(frozen=True)
class OnlinePlan:
    """What an online run rolls out: `rounds` slices of `round_prompts` prompts of the prompt set
    `prompts` (of `size` prompts), with the rollout settings `rollout` (its model is set per round)."""

    prompts: str
    size: int
    rounds: int
    round_prompts: int
    rollout: RolloutConfig

    def slice(self, k: int) -> list[int]:
        """Draw positions of round k's prompts (wrapping round)."""
        start = (k - 1) * self.round_prompts
        return [(start + i) % self.size for i in range(self.round_prompts)]


def round_name(run: str, k: int) -> str:
    return f"{run}-round{k}"


def default_name(cfg: TrainConfig, prompts: str, rounds: int) -> str:
    return bounded_name(name_part(prompts), f"-online{rounds}-{cfg.method}-seed{cfg.seed}")


def make_plan(
    ws: Workspace,
    dataset: str,
    rollout_cfg: RolloutConfig,
    *,
    rounds: int,
    prompts: str | None = None,
    round_prompts: int | None = None,
) -> OnlinePlan:
    """Check the online settings against the workspace (the prompt set exists, a slice is not empty)."""
    from ..rollout.stage import plan_groups, resolve_prompts

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


def planned_steps(cfg: TrainConfig, plan: OnlinePlan) -> int:
    """The schedule's length: `max_steps`, else one pass over every round's groups."""
    if cfg.max_steps is not None:
        return int(cfg.max_steps)
    return plan.rounds * math.ceil(plan.round_prompts / cfg.groups_per_step()) * cfg.num_iterations


def train_online(
    ws: Workspace,
    cfg: TrainConfig,
    rollout_cfg: RolloutConfig,
    *,
    rounds: int,
    dataset: str | None = None,
    prompts: str | None = None,
    round_prompts: int | None = None,
    name: str | None = None,
    force: bool = False,
    on_step: OnStep | None = None,
    on_round: OnRound | None = None,
) -> TrainResult:
    """The library shorthand of an online run: `cfg` with `rounds` rounds of `rollout_cfg` rollouts and
    the other stage settings given here -> `run_online`."""
    from .config import stage_config

    config = stage_config(
        cfg,
        online=rounds,
        rollout=rollout_cfg,
        dataset=dataset,
        prompts=prompts,
        round_prompts=round_prompts,
        name=name,
    )
    return run_online(ws, config, force=force, on_step=on_step, on_round=on_round)


def run_online(
    ws: Workspace, config: TrainStageConfig, force: bool, on_step: OnStep | None, on_round: OnRound | None
) -> TrainResult:
    """`stage.run`'s online half: train `config` (method grpo) for `config.online` rounds into
    `runs/<dataset>/<name>/` (module docstring). `config.rollout`: the rollout settings (its model, when
    set, is the starting checkpoint unless `config.model` is). `on_step(step, total, metrics)` after every
    optimizer step; `on_round(k, record)` after every round."""
    from ...train.loop import make_accelerator

    cfg, rounds = config.train_config(), int(config.online or 0)
    rollout_cfg = config.rollout or RolloutConfig()
    if cfg.method != "grpo":
        raise UserError("online rounds train with GRPO", fix="drop --method sft (or --online)")
    ds = ws.dataset(config.dataset).name
    model = cfg.model or rollout_cfg.model
    if model is None:
        raise UserError("online rounds need the starting policy", fix="pass --model")
    # the rollout computes with the train settings' weights and advantage settings, when given;
    # training uses the advantages the round's shards hold
    given = {k: getattr(cfg, k) for k in ("rewards", "baseline", "scale", "min_spread")}
    rollout_cfg = rollout_cfg.model_copy(update={k: v for k, v in given.items() if v is not None})
    rollout_cfg = rollout_cfg.model_copy(update={"model": model, "family": cfg.family or rollout_cfg.family})
    plan = make_plan(
        ws, ds, rollout_cfg, rounds=rounds, prompts=config.prompts, round_prompts=config.round_prompts
    )
    name = safe_name(config.name, "--name") if config.name else default_name(cfg, plan.prompts, rounds)
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
    run = runs.stage_run(ws, ds, name, run_config, inputs, force, "vllm")
    with run:
        if run.up_to_date:
            return runs.train_result(
                ws,
                ds,
                name,
                runs.recorded_summary(ws, ds, name),
                method="grpo",
                up_to_date=True,
                averaged=False,
                total=total,
            )
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
        trainer, resumed = runs.start_trainer(cfg, run_dir, model, sampling, total, f"{ds}/{name}", acc)
        rounds_run = OnlineRounds(ws, ds, name, plan, trainer, run_dir, force, total)
        from .sampler import Sampler

        sampler = Sampler(trainer, rollout_cfg)
        try:
            records, last = rounds_run.run(sampler, on_step, on_round)
        finally:
            sampler.close()
        trainer.export_policy(run_dir / "policy")
        if cfg.average_last:
            trainer.average_into(run_dir / "policy-avg", cfg.average_last)
        trainer.close()
        ws.remove_tree(run_dir / "rounds", "runs")  # the shards and records stay
        summary = runs.run_summary(
            trainer,
            total=total,
            groups=sum(r["groups"] for r in records),
            model=model,
            resumed=resumed,
            sources=[r["rollouts"] for r in records],
            last=last,
            rounds=records,
        )
        prov = run.finish(summary)
    return runs.train_result(
        ws,
        ds,
        name,
        summary,
        method="grpo",
        up_to_date=False,
        averaged=bool(cfg.average_last),
        seconds=prov["seconds"],
    )


@dataclass
class OnlineRounds:
    """The round loop of one online run: roll each round out (or reuse its complete set), train on it,
    and keep `rounds.json` in the run folder up to date (module docstring: resume)."""

    ws: Workspace
    ds: str
    name: str
    plan: OnlinePlan
    trainer: Trainer
    run_dir: Path
    force: bool
    total: int

    def book(self) -> dict[str, Any]:
        try:
            return json.loads((self.run_dir / ROUNDS_FILE).read_text())
        except (OSError, ValueError):
            return {"rounds": {}}

    def run(
        self, sampler: Sampler, on_step: OnStep | None, on_round: OnRound | None
    ) -> tuple[list[dict[str, Any]], dict[str, float]]:
        """Every round not trained yet; (each round's record, the last step's metrics)."""
        from ...train.loop import train_round

        book = self.book()
        stream = self.trainer.state.stream
        reached = int(stream.removeprefix("round-")) if stream.startswith("round-") else 0
        records: list[dict[str, Any]] = []
        last: dict[str, float] = {}
        for k in range(1, self.plan.rounds + 1):
            if self.trainer.done:
                break
            rec = book["rounds"].get(str(k))
            prov = self.ws.provenance("rollout", self.ds, round_name(self.name, k)) or {}
            rolled = (
                bool(rec) and prov.get("status") == "complete" and prov.get("key") == rec.get("rollout_key")
            )
            if k < reached and rolled:  # trained in full before the restart
                records.append(rec)
                continue
            if not rolled:
                if k <= reached:  # its training began: the weights are no longer the round's sampler
                    raise UserError(
                        f"round {k}'s rollout set {round_name(self.name, k)!r} changed after this run trained on it",
                        where=str(self.run_dir),
                        fix="rerun with --force to start the run over",
                    )
                rec = self.roll_out(k, sampler)
                book["rounds"][str(k)] = rec
                self.write(book)
                for old in range(1, k):  # only the newest sampler export is kept
                    self.ws.remove_tree(self.run_dir / "rounds" / f"round-{old}", "runs")
            groups, _ = contract.load_rollout_groups(self.ws, self.ds, [round_name(self.name, k)])
            if self.trainer.cfg.skip_zero_signal:
                groups = [g for g in groups if not g.zero_signal]
            rec["groups"] = len(groups)
            rec.setdefault("start_step", self.trainer.state.step)
            history = train_round(self.trainer, groups, k, runs.step_callback(on_step, self.total))
            if self.trainer.state.stream != f"round-{k}":  # no batch this round: still mark it as trained
                self.trainer.state.stream, self.trainer.state.batch, self.trainer.state.iteration = (
                    f"round-{k}",
                    0,
                    0,
                )
            self.trainer.save_checkpoint()
            rec["end_step"] = self.trainer.state.step
            if history:
                rec["last"] = {x: history[-1].get(x) for x in ROUND_LAST_KEYS}
                last = history[-1]
            book["rounds"][str(k)] = rec
            self.write(book)
            records.append(rec)
            if on_round is not None:
                on_round(k, rec)
        return records, last

    def roll_out(self, k: int, sampler: Sampler) -> dict[str, Any]:
        """Round k's rollout with the weights the previous round left; its record for `rounds.json`."""
        from ..rollout.stage import run

        plan, rname = self.plan, round_name(self.name, k)
        sampler_path = str(plan.rollout.model) if k == 1 else str(self.export_sampler(k))
        rcfg = plan.rollout.model_copy(
            update={
                "model": sampler_path,
                "seed": plan.rollout.seed + k - 1,
                "dataset": self.ds,
                "prompts": plan.prompts,
                "name": rname,
            }
        )
        with sampler.serving(sampler_path) as policy:
            res = run(self.ws, rcfg, force=self.force, draws=plan.slice(k), policy=policy)
        return {
            "round": k,
            "prompts": plan.prompts,
            "draws": [plan.slice(k)[0], plan.round_prompts],
            "rollouts": rname,
            "sampler": sampler_path,
            "rollout_key": (self.ws.provenance("rollout", self.ds, rname) or {}).get("key"),
            "rollout": {x: res.summary.get(x) for x in ROUND_ROLLOUT_KEYS},
        }

    def export_sampler(self, k: int) -> Path:
        """Round k's sampler weights as a loadable checkpoint (kept when it is already there: a resumed run
        restored the same weights, and the rollout's record fingerprints the files)."""
        out = self.run_dir / "rounds" / f"round-{k}" / "policy"
        if not (out / "config.json").is_file():
            self.trainer.export_policy(out)
        return out

    def write(self, book: dict[str, Any]) -> None:
        write_json_atomic(self.run_dir / ROUNDS_FILE, book, inside=self.ws.root)
