"""The trainer against TRL 1.16's GRPOTrainer: the same stored groups, one optimizer step after another.

Both train the same random-weight text-only Qwen2 (`testing.models.build_tiny_qwen2_text`; TRL has no
audio path) from the same weights, on the same stored groups: a chat prompt (a synthetic question and
its options in the think style, ~150 tokens) and K completions of varied lengths (uniform in
[--min-len, --max-len] tokens, ending in end-of-turn, as real rollouts vary), with stored rewards. Same
loss type (dapo, TRL's default; --loss-type), batch (G groups x K completions per step, no accumulation),
precision (fp32), optimizer (AdamW, lr, linear schedule, clipping at 1.0), no KL (beta 0), no gradient
checkpointing, one iteration per batch (the ratio's denominator is the current policy, detached, in both).

- ours: `Trainer.train_batch(groups)` — whole groups in the group layout (the prompt once, the K
  completions packed after it, nothing padded inside a row), the LM head at completion positions only.
- TRL: `GRPOTrainer.training_step` fed by its `rollout_func`, which returns the stored prompt ids,
  completion ids and log-probs (its experimental hook for external rollouts; a reward function returns
  the stored rewards), then clipping, `optimizer.step()` and `lr_scheduler.step()` as its training loop
  does. TRL pads every completion to the batch's longest and runs the prompt once per completion.

Rounds interleave (ours then TRL, then TRL then ours, ...) so the shared CPU's load hits both alike; the
first step is the warm-up, left out of the timing. Advantages: TRL computes them from the stored rewards
(group mean, group std + 1e-4); ours are the same formula (`advantages.group_advantages` with
`scale="group"` and no minimum spread, TRL's default settings). `first_step_loss_diff`: |our loss - TRL's| on the first step, from identical weights. With
one iteration per batch the ratio is exactly 1, so a loss *value* only checks the advantages and the
normalisation (dapo: -sum(A x tokens) / tokens, whatever the log-probs); the log-probs themselves are
checked through their gradient: `first_step_grad_norm_rel_diff`, the relative difference of the global
gradient norm before clipping, which a misaligned token, a padded position counted, or any other
difference in the per-token log-probs would move.

    python benchmarks/train_vs_trl.py [--groups 4] [--k 8] [--steps 7] [--size tiny]

Last line: one JSON object {vs_trl, first_step_loss_diff, ...}; vs_trl = our completion tokens/s /
TRL's (median over the timed steps of the per-step ratio).
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


def make_groups(model, n: int, k: int, min_len: int, max_len: int, seed: int) -> list:
    """`n` stored groups of `k` completions: prompts built by the model's adapter, random completion
    tokens (ordinary vocabulary) of random lengths ending in end-of-turn, 0/1 rewards (never all equal
    within a group), advantages as rollout stores them."""
    import numpy as np

    from adqa_data.inference.types import Query
    from adqa_data.mcq.advantages import group_advantages
    from adqa_data.testing.models import synthetic_items
    from adqa_data.train.groups import Completion, Group

    rng = np.random.default_rng(seed)
    eos = model.eos_token_ids[0]
    vocab = len(model.tokenizer) - 16  # below the special tokens
    groups = []
    for i, (question, choices, _) in enumerate(synthetic_items(n, seed=seed)):
        question = f"[{i}] {question}"  # unique: TRL's rollout_func finds the group by its prompt text
        prefix, suffix = model.prompt_token_ids(Query(str(i), question, list(choices), None, str(i), "think"))
        rewards = rng.integers(0, 2, k).astype(float)
        if rewards.min() == rewards.max():
            rewards[rng.integers(k)] = 1.0 - rewards[0]
        comps = []
        for s in range(k):
            length = int(rng.integers(min_len, max_len + 1))
            ids = [int(t) for t in rng.integers(0, vocab, length - 1)] + [eos]
            comps.append(Completion(text="", token_ids=ids, reward=float(rewards[s]), index=s))
        groups.append(
            Group(
                group_id=f"g{i}",
                item_id=str(i),
                question=question,
                choices=list(choices),
                prompt_style="think",
                completions=comps,
                prompt_token_ids=prefix + suffix,
            )
        )
    ids = [g.group_id for g in groups for _ in g.completions]
    totals = np.array([c.reward for g in groups for c in g.completions])
    adv = group_advantages(
        totals, ids, baseline="mean", scale="group", min_spread=0.0, std="sample", eps=1e-4
    )
    for c, a in zip([c for g in groups for c in g.completions], adv.advantages):
        c.advantage = float(a)
    return groups


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--groups", type=int, default=4, help="groups per optimizer step")
    ap.add_argument("--k", type=int, default=8, help="completions per group")
    ap.add_argument("--steps", type=int, default=7, help="optimizer steps (the first is the warm-up)")
    ap.add_argument("--min-len", type=int, default=16)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--loss-type", default="dapo", choices=["grpo", "bnpo", "dr_grpo", "dapo"])
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--size", default="tiny", choices=["tiny", "bench"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from adqa_data.testing.models import build_tiny_qwen2_text
    from adqa_data.train.config import load_config
    from adqa_data.train.groups import SamplingInfo
    from adqa_data.train.loop import Trainer

    tmp = Path(tempfile.mkdtemp(prefix="train_vs_trl_"))
    model_dir = build_tiny_qwen2_text(tmp / "qwen2-text", size=args.size, seed=args.seed)

    # ------------------------------------------------------------------------------------------- ours
    cfg = load_config(
        None,
        loss_type=args.loss_type,
        learning_rate=args.lr,
        lr_scheduler="linear",
        warmup_ratio=0.0,
        beta=0.0,
        old_logp="recompute",
        micro_batch_groups=args.groups,
        max_completion_length=args.max_len,
        gradient_checkpointing=False,
        precision="fp32",
        save_steps=10**9,
        completions_steps=10**9,
        logging_steps=10**9,
        device="cpu",
    )
    sampling = SamplingInfo(temperature=1.0, max_new_tokens=args.max_len, policy=str(model_dir))
    ours = Trainer(cfg, tmp / "run", model=str(model_dir), sampling=sampling, total_steps=args.steps)
    groups = make_groups(
        ours.policy.model, args.groups * args.steps, args.k, args.min_len, args.max_len, args.seed
    )
    batches = [groups[i * args.groups : (i + 1) * args.groups] for i in range(args.steps)]
    by_prompt = {g.question: g for g in groups}

    # -------------------------------------------------------------------------------------------- TRL
    def rollout_func(prompts: list[str], trainer) -> dict:
        out: dict[str, list] = {"prompt_ids": [], "completion_ids": [], "logprobs": [], "stored_reward": []}
        seen: dict[str, int] = {}
        for p in prompts:  # each prompt comes K times; its i-th copy gets the stored completion i
            g = by_prompt[p]
            c = g.completions[seen.get(p, 0)]
            seen[p] = seen.get(p, 0) + 1
            out["prompt_ids"].append(list(g.prompt_token_ids))
            out["completion_ids"].append(list(c.token_ids))
            out["logprobs"].append([0.0] * len(c.token_ids))
            out["stored_reward"].append(c.reward)
        return out

    def stored_reward(prompts, completions, stored_reward, **kwargs) -> list[float]:
        return list(stored_reward)

    trl_args = GRPOConfig(
        output_dir=str(tmp / "trl"),
        per_device_train_batch_size=args.groups * args.k,
        gradient_accumulation_steps=1,
        num_generations=args.k,
        max_completion_length=args.max_len,
        learning_rate=args.lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        loss_type=args.loss_type,
        beta=0.0,
        epsilon=0.2,
        temperature=1.0,
        scale_rewards="group",
        num_iterations=1,
        max_steps=args.steps,
        bf16=False,
        fp16=False,
        use_cpu=True,
        gradient_checkpointing=False,
        report_to=[],
        logging_steps=10**9,
        save_strategy="no",
        shuffle_dataset=False,
        seed=args.seed,
    )
    tok = AutoTokenizer.from_pretrained(model_dir)
    trl_model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    trl = GRPOTrainer(
        model=trl_model,
        reward_funcs=stored_reward,
        args=trl_args,
        train_dataset=Dataset.from_list([{"prompt": g.question} for g in groups]),
        processing_class=tok,
        rollout_func=rollout_func,
    )
    trl.create_optimizer_and_scheduler(num_training_steps=args.steps)
    trl.model.train()
    trl.current_gradient_accumulation_steps = 1  # what its training loop sets before each step

    def trl_step(batch: list) -> tuple[float, float, float]:
        inputs = [{"prompt": g.question} for g in batch for _ in range(args.k)]
        t = time.perf_counter()
        loss = trl.training_step(trl.model, inputs, None)
        norm = trl.accelerator.clip_grad_norm_(trl.model.parameters(), trl_args.max_grad_norm)
        trl.optimizer.step()
        trl.lr_scheduler.step()
        trl.model.zero_grad(set_to_none=True)
        return float(loss), float(norm), time.perf_counter() - t

    def our_step(batch: list) -> tuple[float, float, float]:
        ours.state.iteration = 0  # a fresh batch, as the loop's stream starts each one
        t = time.perf_counter()
        metrics = ours.train_batch(batch)
        return float(metrics[-1]["loss"]), float(metrics[-1]["grad_norm"]), time.perf_counter() - t

    rows = []
    for s, batch in enumerate(batches):
        completion_tokens = sum(len(c.token_ids) for g in batch for c in g.completions)
        if s % 2 == 0:
            (lo, go, to), (lt, gt, tt) = our_step(batch), trl_step(batch)
        else:
            (lt, gt, tt), (lo, go, to) = trl_step(batch), our_step(batch)
        rows.append(
            {
                "step": s + 1,
                "ours_loss": lo,
                "trl_loss": lt,
                "ours_grad_norm": go,
                "trl_grad_norm": gt,
                "ours_s": to,
                "trl_s": tt,
                "completion_tokens": completion_tokens,
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    timed = rows[1:]
    ours_tps = [r["completion_tokens"] / r["ours_s"] for r in timed]
    trl_tps = [r["completion_tokens"] / r["trl_s"] for r in timed]
    padded = args.groups * args.k * (len(batches[0][0].prompt_token_ids) + args.max_len)
    result = {
        "vs_trl": round(statistics.median(o / t for o, t in zip(ours_tps, trl_tps)), 3),
        "first_step_loss_diff": abs(rows[0]["ours_loss"] - rows[0]["trl_loss"]),
        "loss_diffs": [abs(r["ours_loss"] - r["trl_loss"]) for r in rows],
        "first_step_grad_norm_rel_diff": abs(rows[0]["ours_grad_norm"] - rows[0]["trl_grad_norm"])
        / rows[0]["trl_grad_norm"],
        "grad_norms": [[r["ours_grad_norm"], r["trl_grad_norm"]] for r in rows],
        "ours_completion_tokens_per_s": round(statistics.median(ours_tps), 1),
        "trl_completion_tokens_per_s": round(statistics.median(trl_tps), 1),
        "loss_type": args.loss_type,
        "groups_per_step": args.groups,
        "k": args.k,
        "prompt_tokens": statistics.mean(len(g.prompt_token_ids) for g in groups),
        "completion_lengths": [args.min_len, args.max_len],
        "trl_padded_tokens_per_step_upper_bound": padded,
        "timed_steps": len(timed),
        "size": args.size,
        "trl_version": __import__("trl").__version__,
    }
    ours.close()
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
