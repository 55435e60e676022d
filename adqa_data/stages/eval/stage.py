"""The eval stage over `StageRun`: plan item shards, run them, summarize with `metrics`.

Output: `predictions/<dataset>/<name>/part-*.parquet` (schema `PREDICTIONS`). Shard i holds items
[i*shard_size, (i+1)*shard_size) of the item table in table order, every condition and every sample of
each, so a shard is the unit of work, of resume (a killed run redoes only unfinished shards) and of a Ray
task (`--engine ray`). The run key covers the settings (not `backend_options`/device), the items'
question/choices/answer/audio/part, the model's fingerprint and the prompt style's definition, so a rerun
with the same inputs is a no-op and any change starts clean.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...codecs.consumers import policy_codes
from ...core.config_files import run_shorthand
from ...core.engine import Engine, map_with_state
from ...core.errors import UserError
from ...core.fingerprints import model_fingerprint, rows_fingerprint, stable_hash
from ...core.names import name_part
from ...core.quarantine import write_quarantine
from ...core.results import SetResult
from ...core.schema import ITEMS, PREDICTIONS
from ...core.workspace import StageRun, Workspace, read_table
from ...inference.factory import GENERATION_LIBRARIES, default_device
from ...inference.trust import check_model_ref
from ...inference.types import Backend
from ...mcq.prompt_styles import get_style
from ..rollout.policy import Policies
from ..row_checks import (
    ASKED_COLUMNS,
    DEFAULT_MAX_PROMPT_TOKENS,
    PromptCheck,
    byte_count,
    check_items,
    quarantine_rows,
    token_counter,
)
from . import metrics
from .config import EvalConfig
from .parts import item_part, load_parts_file
from .shards import eval_shard

STAGE = "eval"
BackendFactory = Callable[[dict[str, Any]], Backend]


@dataclass(kw_only=True)
class EvalResult(SetResult):
    items: int = 0


def prompt_fingerprint(style: str) -> str:
    """The style's whole definition (system prompt, templates), not just its name."""
    return stable_hash(get_style(style).model_dump())


def plan_items(ws: Workspace, dataset: str, parts: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The item table in table order, with the audio file and the DCASE part: one JSON-able record per item."""
    rec = ws.dataset(dataset)
    cols = [*ASKED_COLUMNS, "question_type", "source_dataset", "upstream_json"]
    items = ws.read(ITEMS, rec.name, columns=cols).to_pylist()
    if not items:
        raise UserError(f"dataset {rec.name!r} has no items", fix="run 'adqa-data download' first")
    out = []
    for it in items:
        part = (parts or {}).get(it["item_id"]) or item_part(
            rec.layout, it["source_dataset"], it["upstream_json"]
        )
        out.append(
            {
                **{k: v for k, v in it.items() if k != "upstream_json"},
                "part": part,
                "audio_file": str(rec.resolve(it["audio_path"])),
                "root": rec.root,
            }
        )
    return out


def default_name(cfg: EvalConfig) -> str:
    tag = name_part(Path(cfg.model.rstrip("/")).name) if cfg.model else cfg.backend
    return f"{tag}-{name_part(cfg.prompt_style, 20)}-n{cfg.samples}-seed{cfg.seed}"


def _check_model(cfg: EvalConfig) -> None:
    if cfg.backend == "scripted":
        return
    if not cfg.model:
        raise UserError(f"the {cfg.backend} backend needs a model", fix="pass --model PATH_OR_HUB_ID")
    check_model_ref(cfg.model, None, "--model")  # rollout's check: a missing folder, or not cached offline


def evaluate(
    ws: Workspace,
    config: EvalConfig | None = None,
    dataset: str | None = None,
    name: str | None = None,
    parts_file: str | Path | None = None,
    **keywords: Any,
) -> EvalResult:
    """`run` with the dataset, set name, parts file and any other setting as keywords over `config`
    (checked here, each problem one line naming its option); the other keywords are `run`'s."""
    given = {**keywords, "dataset": dataset, "name": name, "parts": parts_file}
    return run_shorthand(run, ws, EvalConfig, config, "eval settings", given)


def run(
    ws: Workspace,
    config: EvalConfig,
    *,
    engine: Engine = "local",
    workers: int | None = None,
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    backend_factory: BackendFactory | None = None,
    policies: Policies | None = None,
) -> EvalResult:
    """Answer every item of a dataset and write `predictions/<dataset>/<name>/` (module docstring).

    `backend_factory(spec)` replaces loading the model (local engine only: tests, a backend built by the
    caller); `policies`: load the model through the caller's (kept loaded after the run: the caller
    closes it), else the run loads and releases its own. On Ray each worker owns its model."""
    parts_file = config.parts
    ds = ws.dataset(config.dataset).name
    _check_model(config)
    prompt_fp = prompt_fingerprint(config.prompt_style)
    parts = load_parts_file(parts_file) if parts_file else None
    items = plan_items(ws, ds, parts)
    graded = sum(it["answer_index"] is not None for it in items)
    use_silence = config.silence if config.silence is not None else graded > 0
    conditions = ["audio", "silence"] if use_silence else ["audio"]
    name = config.name or default_name(config)
    ids = [it["item_id"] for it in items]
    codes = policy_codes(ws, ds, config.backend, config.model, config.family, None, ids)
    run_config = {
        **config.run_config(),
        "name": name,
        "conditions": conditions,
        "schema": PREDICTIONS.version,
    }
    if codes is not None:  # a model that reads codes (MiMo-Audio): its clips are this index's codes
        run_config["codec_key"] = codes["codec_key"]
    inputs = {
        "items": rows_fingerprint(
            [it[c] for c in ("item_id", "question", "choices", "answer_index", "audio_sha256", "part")]
            for it in items
        ),
        "model": model_fingerprint(config.model) if config.backend != "scripted" else "scripted",
        "prompt": prompt_fp,
    }
    run = StageRun(
        ws, STAGE, ds, run_config, inputs, force=force, unit=name, extra_versions=GENERATION_LIBRARIES
    )
    out_dir = str(ws.table_dir(PREDICTIONS.name, ds, name))
    with run:
        if run.up_to_date:
            return EvalResult.recorded(ws.provenance(STAGE, ds, name), dataset=ds, name=name, out_dir=out_dir)
        # one bad item is quarantined, not fatal: audio, option count and prompt length, before the model loads
        items, refused = _refuse_items(ws, ds, items, config, audio=codes is None)
        write_quarantine(run, refused, name)
        if not items:
            raise UserError(
                f"no item of dataset {ds!r} can be evaluated: {len(refused)} quarantined",
                where=f"quarantine/{ds}/{STAGE}/{name}",
                fix="see the reasons with 'adqa-data info'",
            )
        out = run.output(
            PREDICTIONS.name, name, key=stable_hash([run.key, [q["item_id"] for q in refused]], n=24)
        )
        size = config.shard_size
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        common = {
            "out_dir": str(out),
            "dataset": ds,
            "conditions": conditions,
            "config": config.model_dump(),
            "policy": config.policy_spec(),
            "model_fingerprint": inputs["model"],
            "prompt_fingerprint": prompt_fp,
            "codes": codes,
        }
        todo = [
            {**common, "index": i, "items": chunk}
            for i, chunk in enumerate(chunks)
            if not StageRun.shard_done(out, i)
        ]
        done = len(items) - sum(len(t["items"]) for t in todo)
        if on_progress:
            on_progress(done, len(items))
        _run_shards(todo, config, engine, workers, backend_factory, policies, on_progress, done, len(items))
        missing = [i for i in range(len(chunks)) if not StageRun.shard_done(out, i)]
        if missing:  # never record a run as complete with items left out
            raise RuntimeError(f"eval shards {missing[:5]} were not written; rerun to resume")
        table = read_table(out, PREDICTIONS)
        expected = len(items) * len(conditions) * config.samples
        if table.num_rows != expected:
            raise RuntimeError(f"{table.num_rows} prediction rows, expected {expected}")
        summary = summarize(table)
        summary.update(
            layout=ws.dataset(ds).layout,
            shards=len(chunks),
            shards_written=len(todo),
            parts_file=str(parts_file) if parts_file else None,
            quarantined=dict(sorted(Counter(q["reason"] for q in refused).items())),
        )
        prov = run.finish(summary)
    return EvalResult.finished(summary, prov["seconds"], dataset=ds, name=name, out_dir=out_dir)


def _refuse_items(
    ws: Workspace, dataset: str, items: list[dict[str, Any]], cfg: EvalConfig, audio: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The items the model can be asked, and quarantine rows for the others (`row_checks`)."""
    count, unit = (byte_count, "UTF-8 bytes") if cfg.backend == "scripted" else token_counter(cfg.model)
    root = items[0]["root"] if items else ""
    refused = check_items(
        root,
        items,
        [PromptCheck(cfg.prompt_style, count, unit, "the model")],
        DEFAULT_MAX_PROMPT_TOKENS,
        audio=audio,
    )
    if not refused:
        return items, []
    return [it for it in items if it["item_id"] not in refused], quarantine_rows(ws, dataset, refused)


def _run_shards(
    todo: list[dict[str, Any]],
    config: EvalConfig,
    engine: Engine,
    workers: int | None,
    factory: BackendFactory | None,
    policies: Policies | None,
    on_progress: Callable[[int, int], None] | None,
    done: int,
    total: int,
) -> None:
    """Answer the shards left: on Ray each worker loads and owns its model; in-process, the caller's
    backend (`factory`) or policies, else policies of this run's own, released at its end."""
    if engine == "ray":
        if factory is not None:
            raise UserError("a backend factory runs in-process only", fix="use engine='local'")
        ray_options = {"num_gpus": 1} if default_device(config.device) == "cuda" else None
        results = map_with_state(
            _eval_with, Policies, Policies.close, todo, engine="ray", workers=workers, ray_options=ray_options
        )
        for res in results:
            done += res["items"]
            if on_progress:
                on_progress(done, total)
        return
    backend = factory(config.policy_spec()) if factory is not None and todo else None
    owned = Policies() if policies is None else None
    try:
        for task in todo:
            res = eval_shard(task, backend or (policies or owned).get(task["policy"]).backend)  # type: ignore[union-attr]
            done += res["items"]
            if on_progress:
                on_progress(done, total)
    finally:
        if backend is not None:
            backend.close()
        if owned is not None:
            owned.close()


def _eval_with(policies: Policies, task: dict[str, Any]) -> dict[str, Any]:
    """One shard with the worker's own loaded policies (a Ray actor's state)."""
    return eval_shard(task, policies.get(task["policy"]).backend)


def outcomes(rows: list[dict[str, Any]], condition: str) -> list[metrics.Outcome]:
    """The voted answer of every item under one condition (read from its first sample's row)."""
    return [
        metrics.Outcome(
            r["item_id"],
            condition,
            r["voted_index"],
            r["answer_index"],
            r["num_choices"],
            r["question_type"],
            r["source_dataset"],
            r["part"],
        )
        for r in rows
        if r["condition"] == condition and r["sample_index"] == 0
    ]


def summarize(table: pa.Table) -> dict[str, Any]:
    """Every figure eval reports (see `metrics`), per condition, the gap, and the letter-score fallback."""
    cols = [
        "item_id",
        "condition",
        "sample_index",
        "samples",
        "predicted_index",
        "parse_reason",
        "voted_index",
        "num_choices",
        "answer_index",
        "correct",
        "question_type",
        "source_dataset",
        "part",
        "letter_argmax",
    ]
    rows = table.select(cols).to_pylist()
    conds = [c for c in ("audio", "silence") if any(r["condition"] == c for r in rows)]
    summary: dict[str, Any] = {
        "items": len({r["item_id"] for r in rows}),
        "rows": len(rows),
        "samples": rows[0]["samples"] if rows else 0,
        "graded_items": len({r["item_id"] for r in rows if r["answer_index"] is not None}),
        "parts_known": len({r["item_id"] for r in rows if r["part"]}),
        "conditions": {},
    }
    for c in conds:
        these = [r for r in rows if r["condition"] == c]
        report = metrics.condition_report(outcomes(rows, c))
        report["no_credit"] = metrics.no_credit(
            [r["parse_reason"] for r in these], [r["predicted_index"] is not None for r in these]
        )
        graded = [r["correct"] for r in these if r["correct"] is not None]
        report["sample_accuracy"] = sum(graded) / len(graded) if graded else None
        summary["conditions"][c] = report
    summary["gap"] = (
        metrics.audio_gap(outcomes(rows, "audio"), outcomes(rows, "silence"))
        if {"audio", "silence"} <= set(conds)
        else None
    )
    scored = [
        r
        for r in rows
        if r["condition"] == "audio" and r["sample_index"] == 0 and r["letter_argmax"] is not None
    ]
    graded_scores = [r["letter_argmax"] == r["answer_index"] for r in scored if r["answer_index"] is not None]
    summary["letter_scores"] = (
        {
            "items": len(scored),
            "accuracy": sum(graded_scores) / len(graded_scores) if graded_scores else None,
        }
        if scored
        else None
    )
    return summary
