"""A workspace with every table written directly (schema + workspace helpers), with known answers planted.

Used by the stats and export tests: no stage runs, so the numbers the tests expect are the ones planted
here, and the tables do not depend on the stages' internals.

Planted:
- 12 items (3 sources, 2 question types, 4 options), wav clips of 0.5 s at 16 kHz and 8 kHz (their true
  sha256 recorded, so stages that read the clips run on them), a `cot` on even items,
  a licence field in the upstream columns; 2 quarantined download rows.
- A panel m0, m1, m2 whose silent answers follow the pattern A, B, C, D repeated three times:
  A all correct, B none, C m0 and m1, D m0 only. So silence_correct = 3, 0, 2, 1 (Fleiss' kappa 1/3),
  accuracy on silence m0 3/4, m1 1/2, m2 1/4, Cohen's kappa m0-m1 1/2, m0-m2 1/5, m1-m2 1/2. Votes
  have two permutations: a correct member is right in both (0.85 on gold on average); a wrong member
  is right in one and wrong in the other, a tie that the permutation average refuses to credit.
  Letter mass: m0 reads item i at (i + 1) / 12 in every condition and rotation (median 6.5/12, 10th
  percentile 2/12), m1 at 0.25 everywhere (below the 0.5 warning), m2 records none (as in options mode).
- A prompt set `p1` of 10 items, and a rollout set `r1` of 5 groups of K=4 whose total rewards are
  [1,1,1,1], [0,0,0,0], [1,0,0,0.25], [0.25]*4 and [0,1,1,0]: three zero-signal groups of five.
- A training log runs/demo/run1/metrics.jsonl with a missing key, a non-JSON line and a blank line.
- A prediction set `e1` (one sample per item and condition). With audio every item is answered right except
  it01 (the next option), it06 (no answer) and it11 (two options): 9/12, sound 5/6, music 4/6; predicted
  letters A 3, B 2, C 3, D 2, none 2 against gold 3 each. Under silence every item answers A: right on
  it00, it04, it08 only, 3/12 (sound 3/6, music 0/6). Gap 0.5 (sound 1/3, music 2/3).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from adqa_data.core.schema import (
    ITEM_SCORES,
    ITEMS,
    PREDICTIONS,
    PROMPTS,
    QUARANTINE,
    ROLLOUTS,
    VOTES,
    TableSpec,
)
from adqa_data.core.workspace import DatasetRecord, Workspace, write_json_atomic, write_table_atomic
from adqa_data.mcq.answers import LETTERS, NoCredit

DS = "demo"
MODELS = ("m0", "m1", "m2")
PATTERN = [(1, 1, 1), (0, 0, 0), (1, 1, 0), (1, 0, 0)]  # silent correctness of m0, m1, m2 on A, B, C, D
SOURCES = ("AudioCaps", "Clotho", "MusicCaps")
TYPES = ("sound", "music")
GROUP_REWARDS = [[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 0.25], [0.25] * 4, [0, 1, 1, 0]]
N_ITEMS = 12
# audio-condition misses of the prediction set: item index -> (predicted index or None, no-credit reason)
PREDICTION_MISSES = {1: ("next", None), 6: (None, NoCredit.NO_ANSWER), 11: (None, NoCredit.MULTIPLE_OPTIONS)}
N_PROMPTS = 10
K = 4


def item_id(i: int) -> str:
    return f"it{i:02d}"


def silent_correct(i: int) -> tuple[int, int, int]:
    return PATTERN[i % 4]


def _items(root: Path) -> list[dict]:
    rows = []
    for i in range(N_ITEMS):
        rate = 16000 if i % 2 == 0 else 8000
        path = f"audio/{item_id(i)}.wav"
        t = np.arange(int(0.5 * rate)) / rate
        (root / "audio").mkdir(parents=True, exist_ok=True)
        sf.write(root / path, (0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t)).astype(np.float32), rate)
        choices = [f"option {c} of item {i}" for c in "wxyz"]
        rows.append(
            {
                "item_id": item_id(i),
                "dataset": DS,
                "split": "train",
                "source_dataset": SOURCES[i % 3],
                "question_type": TYPES[i % 2],
                "question": f"What is heard in clip {i}?",
                "choices": choices,
                "answer_index": i % 4,
                "answer_text": choices[i % 4],
                "audio_path": path,
                "audio_sha256": hashlib.sha256((root / path).read_bytes()).hexdigest(),
                "duration_s": 0.5,
                "sample_rate": rate,
                "num_channels": 1,
                "cot": f"The clip {i} has a tone, so option {i % 4}." if i % 2 == 0 else None,
                "row_index": i,
                "upstream_json": json.dumps({"license": "CC-BY-4.0" if i % 3 else "CC-BY-NC-4.0"}),
            }
        )
    return rows


def _votes(items: list[dict], model: int, condition: str) -> list[dict]:
    rows = []
    for i, it in enumerate(items):
        gold = it["answer_index"]
        right = condition == "audio" or bool(silent_correct(i)[model])
        for p in range(2):
            probs = [0.0] * 4
            if right:
                probs[gold] = 1.0 if p == 0 else 0.7
                probs[(gold + 1) % 4] += 0.0 if p == 0 else 0.3
            else:
                probs[gold if p == 0 else (gold + 2) % 4] = 1.0  # right once, wrong once: a tie
            pred = int(np.argmax(probs))
            rows.append(
                {
                    "model": MODELS[model],
                    "dataset": DS,
                    "item_id": it["item_id"],
                    "condition": condition,
                    "permutation": p,
                    "mode": "letters",
                    "predicted_index": pred,
                    "correct": pred == gold,
                    "option_probs": probs,
                    "audio_item_id": None,
                    "raw_text": None,
                    "parse_layer": None,
                    "letter_mass": ((i + 1) / 12, 0.25, None)[model],
                }
            )
    return rows


def _item_scores(items: list[dict]) -> list[dict]:
    rows = []
    for i, it in enumerate(items):
        s = silent_correct(i)
        rows.append(
            {
                "dataset": DS,
                "item_id": it["item_id"],
                "source_dataset": it["source_dataset"],
                "question_type": it["question_type"],
                "models": list(MODELS),
                "audio_contribution": [1 - x for x in s],
                "model_contribution_scores": [0.5 * (1 - x) for x in s],
                "silence_correct": sum(s),
                "audio_correct": 3,
                "noise_correct": None,
                "swap_correct": None,
                "contribution_score": float(np.mean([0.5 * (1 - x) for x in s])),
                "min_correct": 2,
                "split": "weak" if sum(s) >= 2 else "strong",
            }
        )
    return rows


def _rollouts(items: list[dict]) -> list[dict]:
    rows = []
    for g, rewards in enumerate(GROUP_REWARDS):
        it = items[g]
        mean, std = float(np.mean(rewards)), float(np.std(rewards, ddof=1))
        for s, r in enumerate(rewards):
            letter = "ABCD"[it["answer_index"] if r == 1 else (it["answer_index"] + 1) % 4]
            text = f"<think>thinking {g}.{s}</think><answer>{letter}</answer>"
            rows.append(
                {
                    "group_id": f"r1:{it['item_id']}",
                    "dataset": DS,
                    "item_id": it["item_id"],
                    "question_type": it["question_type"],
                    "source_dataset": it["source_dataset"],
                    "rollout_index": s,
                    "k": K,
                    "seed": 0,
                    "policy": "scripted",
                    "prompt_style": "think",
                    "prompt": f"<|user|>{it['question']}",
                    "choices": it["choices"],
                    "answer_index": it["answer_index"],
                    "answer_text": it["answer_text"],
                    "audio_path": it["audio_path"],
                    "audio_sha256": it["audio_sha256"],
                    "prompt_token_ids": [1, 2, 3],
                    "completion_token_ids": list(range(5 + s)),
                    "completion_text": text,
                    "completion_logprobs": [-0.5] * (5 + s),
                    "finish_reason": "length" if s == 3 else "stop",
                    "completion_length": 5 + s,
                    "parsed_index": "ABCD".index(letter),
                    "parse_layer": "answer_block",
                    "parse_reason": None,
                    "reward_correctness": float(r == 1),
                    "reward_format": 1.0,
                    "reward_anchoring": None,
                    "reward": float(r),
                    "advantage": 0.0 if std == 0 else (r - mean) / (std + 1e-4),
                    "zero_signal": std == 0,
                }
            )
    return rows


def _predictions(items: list[dict]) -> list[dict]:
    rows = []
    for cond in ("audio", "silence"):
        for i, it in enumerate(items):
            gold = it["answer_index"]
            pred, reason = PREDICTION_MISSES.get(i, (gold, None)) if cond == "audio" else (0, None)
            pred = (gold + 1) % 4 if pred == "next" else pred
            rows.append(
                {
                    "dataset": DS,
                    "item_id": it["item_id"],
                    "condition": cond,
                    "sample_index": 0,
                    "samples": 1,
                    "model": "m-planted",
                    "model_fingerprint": "fp-m-planted",
                    "prompt_style": "think",
                    "prompt_fingerprint": "fp-think",
                    "seed": 0,
                    "temperature": 0.0,
                    "raw_output": "<answer>A</answer><answer>B</answer>"
                    if pred is None
                    else f"<answer>{LETTERS[pred]}</answer>",
                    "finish_reason": "stop",
                    "predicted_index": pred,
                    "predicted_letter": None if pred is None else LETTERS[pred],
                    "predicted_text": None if pred is None else it["choices"][pred],
                    "parse_layer": None if pred is None else "answer_block",
                    "parse_reason": reason,
                    "voted_index": pred,
                    "voted_text": None if pred is None else it["choices"][pred],
                    "vote_count": 0 if pred is None else 1,
                    "num_choices": 4,
                    "answer_index": gold,
                    "correct": pred == gold,
                    "voted_correct": pred == gold,
                    "question_type": it["question_type"],
                    "source_dataset": it["source_dataset"],
                    "part": None,
                    "letter_probs": None,
                    "letter_argmax": None,
                }
            )
    return rows


def _shard(ws: Workspace, spec: TableSpec, rows: list[dict], *parts: str) -> None:
    """Write `rows` as the one shard of table `spec` under `parts` (dataset, then set or model/condition)."""
    write_table_atomic(ws.table_dir(spec.name, *parts) / "part-00000.parquet", spec.from_pylist(rows), spec)


def _finished(ws: Workspace, stage: str, unit: str | None, config: dict, inputs: dict, **extra) -> None:
    """A complete provenance record of `stage` on the dataset (one `unit` of it, when given)."""
    record = {"stage": stage, "dataset": DS, **({"unit": unit} if unit else {}), "status": "complete"}
    record |= {"key": f"k-{stage}", "config": config, "inputs": inputs, **extra}
    write_json_atomic(ws.provenance_path(stage, DS, unit), record)


def build_workspace(base: Path) -> Workspace:
    """Write the planted workspace under `base` (see the module docstring)."""
    root = base / "data"
    ws = Workspace(base / "w")
    items = _items(root)
    ws.register_dataset(
        DatasetRecord(name=DS, root=str(root), layout="generic", split="train", source=str(root))
    )
    _shard(ws, ITEMS, items, DS)
    _finished(
        ws,
        "download",
        None,
        {"from_dir": str(root), "layout": "generic"},
        {"source": "fp-source"},
        summary={"input_rows": N_ITEMS + 2},
    )
    quarantine = [
        {
            "dataset": DS,
            "stage": "download",
            "row_index": N_ITEMS + j,
            "item_id": None,
            "reason": reason,
            "detail": "planted",
            "raw": "{}",
        }
        for j, reason in enumerate(("audio_missing", "invalid_json"))
    ]
    _shard(ws, QUARANTINE, quarantine, DS, "download")
    for m in range(len(MODELS)):
        for cond in ("audio", "silence"):
            _shard(ws, VOTES, _votes(items, m, cond), DS, MODELS[m], cond)
    _shard(ws, ITEM_SCORES, _item_scores(items), DS)
    _finished(
        ws,
        "filter",
        None,
        {"panel": "planted", "models": list(MODELS), "min_correct": 2},
        {"items": "fp-items"},
    )
    prompts = [
        {
            "dataset": DS,
            "item_id": it["item_id"],
            "question_type": it["question_type"],
            "source_dataset": it["source_dataset"],
            "draw": d,
        }
        for d, it in enumerate(items[:N_PROMPTS])
    ]
    _shard(ws, PROMPTS, prompts, DS, "p1")
    _finished(
        ws,
        "sample",
        "p1",
        {"n": N_PROMPTS, "split": "all", "weights": "uniform", "seed": 0},
        {"pool": "fp-pool"},
    )
    _shard(ws, ROLLOUTS, _rollouts(items), DS, "r1")
    _finished(
        ws,
        "rollout",
        "r1",
        {"prompts": "p1", "k": K, "backend": "scripted", "rewards": {"correctness": 1.0}},
        {"prompts": "fp-prompts", "model": "fp-model"},
    )
    _shard(ws, PREDICTIONS, _predictions(items), DS, "e1")
    _finished(
        ws,
        "eval",
        "e1",
        {"model": "m-planted", "prompt_style": "think", "samples": 1, "silence": True},
        {"items": "fp-items", "model": "fp-m-planted"},
    )
    run = ws.root / "runs" / DS / "run1"
    run.mkdir(parents=True)
    lines = [
        json.dumps(
            {
                "step": s,
                "loss": 1.0 / (s + 1),
                "reward": 0.1 * s,
                "kl": 0.01 * s,
                "clip_ratio": 0.0,
                "phase": "train",
            }
        )
        for s in range(1, 6)
    ]
    lines[2] = json.dumps({"step": 3, "loss": 0.25, "phase": "train"})  # no reward, kl, clip_ratio this step
    (run / "metrics.jsonl").write_text("\n".join([*lines, "not json", ""]) + "\n")
    return ws
