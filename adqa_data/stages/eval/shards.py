"""One eval shard: ask a chunk of items under each condition, parse every sample, vote, write the rows.

A shard is a plain dict (`eval_shard(task)`), so it runs in-process or as a Ray task, and its rows
depend only on the task: sample s of item i under condition c comes from a generator seeded by
(seed, "i|c", s), whatever shard or batch it is in (`Query.key = "<item_id>|<condition>"`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ...audio.clips import AudioError, read_failure, read_item_audio, silence
from ...core.schema import PREDICTIONS
from ...core.workspace import StageRun
from ...inference.multiple_choice import SampledAnswer, ask, sample_answers
from ...inference.types import Backend, Query, Sampling
from ...mcq.answers import LETTERS
from ...mcq.prompt_styles import get_style
from .config import EvalConfig
from .metrics import majority_vote

LETTER_STYLE = "letters"  # the style letters are read with when the run's style has no letter position


def _code_queries(
    items: list[Mapping[str, Any]],
    conditions: list[str],
    cfg: EvalConfig,
    source: Mapping[str, str],
    device: str,
) -> list[Query]:
    """The queries of a model that reads RVQ codes (MiMo-Audio): each clip's cached codes, and the
    silence's codes encoded once by the same codec and cached. No audio file is opened."""
    from ...codecs.consumers import ItemCodes
    from ...core.workspace import Workspace

    codes = ItemCodes(Workspace(source["workspace"]), source["dataset"], source["codec_key"])
    clips = dict(zip((it["item_id"] for it in items), codes.load([it["item_id"] for it in items])))
    quiet = None
    if "silence" in conditions:
        quiet = codes.generated(silence(cfg.silence_seconds, codes.sample_rate), device)
    quiet_id = f"silence:{cfg.silence_seconds}@{codes.codec_key}"
    return [
        Query(
            key=f"{it['item_id']}|{cond}",
            question=it["question"],
            choices=list(it["choices"]),
            audio=None,
            audio_id=f"{it['audio_sha256']}@{codes.codec_key}" if cond == "audio" else quiet_id,
            prompt_style=cfg.prompt_style,
            codes=clips[it["item_id"]] if cond == "audio" else quiet,
        )
        for it in items
        for cond in conditions
    ]


def _queries(
    items: list[Mapping[str, Any]], conditions: list[str], cfg: EvalConfig, rate: int
) -> list[Query]:
    quiet = silence(cfg.silence_seconds, rate)
    quiet_id = f"silence:{cfg.silence_seconds}@{rate}"
    queries = []
    for it in items:
        for cond in conditions:
            if cond == "audio":
                try:  # checked before the run (row_checks); a file changed since then stops it here
                    audio = read_item_audio(it["root"], it["audio_path"], it["audio_sha256"], rate)
                except AudioError as e:
                    raise read_failure(e, f"item {it['item_id']}", it["audio_file"]) from None
                audio_id = f"{it['audio_sha256']}@{rate}"
            else:
                audio, audio_id = quiet, quiet_id
            queries.append(
                Query(
                    key=f"{it['item_id']}|{cond}",
                    question=it["question"],
                    choices=list(it["choices"]),
                    audio=audio,
                    audio_id=audio_id,
                    prompt_style=cfg.prompt_style,
                )
            )
    return queries


def letter_scores(backend: Backend, queries: list[Query]) -> list[np.ndarray]:
    """P(letter) per shown option, read with the run's style when it has a letter position (the
    backend prefills up to it), else with the letters style."""
    style = (
        queries[0].prompt_style
        if queries and get_style(queries[0].prompt_style).letter_prefix is not None
        else LETTER_STYLE
    )
    return [a.probs for a in ask(backend, "letters", [replace(q, prompt_style=style) for q in queries])]


def eval_shard(task: dict[str, Any], backend: Backend) -> dict[str, Any]:
    """Answer, parse and vote one chunk of items under every condition with `backend` (the model
    `task["policy"]` names, loaded by the caller), and write its shard."""
    cfg = EvalConfig(**task["config"])
    items, conditions = task["items"], task["conditions"]
    if task.get("codes"):
        from ...inference.factory import default_device

        queries = _code_queries(items, conditions, cfg, task["codes"], default_device(cfg.device))
    else:
        queries = _queries(items, conditions, cfg, backend.sample_rate)
    sampling = Sampling.of(cfg, n=cfg.samples, temperature=cfg.effective_temperature, logprobs=False)
    answers = sample_answers(backend, queries, sampling)
    scores: dict[str, np.ndarray] = {}
    if cfg.letter_scores:
        audio_q = [q for q in queries if q.key.endswith("|audio")]
        scores = dict(zip((q.key for q in audio_q), letter_scores(backend, audio_q)))
    by_id = {it["item_id"]: it for it in items}
    rows = []
    for q, samples in zip(queries, answers):
        item_id, _, cond = q.key.rpartition("|")
        rows += _rows(task, cfg, by_id[item_id], cond, q, samples, scores.get(q.key))
    StageRun.write_shard(Path(task["out_dir"]), task["index"], PREDICTIONS.from_pylist(rows), PREDICTIONS)
    return {"index": task["index"], "items": len(items), "rows": len(rows)}


def _rows(
    task: Mapping[str, Any],
    cfg: EvalConfig,
    it: Mapping[str, Any],
    cond: str,
    q: Query,
    samples: list[SampledAnswer],
    probs: np.ndarray | None,
) -> list[dict[str, Any]]:
    parsed = [a.parsed for a in samples]
    vote = majority_vote([p.index for p in parsed], [p.reason for p in parsed])
    gold = it["answer_index"]
    graded = gold is not None
    common = {
        "dataset": task["dataset"],
        "item_id": it["item_id"],
        "condition": cond,
        "samples": cfg.samples,
        "model": cfg.model or cfg.backend,
        "model_fingerprint": task["model_fingerprint"],
        "prompt_style": cfg.prompt_style,
        "prompt_fingerprint": task["prompt_fingerprint"],
        "seed": cfg.seed,
        "temperature": cfg.effective_temperature,
        "voted_index": vote.index,
        "voted_text": None if vote.index is None else q.choices[vote.index],
        "vote_count": vote.count,
        "num_choices": len(q.choices),
        "answer_index": gold,
        "voted_correct": (vote.index == gold) if graded else None,
        "question_type": it["question_type"],
        "source_dataset": it["source_dataset"],
        "part": it["part"],
        "letter_probs": None if probs is None else probs.astype(np.float32).tolist(),
        "letter_argmax": None if probs is None else int(np.argmax(probs)),
    }
    return [
        {
            **common,
            "sample_index": s,
            "raw_output": a.text,
            "finish_reason": a.finish_reason,
            "predicted_index": p.index,
            "predicted_letter": None if p.index is None else LETTERS[p.index],
            "predicted_text": p.text,
            "parse_layer": p.layer,
            "parse_reason": p.reason,
            "correct": (p.index == gold) if graded else None,
        }
        for s, (a, p) in enumerate(zip(samples, parsed))
    ]
