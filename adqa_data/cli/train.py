"""`adqa-data train`: GRPO on rollout shards, or SFT on a split, into runs/<dataset>/<name>/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import render
from .app import (
    ANCHORING_ROWS,
    DEFAULT_WS,
    DatasetOpt,
    DeviceOpt,
    FamilyOpt,
    ForceOpt,
    JsonOpt,
    WorkspaceOpt,
    app,
    options_checked,
    print_json,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..stages.train import TrainResult


@app.command()
def train(
    rollouts: Annotated[
        list[str] | None,
        typer.Option(
            "--rollouts", help="Rollout set to train on, repeatable (default: the dataset's only one)."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Checkpoint to start from (default: the policy that sampled the rollouts; an SFT run's policy/ folder to continue one).",
        ),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method", help="grpo (default) | sft: supervised fine-tuning on --split's gold answers."
        ),
    ] = None,
    split: Annotated[str | None, typer.Option("--split", help="SFT: weak (default) | strong | all.")] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="YAML of train settings or a preset name from pipelines/train/ (reference-000 = the defaults, reference-001); options given here override it.",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Run name (default: <rollouts>-<method>-seed<seed>).")
    ] = None,
    reward: Annotated[
        list[str] | None,
        typer.Option(
            "--reward",
            help="NAME=WEIGHT, repeatable, as rollout takes it: re-weight the stored reward columns and recompute the group advantages.",
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Recompute advantages with this baseline: mean | leave-one-out (default: as the rollout computed them).",
        ),
    ] = None,
    scale: Annotated[
        str | None,
        typer.Option(
            "--scale",
            help="Recompute advantages with this divisor, as rollout's --scale: batch (a rollout shard) | group | none (default: as the rollout).",
        ),
    ] = None,
    min_spread: Annotated[
        float | None,
        typer.Option(
            "--min-spread",
            help="Recompute advantages, giving groups whose total rewards span less than this advantage 0, as rollout's --min-spread (default: as the rollout).",
        ),
    ] = None,
    loss_type: Annotated[
        str | None, typer.Option("--loss-type", help="grpo (default) | bnpo | dr_grpo | dapo.")
    ] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option("--lr", help="Peak learning rate (default 1e-6), cosine schedule with 5% warm-up."),
    ] = None,
    warmup_ratio: Annotated[
        float | None,
        typer.Option(
            "--warmup-ratio",
            help="Share of the steps spent warming the learning rate up from 0 (default 0.05).",
        ),
    ] = None,
    beta: Annotated[
        float | None, typer.Option("--beta", help="KL coefficient (default 0.01; 0 needs no reference).")
    ] = None,
    epsilon: Annotated[float | None, typer.Option("--epsilon", help="Ratio clip (default 0.2).")] = None,
    epsilon_high: Annotated[
        float | None, typer.Option("--epsilon-high", help="Upper ratio clip (default: --epsilon).")
    ] = None,
    num_iterations: Annotated[
        int | None, typer.Option("--num-iterations", help="Optimizer steps per batch (GRPO's mu, default 1).")
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", help="Optimizer steps (default: --epochs passes over the groups)."),
    ] = None,
    num_epochs: Annotated[
        float | None,
        typer.Option("--epochs", help="Passes over the groups when --max-steps is not given (default 1)."),
    ] = None,
    micro_batch_groups: Annotated[
        int | None, typer.Option("--micro-batch-groups", help="Whole groups per forward pass (default 1).")
    ] = None,
    gradient_accumulation_steps: Annotated[
        int | None, typer.Option("--grad-accum", help="Micro-batches per optimizer step (default 1).")
    ] = None,
    old_logp: Annotated[
        str | None,
        typer.Option(
            "--old-logp",
            help="Ratio denominator: sampler (stored log-probs, default) | recompute (pre-update policy).",
        ),
    ] = None,
    importance_sampling: Annotated[
        str | None,
        typer.Option(
            "--importance-sampling",
            help="With --old-logp recompute: none (default) | token_truncate | token_mask | sequence_truncate | sequence_mask.",
        ),
    ] = None,
    lora: Annotated[
        bool | None,
        typer.Option(
            "--lora/--no-lora",
            help="Train LoRA adapters on the decoder (default: off, full fine-tuning of the decoder).",
        ),
    ] = None,
    lora_r: Annotated[int | None, typer.Option("--lora-r", help="LoRA rank (default 16).")] = None,
    train_audio: Annotated[
        bool | None,
        typer.Option(
            "--train-audio/--freeze-audio",
            help="Also train the audio encoder and projector (default: frozen).",
        ),
    ] = None,
    gradient_checkpointing: Annotated[
        bool | None,
        typer.Option(
            "--gradient-checkpointing/--no-gradient-checkpointing",
            help="Default: on for a GPU, off on the CPU.",
        ),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option("--precision", help="auto (bf16 autocast on a GPU, fp32 on the CPU) | bf16 | fp32."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Data order (default 0).")] = None,
    save_steps: Annotated[
        int | None, typer.Option("--save-steps", help="A checkpoint every N steps (default 100).")
    ] = None,
    logging_steps: Annotated[
        int | None, typer.Option("--logging-steps", help="A metrics line every N steps (default 1).")
    ] = None,
    completions_steps: Annotated[
        int | None,
        typer.Option("--completions-steps", help="A completions table every N steps (default 10)."),
    ] = None,
    report_to: Annotated[
        str | None, typer.Option("--report-to", help="none (default) | trackio | wandb.")
    ] = None,
    average_last: Annotated[
        int | None,
        typer.Option(
            "--average-last", help="Average the last N checkpoints into policy-avg/ (also on a finished run)."
        ),
    ] = None,
    online: Annotated[
        int | None,
        typer.Option(
            "--online",
            help="ROUNDS of online GRPO: each round rolls out the next slice of --prompts with the current weights (rollouts/<dataset>/<name>-round<k>/), then trains on it.",
        ),
    ] = None,
    prompts: Annotated[
        str | None,
        typer.Option("--prompts", help="--online: the prompt set to slice (default: the only one)."),
    ] = None,
    round_prompts: Annotated[
        int | None,
        typer.Option(
            "--round-prompts", help="--online: prompts per round (default: the set's size / ROUNDS)."
        ),
    ] = None,
    rollout_config: Annotated[
        str | None,
        typer.Option(
            "--rollout-config",
            help="--online: YAML of rollout settings (pipelines/rollout.yaml); --k, --max-new-tokens, --rollout-backend, --anchoring-rows and --reward override it.",
        ),
    ] = None,
    k: Annotated[
        int | None, typer.Option("--k", help="--online: completions per prompt (default 4).")
    ] = None,
    max_new_tokens: Annotated[
        int | None, typer.Option("--max-new-tokens", help="--online: completion length limit (default 512).")
    ] = None,
    rollout_backend: Annotated[
        str | None,
        typer.Option(
            "--rollout-backend", help="--online: transformers (default; shares the trainer's model) | vllm."
        ),
    ] = None,
    anchoring_rows: Annotated[
        str | None,
        typer.Option(
            "--anchoring-rows",
            help=f"--online: query rows of the anchoring reward: {ANCHORING_ROWS}",
        ),
    ] = None,
    family: FamilyOpt = None,
    codec: Annotated[
        str | None,
        typer.Option(
            "--codec",
            help="For a policy that reads RVQ codes (MiMo-Audio): the code index its clips come from, as encode names it (default: the policy's own codec; GRPO: the rollouts').",
        ),
    ] = None,
    device: DeviceOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train the policy: GRPO on stored rollout groups (default) or SFT on a split's gold answers.

    Writes runs/<dataset>/<name>/: checkpoints/ (resumable: a killed run continues from the newest),
    policy/ (the trained checkpoint, loadable by rollout), metrics.jsonl and completions/ tables. Past one
    process: accelerate launch --config_file pipelines/accelerate/ddp.yaml (or zero3.yaml)
    [--num_machines N --machine_rank R --main_process_ip HOST] -m adqa_data train ...
    """
    from ..core.errors import UserError
    from ..core.workspace import Workspace
    from ..stages.rollout import parse_reward_weights
    from ..stages.train import train as run_train
    from ..train.config import load_config

    cfg = load_config(
        config,
        rollouts=rollouts or None,
        model=model,
        method=method,
        split=split,
        rewards=parse_reward_weights(reward or []) or None,
        baseline=baseline,
        scale=scale,
        min_spread=min_spread,
        loss_type=loss_type,
        learning_rate=learning_rate,
        warmup_ratio=warmup_ratio,
        beta=beta,
        epsilon=epsilon,
        epsilon_high=epsilon_high,
        num_iterations=num_iterations,
        max_steps=max_steps,
        num_epochs=num_epochs,
        micro_batch_groups=micro_batch_groups,
        gradient_accumulation_steps=gradient_accumulation_steps,
        old_logp=old_logp,
        importance_sampling=importance_sampling,
        lora=lora,
        lora_r=lora_r,
        train_audio=train_audio,
        gradient_checkpointing=gradient_checkpointing,
        precision=precision,
        seed=seed,
        save_steps=save_steps,
        logging_steps=logging_steps,
        completions_steps=completions_steps,
        report_to=report_to,
        average_last=average_last,
        family=family,
        codec=codec,
        device=device,
    )
    online_only = {
        "--prompts": prompts,
        "--round-prompts": round_prompts,
        "--rollout-config": rollout_config,
        "--k": k,
        "--max-new-tokens": max_new_tokens,
        "--rollout-backend": rollout_backend,
        "--anchoring-rows": anchoring_rows,
    }
    given = [opt for opt, v in online_only.items() if v is not None]
    if online is None and given:
        raise UserError(f"{', '.join(given)} only apply to online training", fix="add --online ROUNDS")
    rcfg = None
    if online is not None:
        from ..stages.rollout import load_config as load_rollout_config

        rcfg = load_rollout_config(
            rollout_config,
            k=k,
            max_new_tokens=max_new_tokens,
            backend=rollout_backend,
            device=device,
            anchoring_rows=anchoring_rows,
        )
    options_checked()
    with step_progress(cfg.logging_steps) as on_step:
        if rcfg is not None:
            from ..stages.train.online import train_online

            res = train_online(
                Workspace(workspace),
                cfg,
                rcfg,
                rounds=online,
                dataset=dataset,
                prompts=prompts,
                round_prompts=round_prompts,
                name=name,
                force=force,
                on_step=on_step,
            )
        else:
            res = run_train(
                Workspace(workspace), cfg, dataset=dataset, name=name, force=force, on_step=on_step
            )
    if not is_main_process():  # under accelerate launch, one process reports
        return
    if as_json:
        print_json(res)
        return
    show(res)


def is_main_process() -> bool:
    """True unless this is a non-main process of an `accelerate launch` (the stage has set up its state)."""
    from accelerate.state import PartialState

    return PartialState().is_main_process


SHOWN = (
    ("loss", "loss"),
    ("reward", "reward"),
    ("kl", "kl"),
    ("clip_ratio/region_mean", "clip"),
    ("nll", "nll"),
    ("tokens_per_s", "tok/s"),
)


def step_line(step: int, total: int, metrics: dict[str, float]) -> str:
    """`step 12/100  loss 0.0123  reward 0.51  kl 0.0004  clip 0.01  tok/s 4210`."""
    parts = [f"step {step}/{total}"]
    for key, label in SHOWN:
        if key in metrics:
            v = metrics[key]
            parts.append(f"{label} {v:.0f}" if key == "tokens_per_s" else f"{label} {v:.4g}")
    return "  ".join(parts)


def step_progress(every: int):
    """A rich progress bar on stderr with the latest step's line; without a terminal, one log line every
    `every` steps."""
    import contextlib
    import sys

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..core.progress import console

    @contextlib.contextmanager
    def ctx():
        tty = sys.stderr.isatty()
        bar = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            disable=not tty,
        )
        with bar:
            task = bar.add_task("", total=None)

            def on_step(step: int, total: int, metrics: dict[str, float]) -> None:
                if not is_main_process():
                    return
                line = step_line(step, total, metrics)
                bar.update(task, completed=step, total=total, description=line.split("  ", 1)[-1])
                if not tty and step % every == 0:
                    render.log(line)

            yield on_step

    return ctx()


def show(res: TrainResult) -> None:
    state = (
        "up to date (--force redoes it)"
        if res.up_to_date
        else (
            f"{res.steps} of {res.total_steps} steps"
            + (f", resumed from step {res.resumed_from}" if res.resumed_from is not None else "")
            + f", {res.seconds:.1f} s"
        )
    )
    render.log(f"{res.dataset} / {res.name} ({res.method}, {res.groups} groups): {state}")
    quarantined = (res.summary or {}).get("quarantined") or {}
    if quarantined:
        reasons = ", ".join(f"{n} {r}" for r, n in quarantined.items())
        render.log(f"quarantined: {reasons} (quarantine/{res.dataset}/train/{res.name})")
    rounds = (res.summary or {}).get("rounds") or []
    if rounds:  # online: what each round's rollout earned, before the round trained on it
        render.table(
            "online rounds",
            ["round", "rollout set", "accuracy", "mean reward", "zero signal", "steps"],
            [
                [
                    r["round"],
                    r["rollouts"],
                    r["rollout"].get("accuracy"),
                    r["rollout"].get("mean_reward"),
                    r["rollout"].get("zero_signal_share"),
                    f"{r.get('start_step')}-{r.get('end_step')}",
                ]
                for r in rounds
            ],
            right=["steps"],
        )
    last = (res.summary or {}).get("last") or {}
    if last:
        render.table("last step", ["measure", "value"], list(last.items()), right=["value"])
    render.log(
        f"policy: {res.policy_dir}"
        + (f"\naveraged: {res.averaged_dir}" if res.averaged_dir else "")
        + f"\nmetrics: {Path(res.run_dir) / 'metrics.jsonl'}"
    )
