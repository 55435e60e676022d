"""The filter stage over `StageRun`: plan the (model, condition) units, run the vote jobs, vote, write.

Outputs in the workspace:
    votes/<dataset>/<model>/<condition>/part-*.parquet   one row per (model, item, condition, rotation)
    filter_audit/<dataset>/<model>/part-00000.parquet    --audit N: one row per (model, audited item, condition)
    item_scores/<dataset>/part-00000.parquet             one row per scored item
    splits/<dataset>/weak.txt, strong.txt                item ids, one per line, in item-table order
    quarantine/<dataset>/filter/                         items not scored: answer withheld, audio changed or
                                                         escaping the root, too many options, prompt too long
    provenance/filter/<dataset>.json                     config, inputs, versions, statistics

Units, resume and reuse: each (model, condition) is one unit, its own votes directory, written in
chunks of `chunk_items` items (the resume grain). A unit's directory carries a key over exactly what
its votes depend on (the member's checkpoint, family, prompt style, mode and dtype; the condition's
parameters; the rotations; the items), so a killed run resumes at the first missing chunk, adding a
panel member runs only that member, and changing `--min-correct` re-votes without running any model.
A model is loaded once per run, only when it has a missing chunk, and closed before the next one.

`--audit N` (audit.py) is one more unit per letters/options member, keyed by its generate settings,
the audited items and the keys of the votes it is compared with: an up-to-date rerun generates
nothing, and a member whose votes and settings are unchanged keeps its audit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...codecs.consumers import ItemCodes, select_codec_key
from ...core.config_files import run_shorthand
from ...core.engine import Engine, check_engine
from ...core.errors import UserError
from ...core.fingerprints import stable_hash, table_fingerprint
from ...core.quarantine import write_quarantine
from ...core.schema import FILTER_AUDIT, ITEM_SCORES, QUARANTINE, VOTES
from ...core.workspace import StageRun, Workspace, read_table, write_text_atomic
from ...inference.factory import GENERATION_LIBRARIES, backend_input
from ...inference.panel import Panel, PanelMember
from ...inference.trust import check_model_ref
from ..row_checks import PromptCheck, check_items, quarantine_rows, token_counter
from .audit import plan_audit, run_audit
from .conditions import ItemRef, assign_swaps, prepare_items, rotations
from .config import FilterConfig
from .jobs import BackendFactory, ChunkJob, ModelJob, execute, member_backend
from .panel import effective_members, resolve_panel
from .units import UnitInputs, unit_config, unit_key
from .voting import (
    aggregate,
    check_min_correct,
    item_score_rows,
    letter_mass,
    letter_preference,
    low_letter_mass,
)
from .voting import statistics as vote_statistics

STAGE = "filter"


@dataclass
class FilterResult:
    dataset: str
    panel: str
    up_to_date: bool
    items: int
    weak: int
    strong: int
    skipped_no_answer: int
    chunks_run: int
    chunks_reused: int
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)  # low letter mass, one per member
    audit: dict[str, Any] | None = None  # --audit: per member and condition, vote against generation
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("provenance")
        return d


def plan_jobs(plan: UnitInputs) -> tuple[list[ModelJob], dict[tuple[str, str], Path], int]:
    """Per member, the chunks still to write; returns (jobs, unit directories, chunks already done).
    Each unit's directory is keyed by its own config (`units.unit_config`), and a changed unit is written
    aside and swapped in when the run finishes (`StageRun.output`)."""
    run, items, options, codes = plan.run, plan.items, plan.options, plan.codes
    n = options.chunk_items
    chunks = [items[i : i + n] for i in range(0, len(items), n)]
    jobs, dirs, reused = [], {}, 0
    for m in plan.members:
        todo = []
        for cond in options.conditions:
            key = unit_key(m, cond, options, plan.items_fp, codes[m.name])
            d = run.output("votes", m.name, cond, key=key)
            dirs[(m.name, cond)] = d
            for i, chunk in enumerate(chunks):
                if StageRun.shard_done(d, i):
                    reused += 1
                else:
                    todo.append(ChunkJob(cond, i, str(d), chunk))
        if todo:
            jobs.append(ModelJob(run.dataset, m, options, todo, plan.factory, codes=codes[m.name]))
    return jobs, dirs, reused


def read_votes(dirs: dict[tuple[str, str], Path], items: list[ItemRef], options: FilterConfig) -> list[dict]:
    """Every vote of this run's units, checked complete (a missing row is a bug, not a user error)."""
    expected = sum(len(rotations(len(it.choices), options.permutations)) for it in items)
    cols = ["model", "item_id", "condition", "permutation", "predicted_index", "option_probs", "letter_mass"]
    votes: list[dict] = []
    for (model, cond), d in dirs.items():
        t = read_table(d, VOTES, columns=cols)
        if t.num_rows != expected:
            raise RuntimeError(f"votes of {model}/{cond} hold {t.num_rows} rows, expected {expected}: {d}")
        votes += t.to_pylist()
    return votes


def member_codes(
    ws: Workspace, dataset: str, members: list[PanelMember], items: list[ItemRef]
) -> dict[str, dict[str, str] | None]:
    """Per member: for one that reads RVQ codes (MiMo-Audio), the code index its clips come from
    (checked to hold every item before any model loads); None for a member that reads audio."""
    out: dict[str, dict[str, str] | None] = {}
    for m in members:
        consumes, codec = backend_input(m.backend, m.model, m.family)
        if consumes != "codes":
            out[m.name] = None
            continue
        key = select_codec_key(ws, dataset, str(codec))
        ItemCodes(ws, dataset, key).check([it.item_id for it in items])
        out[m.name] = {"workspace": str(ws.root), "dataset": dataset, "codec_key": key}
    return out


def _refuse_items(
    ws: Workspace,
    dataset: str,
    root: str,
    items: list[ItemRef],
    members: list[PanelMember],
    opts: FilterConfig,
    audio: bool = True,
) -> tuple[list[ItemRef], list[dict[str, Any]]]:
    """The items every member can be asked, and quarantine rows for the others (`row_checks`; no audio
    checks when `audio` is False: every member reads cached codes)."""
    counters: dict[tuple[str, str | None, bool], tuple[Any, str]] = {}
    checks = []
    for m in members:
        ref = (m.model, m.revision, m.trust_remote_code)
        if ref not in counters:
            counters[ref] = token_counter(m.model, m.revision, m.trust_remote_code)
        count, unit = counters[ref]
        checks.append(PromptCheck(m.prompt_style, count, unit, f"member {m.name}"))
    rows = [
        {
            "item_id": it.item_id,
            "question": it.question,
            "choices": it.choices,
            "audio_path": it.audio_path,
            "audio_sha256": it.audio_sha256,
        }
        for it in items
    ]
    refused = check_items(root, rows, checks, opts.max_prompt_tokens, audio=audio)
    if not refused:
        return items, []
    return [it for it in items if it.item_id not in refused], quarantine_rows(ws, dataset, refused)


def _write_outputs(run: StageRun, rows: list[dict], withheld: list[dict]) -> None:
    run.write_shard(run.output("item_scores"), 0, ITEM_SCORES.from_pylist(rows), ITEM_SCORES)
    split_dir = run.output("splits")
    for name in ("weak", "strong"):
        write_text_atomic(
            split_dir / f"{name}.txt",
            "".join(f"{r['item_id']}\n" for r in rows if r["split"] == name),
            inside=run.ws.root,
        )
    write_quarantine(run, withheld)


def _result_from(prov: dict[str, Any], up_to_date: bool, min_letter_mass: float) -> FilterResult:
    """The result from a provenance record; the letter-mass warnings against this run's threshold."""
    s = prov.get("summary", {})
    stats = s.get("stats", {})
    audit = s.get("audit")
    if audit is not None:
        requested = prov.get("config", {}).get("audit", {}).get("items")
        audit = {**audit, "requested": requested, **({"members_generated": 0} if up_to_date else {})}
    return FilterResult(
        dataset=prov.get("dataset", ""),
        panel=s.get("panel", ""),
        up_to_date=up_to_date,
        items=stats.get("items", 0),
        weak=stats.get("weak", 0),
        strong=stats.get("strong", 0),
        skipped_no_answer=s.get("skipped_no_answer", 0),
        chunks_run=0 if up_to_date else s.get("chunks_run", 0),
        chunks_reused=s.get("chunks_reused", 0),
        seconds=0.0 if up_to_date else prov.get("seconds", 0.0),
        stats=stats,
        warnings=low_letter_mass(stats, min_letter_mass),
        audit=audit,
        provenance=prov,
    )


def filter_dataset(
    workspace: Workspace,
    panel: Panel | str | Path | None = None,
    dataset: str | None = None,
    options: FilterConfig | None = None,
    **keywords: Any,
) -> FilterResult:
    """`run` with the panel, the dataset and any other setting as keywords over `options` (an unchecked
    `FilterOptions(...)` too: checked here, each problem one line naming its option); the other keywords
    are `run`'s."""
    given = {**keywords, "panel": panel, "dataset": dataset}
    return run_shorthand(run, workspace, FilterConfig, options, "filter settings", given)


def run(
    ws: Workspace,
    config: FilterConfig,
    *,
    engine: Engine = "local",
    force: bool = False,
    backend_factory: BackendFactory = member_backend,
    on_progress: Callable[[int, int], None] | None = None,
) -> FilterResult:
    """Run the panel over one dataset and write votes, item scores, splits and statistics (module docstring)."""
    workspace, opts = ws, config
    engine = check_engine(engine)
    pnl = resolve_panel(config.panel)
    min_correct = opts.min_correct if opts.min_correct is not None else pnl.min_correct
    check_min_correct(min_correct, len(pnl.members), where=f"panel {pnl.name}")
    members = effective_members(pnl, opts.mode, opts.trust_remote_code)
    if backend_factory is member_backend:  # real models: each must be there before the first one loads
        for m in members:
            check_model_ref(m.model, m.revision, f"panel {pnl.name} member {m.name!r}")
    rec = workspace.dataset(config.dataset)
    items, withheld = prepare_items(workspace.items(rec.name), rec.root)
    if not items:
        raise UserError(
            f"none of the {len(withheld)} items of dataset {rec.name!r} has a gold answer, so audio contribution "
            "cannot be measured (an evaluation set?)",
            where=str(workspace.root),
            fix="filter a dataset with answers (the training or dev set)",
        )
    items_fp = table_fingerprint(workspace.table_dir("items", rec.name))
    codes = member_codes(workspace, rec.name, members, items)
    units = {
        f"{m.name}/{c}": stable_hash(unit_config(m, c, opts, codes[m.name]))
        for m in members
        for c in opts.conditions
    }
    config = {
        "panel": pnl.name,
        "models": [m.name for m in members],
        "units": units,
        "min_correct": min_correct,
        "conditions": list(opts.conditions),
        "permutations": opts.permutations,
        "max_prompt_tokens": opts.max_prompt_tokens,
        "schemas": {t.name: t.version for t in (VOTES, ITEM_SCORES, QUARANTINE)},
    }
    if opts.audit:  # absent without --audit, so a run without it keeps the key it always had
        config["audit"] = {
            "items": opts.audit,
            "seed": opts.seed,
            "max_new_tokens": opts.max_new_tokens,
            "schema": FILTER_AUDIT.version,
        }
    run = StageRun(
        workspace,
        STAGE,
        rec.name,
        config,
        {"items": items_fp},
        force=force,
        extra_versions=GENERATION_LIBRARIES,
    )
    with run:
        if run.up_to_date:
            return _result_from(workspace.provenance(STAGE, rec.name) or {}, True, opts.min_letter_mass)
        # one bad item is quarantined, not fatal: audio, option count and prompt length, before any model loads
        items, refused = _refuse_items(
            workspace, rec.name, rec.root, items, members, opts, audio=not all(codes.values())
        )
        withheld += refused
        if not items:
            raise UserError(
                f"no item of dataset {rec.name!r} can be scored: {len(refused)} quarantined "
                f"({', '.join(sorted({q['reason'] for q in refused}))})",
                where=f"quarantine/{rec.name}/filter",
                fix="see the reasons with 'adqa-data info'",
            )
        borrowed = 0
        if "swap" in opts.conditions:
            items, borrowed = assign_swaps(items, opts.seed)
        if refused:  # votes units are keyed by exactly the items they answer
            items_fp = stable_hash([items_fp, sorted(q["item_id"] for q in refused)], n=24)
        unit_inputs = UnitInputs(run, members, items, opts, items_fp, backend_factory, codes)
        jobs, dirs, reused = plan_jobs(unit_inputs)
        audit_plan = plan_audit(unit_inputs) if opts.audit else None
        audit_todo = len(audit_plan.jobs) if audit_plan else 0
        total = reused + sum(len(j.chunks) for j in jobs) + audit_todo
        done = {"n": reused}
        if on_progress:
            on_progress(done["n"], total)

        def on_chunk(model: str, chunk: ChunkJob | None) -> None:
            done["n"] += 1
            if on_progress:
                on_progress(done["n"], total)

        model_runs = list(execute(jobs, engine, on_chunk))
        votes = read_votes(dirs, items, opts)
        gold = {it.item_id: it.gold() for it in items}
        answers = aggregate(votes, gold)
        models = [m.name for m in members]
        rows = item_score_rows(
            rec.name, [gold[it.item_id] for it in items], answers, models, opts.conditions, min_correct
        )
        stats = vote_statistics(
            rows, answers, models, opts.conditions, min_correct, letter_preference(votes), letter_mass(votes)
        )
        audit = None
        if audit_plan is not None:
            audit = run_audit(run, audit_plan, members, engine, answers, votes, lambda: on_chunk("", None))
        _write_outputs(run, rows, withheld)
        summary = {
            "panel": pnl.name,
            "stats": stats,
            "skipped_no_answer": len(withheld) - len(refused),
            "quarantined": dict(sorted(Counter(q["reason"] for q in withheld).items())),
            "chunks_run": total - reused - audit_todo,
            "chunks_reused": reused,
            "model_runs": model_runs,
            "swap_borrowed_across_sources": borrowed if "swap" in opts.conditions else None,
        }
        if audit is not None:
            summary["audit"] = audit
        prov = run.finish(summary)
    return _result_from(prov, False, opts.min_letter_mass)
