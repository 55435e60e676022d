"""Proof that the trainer learns: online GRPO teaches a tiny random Qwen2-Audio to answer from the audio.

The task (`adqa_data.demo.toy`): "Which tone is played in the recording?" with the same four options,
in the same order, on every item; only the clip's pitch decides the answer. The chain, all through the
toolkit's own stages on CPU:

1. a random-weight Qwen2-Audio ("tiny": 2 decoder layers of 128, a 2-layer audio encoder) and three
   datasets downloaded from the AudioMCQ layout: `toy-train` (tone clips), `toy-test` (held-out tone
   clips, balanced letters), `toy-sft` (silent clips with uniformly random gold letters);
2. `accuracy_before`: the eval stage (greedy, think-style prompt) on `toy-test`, with the audio and with
   1 s of silence in its place;
3. an SFT warm start (`train --method sft`) on `toy-sft`: it teaches the reply format
   `<think></think><answer>X</answer>` and, since the clips are silent and the letters random, nothing
   about the task (`accuracy_after_sft` checks that);
4. online GRPO (`train --online`): each round, the rollout stage samples K completions per prompt of the
   next slice of `toy-train` with the trainer's current weights, rewards them (correctness 1, format
   0.25) and the trainer takes one pass over that round's groups;
5. `accuracy_after` / `silent_accuracy_after`: the eval stage again; `reward_before` / `reward_after`:
   mean reward of K samples per held-out prompt from the warm-started and the final policy (the rollout
   stage on `toy-test`).

`step_time_ratio`: the trainer's optimizer step on a batch of stored groups (its group layout: prompt
once, K completions after it, LM head at completion positions only, frozen audio embeddings computed
once) against a plain training step on the same token rows (the checkpoint's own forward with labels,
causal attention, then backward, clipping and AdamW), both with the audio features computed in the
step; the median of the ratios of back-to-back repeats, on one thread. A plain forward+backward alone (no
clip/AdamW) is also reported (`step_time_ratio_vs_fwd_bwd`).

Settings that differ from the production defaults (pipelines/train/reference-000.yaml), and why: a tiny
random model needs a far larger learning rate (1e-3 instead of 1e-6: its weights start at the init scale,
nowhere near a pretrained optimum, and only ~130 steps fit in the time); no KL term (beta 0: the reference
is a near-random model, nothing worth staying near); groups whose K rewards are all equal are skipped
(without KL they carry no gradient); a constant schedule with a short warm-up; K = 16 completions per
prompt and 8 groups per step (with K = 8 and 4 groups, the step's noise outweighed the audio signal: Adam
moved every weight by ~lr in a random direction each step, the letter distribution collapsed onto one
letter regardless of the clip and the format broke; K costs little here, since the group layout runs the
prompt once for all K); a 24-token completion limit (the format needs ~12). Each round takes fresh
prompts (16 rounds x 64).

    python benchmarks/toy_grpo.py [--rounds 16] [--round-prompts 64] [--k 16] [--lr 1e-3] [--work DIR]

Last line: one JSON object {accuracy_before, accuracy_after_sft, accuracy_after, silent_accuracy_after,
reward_before, reward_after, steps, seconds, step_time_ratio, ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STYLE = "think"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def evaluate_policy(ws, model: str, name: str, args) -> tuple[float, float]:
    """(accuracy with the audio, accuracy with 1 s of silence) of greedy answers on toy-test."""
    from adqa_data.stages.eval import load_config as eval_config
    from adqa_data.stages.eval.stage import evaluate

    cfg = eval_config(
        None,
        model=model,
        prompt_style=STYLE,
        max_new_tokens=args.max_new_tokens,
        silence=True,
        silence_seconds=1.0,
        device="cpu",
    )
    res = evaluate(ws, cfg, dataset="toy-test", name=name)
    cond = res.summary["conditions"]
    return float(cond["audio"]["accuracy"]), float(cond["silence"]["accuracy"])


def heldout_reward(ws, model: str, name: str, args) -> float:
    """Mean reward of K sampled completions per held-out prompt (the rollout stage on toy-test)."""
    from adqa_data.stages.rollout import load_config as rollout_config
    from adqa_data.stages.rollout import rollout

    cfg = rollout_config(
        None,
        model=model,
        k=args.k,
        max_new_tokens=args.max_new_tokens,
        prompt_style=STYLE,
        rewards={"correctness": 1.0, "format": 0.25},
        seed=12345,
        device="cpu",
    )
    res = rollout(ws, cfg, dataset="toy-test", prompts="test", name=name)
    return float(res.summary["mean_reward"])


def step_time_ratio(ws, policy: str, rollouts: str, args) -> dict[str, float]:
    """The trainer's optimizer step vs a plain training step on the same token rows (module docstring)."""
    import torch

    from adqa_data.inference.adapters.base import whisper_features
    from adqa_data.stages.rollout.contract import load_rollout_groups
    from adqa_data.train.config import load_config
    from adqa_data.train.loop import Trainer

    groups, info = load_rollout_groups(ws, "toy-train", [rollouts])
    cfg = load_config(
        None,
        learning_rate=1e-5,
        beta=0.0,
        warmup_ratio=0.0,
        micro_batch_groups=args.timing_groups,
        save_steps=10**9,
        completions_steps=10**9,
        logging_steps=10**9,
    )
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, model=policy, sampling=info, total_steps=10**9)
        model = trainer.policy.model
        # the checkpoint's own forward takes every placeholder token for audio: leave out the (rare)
        # groups where a sampled completion contains one
        audio_id = model.audio_token_id
        groups = [g for g in groups if all(audio_id not in c.token_ids for c in g.completions)]
        groups = groups[: args.timing_groups]
        batch = trainer.collate(groups)
        params = [p for p in model.module.parameters() if p.requires_grad]
        plain_opt = torch.optim.AdamW(params, lr=1e-12)
        ids = batch.input_ids
        labels = ids.clone()
        labels[batch.input_ids == model.audio_token_id] = -100

        def ours() -> float:
            trainer.state.iteration = 0
            t = time.perf_counter()
            trainer.train_batch(groups)
            return time.perf_counter() - t

        def plain(step: bool) -> float:
            t = time.perf_counter()
            feats = whisper_features(model.feature_extractor, batch.clips, 16000)
            out = model.module(
                input_ids=ids,
                input_features=feats.input_features,
                feature_attention_mask=feats.attention_mask,
                labels=labels,
                use_cache=False,
            )
            out.loss.backward()
            if step:
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                plain_opt.step()
            plain_opt.zero_grad(set_to_none=True)
            return time.perf_counter() - t

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one thread: the shared machine's load then perturbs both alike
        for _ in range(2):  # warm-up
            ours(), plain(True), plain(False)
        a, b, c = [], [], []
        for _ in range(args.timing_repeats):
            a.append(ours())
            b.append(plain(True))
            c.append(plain(False))
        torch.set_num_threads(threads)
        trainer.close()
    ta, tb, tc = statistics.median(a), statistics.median(b), statistics.median(c)
    return {  # the median of the ratios of back-to-back runs (robust to load that changes over time)
        "step_time_ratio": round(statistics.median(x / y for x, y in zip(a, b)), 3),
        "step_time_ratio_vs_fwd_bwd": round(statistics.median(x / z for x, z in zip(a, c)), 3),
        "trainer_step_s": round(ta, 4),
        "plain_step_s": round(tb, 4),
        "plain_fwd_bwd_s": round(tc, 4),
        "timing_tokens": int(batch.tokens),
        "timing_completion_tokens": int(batch.completion_tokens),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=16)
    ap.add_argument("--round-prompts", type=int, default=64)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--groups-per-step", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--sft-items", type=int, default=64)
    ap.add_argument("--sft-steps", type=int, default=30)
    ap.add_argument("--sft-batch", type=int, default=8)
    ap.add_argument("--sft-lr", type=float, default=3e-3)
    ap.add_argument("--test-items", type=int, default=48)
    ap.add_argument("--size", default="tiny", choices=["tiny", "bench"])
    ap.add_argument("--audio-window", type=int, default=2, help="the encoder's input window in seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timing-groups", type=int, default=8)
    ap.add_argument("--timing-repeats", type=int, default=9)
    ap.add_argument(
        "--work", type=Path, default=None, help="keep everything here (default: a temporary folder, removed)"
    )
    args = ap.parse_args()

    import torch

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    from adqa_data.core.workspace import Workspace
    from adqa_data.demo.toy import write_pitch_task
    from adqa_data.stages.download import download
    from adqa_data.stages.rollout import load_config as rollout_config
    from adqa_data.stages.sample import sample
    from adqa_data.stages.train import train as run_train
    from adqa_data.stages.train.online import train_online
    from adqa_data.testing.models import build_tiny_qwen2_audio
    from adqa_data.train.config import load_config

    started = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="toy_grpo_"))
    work.mkdir(parents=True, exist_ok=True)
    model = build_tiny_qwen2_audio(
        work / "policy-random", size=args.size, seed=args.seed, audio_window_s=args.audio_window
    )
    n_train = args.rounds * args.round_prompts
    roots = {
        "toy-train": write_pitch_task(work / "data" / "train", n_train, seed=args.seed + 1),
        "toy-test": write_pitch_task(work / "data" / "test", args.test_items, seed=args.seed + 2),
        "toy-sft": write_pitch_task(work / "data" / "sft", args.sft_items, seed=args.seed + 3, silent=True),
    }
    ws = Workspace(work / "ws")
    for name, root in roots.items():
        download(ws, from_dir=root, name=name)
    sample(ws, "toy-test", n=args.test_items, split="all", seed=0, name="test")
    sample(ws, "toy-train", n=n_train, split="all", seed=0, name="train")
    log(f"data and model ready in {time.perf_counter() - started:.0f} s")

    acc_before, silent_before = evaluate_policy(ws, str(model), "before", args)
    log(
        f"before: accuracy {acc_before:.3f} (silent {silent_before:.3f}) ({time.perf_counter() - started:.0f} s)"
    )

    sft_cfg = load_config(
        None,
        method="sft",
        split="all",
        model=str(model),
        sft_prompt_style=STYLE,
        sft_use_cot=False,
        learning_rate=args.sft_lr,
        lr_scheduler="constant",
        warmup_ratio=0.0,
        max_steps=args.sft_steps,
        micro_batch_groups=args.sft_batch,
        save_steps=10**9,
        completions_steps=10**9,
        seed=args.seed,
    )
    sft = run_train(ws, sft_cfg, dataset="toy-sft", name="sft")
    log(f"SFT: {sft.steps} steps ({time.perf_counter() - started:.0f} s)")
    acc_sft, silent_sft = evaluate_policy(ws, sft.policy_dir, "after-sft", args)
    reward_before = heldout_reward(ws, sft.policy_dir, "heldout-sft", args)
    log(f"after SFT: accuracy {acc_sft:.3f} (silent {silent_sft:.3f}), held-out reward {reward_before:.3f}")

    grpo_cfg = load_config(
        None,
        model=sft.policy_dir,
        learning_rate=args.lr,
        lr_scheduler="constant",
        warmup_ratio=0.02,
        beta=0.0,
        skip_zero_signal=True,
        micro_batch_groups=args.groups_per_step,
        save_steps=10**9,
        completions_steps=10**9,
        seed=args.seed,
    )
    rcfg = rollout_config(
        None,
        k=args.k,
        max_new_tokens=args.max_new_tokens,
        prompt_style=STYLE,
        rewards={"correctness": 1.0, "format": 0.25},
        device="cpu",
        seed=args.seed,
    )
    train_rewards: list[float] = []

    def on_round(k: int, rec: dict) -> None:
        r = rec["rollout"]
        train_rewards.append(r["mean_reward"])
        log(
            f"round {k}: rollout accuracy {r['accuracy']:.3f}, reward {r['mean_reward']:.3f}, "
            f"zero-signal {r['zero_signal_share']:.2f}, steps {rec['start_step']}->{rec['end_step']} "
            f"({time.perf_counter() - started:.0f} s)"
        )

    grpo = train_online(
        ws,
        grpo_cfg,
        rcfg,
        rounds=args.rounds,
        dataset="toy-train",
        prompts="train",
        round_prompts=args.round_prompts,
        name="grpo",
        on_round=on_round,
    )
    acc_after, silent_after = evaluate_policy(ws, grpo.policy_dir, "after-grpo", args)
    reward_after = heldout_reward(ws, grpo.policy_dir, "heldout-grpo", args)
    log(
        f"after GRPO: accuracy {acc_after:.3f} (silent {silent_after:.3f}), held-out reward {reward_after:.3f}"
    )
    seconds = time.perf_counter() - started
    timing = step_time_ratio(ws, grpo.policy_dir, f"grpo-round{args.rounds}", args)
    result = {
        "accuracy_before": acc_before,
        "accuracy_after_sft": acc_sft,
        "accuracy_after": acc_after,
        "silent_accuracy_before": silent_before,
        "silent_accuracy_after_sft": silent_sft,
        "silent_accuracy_after": silent_after,
        "reward_before": round(reward_before, 4),
        "reward_after": round(reward_after, 4),
        "train_reward_by_round": [round(r, 4) for r in train_rewards],
        "steps": grpo.steps,
        "sft_steps": sft.steps,
        "rounds": args.rounds,
        "k": args.k,
        "train_prompts": n_train,
        "test_prompts": args.test_items,
        "lr": args.lr,
        "seconds": round(seconds, 1),
        **timing,
        "goal_met": acc_sft <= 0.4 and acc_after >= 0.9 and silent_after <= 0.35,
    }
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    else:
        result["workspace"] = str(ws.root)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
