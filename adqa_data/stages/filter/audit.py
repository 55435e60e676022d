"""`filter --audit N`: each member's vote against its own generated answer, on N random items.

Letters and options mode read a forced choice in one forward; a model answers in its own words when it
generates. The audit re-asks N items in generate mode (the member's model and prompt style, greedy, one
completion, the options in their original order), parses the reply with `answers.parse_answer`, and
counts how often the vote equals it, so a user sees what the fast path costs in fidelity:

- `agreement`: the vote the split is made from (the argmax of the permutation-averaged probabilities)
  equals the generated answer, over the replies the parser credits;
- `agreement_same_prompt`: the same for rotation 0's read alone, the prompt the generation saw, so a
  disagreement there is the read itself and not the rotation average;
- `unparseable`: replies the parser credits with nothing, counted apart (not as disagreements).

Both `audio` (what audio contribution credits) and `silence` (what the vote is decided on) are audited:
silence shares one prompt prefix across items, so it costs little more than audio alone. A member in
generate mode is skipped: its votes are generated answers already (agreement 1 by construction).
The items are a seeded permutation of the scored item ids, sorted, cut at N (capped at the items
scored): reproducible, and a larger N keeps the items of a smaller one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...core.engine import Engine, map_unordered
from ...core.fingerprints import stable_hash
from ...core.schema import FILTER_AUDIT
from ...core.workspace import StageRun, read_table
from ...inference.panel import PanelMember
from .conditions import ItemRef
from .config import FilterConfig
from .jobs import BackendFactory, ChunkJob, ModelJob, condition_clips, open_member, ray_options, score_chunk
from .units import UnitInputs, unit_config, unit_key
from .voting import ModelAnswer

AUDIT_CONDITIONS = ("audio", "silence")
GENERATE_SKIP = "generate mode: its votes are generated answers already (agreement 1 by construction)"


def pick_items(items: Sequence[ItemRef], n: int, seed: int) -> list[ItemRef]:
    """`n` items (at most all), drawn by a permutation of the sorted ids seeded with `seed`; a larger
    `n` extends a smaller one's draw."""
    ordered = sorted(items, key=lambda it: it.item_id)
    order = np.random.default_rng(seed).permutation(len(ordered))
    return [ordered[i] for i in order[: min(n, len(ordered))]]


def audited(member: PanelMember) -> bool:
    """Whether a member's votes are a forced choice worth auditing (letters or options mode)."""
    return member.mode != "generate"


def audit_job(
    dataset: str,
    member: PanelMember,
    options: FilterConfig,
    items: list[ItemRef],
    factory: BackendFactory,
    codes: dict[str, str] | None = None,
) -> ModelJob:
    """The generate-mode job of one member over the audit items: one rotation, nothing written by it."""
    generate = member.model_copy(update={"mode": "generate"})
    chunks = [ChunkJob(c, 0, "", items) for c in AUDIT_CONDITIONS]
    return ModelJob(
        dataset, generate, options.model_copy(update={"permutations": 1}), chunks, factory, codes=codes
    )


def run_audit_job(job: ModelJob) -> list[dict[str, Any]]:
    """Load the member, generate every audit query (votes-shaped rows, original option order), release it."""
    backend = open_member(job)
    try:
        clips = condition_clips(job, backend)
        rows: list[dict[str, Any]] = []
        for chunk in job.chunks:
            rows += score_chunk(backend, job, chunk, clips)
            clips.release_clips()
    finally:
        backend.close()
    return rows


def audit_rows(
    mode: str,
    generated: Iterable[Mapping[str, Any]],
    answers: Mapping[tuple[str, str, str], ModelAnswer],
    votes: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """`filter_audit` rows: each generated answer beside the member's vote and rotation 0's read.
    `answers`: the permutation-averaged answers (`voting.aggregate`); `votes`: the votes rows."""
    same_prompt = {
        (v["model"], v["item_id"], v["condition"]): v["predicted_index"]
        for v in votes
        if v["permutation"] == 0
    }
    out = []
    for g in generated:
        key = (g["model"], g["item_id"], g["condition"])
        gen = g["predicted_index"]
        vote = answers[key].predicted
        out.append(
            {
                "model": g["model"],
                "dataset": g["dataset"],
                "item_id": g["item_id"],
                "condition": g["condition"],
                "mode": mode,
                "vote_index": vote,
                "vote_index_same_prompt": same_prompt[key],
                "generated_index": gen,
                "agree": None if gen is None else vote == gen,
                "raw_text": g["raw_text"] or "",
                "parse_layer": g["parse_layer"],
            }
        )
    return out


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class Agreement:
    """The audit figures of one member under one condition."""

    items: int
    agree: int
    agree_same_prompt: int
    unparseable: int

    def to_json(self) -> dict[str, Any]:
        parsed = self.items - self.unparseable
        return {
            "items": self.items,
            "agree": self.agree,
            "disagree": parsed - self.agree,
            "unparseable": self.unparseable,
            "agreement": _share(self.agree, parsed),
            "agreement_same_prompt": _share(self.agree_same_prompt, parsed),
            "unparseable_share": _share(self.unparseable, self.items),
        }


def agreement(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """model -> condition -> the figures (`Agreement.to_json`), from `filter_audit` rows."""
    acc: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        a = acc.setdefault((r["model"], r["condition"]), [0, 0, 0, 0])
        parsed = r["generated_index"] is not None
        a[0] += 1
        a[1] += bool(parsed and r["vote_index"] == r["generated_index"])
        a[2] += bool(parsed and r["vote_index_same_prompt"] == r["generated_index"])
        a[3] += not parsed
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (m, c), (n, agree, same, unparsed) in sorted(acc.items()):
        out.setdefault(m, {})[c] = Agreement(n, agree, same, unparsed).to_json()
    return out


def execute_audit(jobs: list[ModelJob], engine: Engine) -> Iterator[list[dict[str, Any]]]:
    """Each audit job's generated rows: one member after another in-process, or as parallel Ray tasks."""
    if engine == "ray":
        yield from map_unordered(run_audit_job, jobs, engine="ray", ray_options=ray_options())
        return
    for job in jobs:
        yield run_audit_job(job)


@dataclass
class AuditPlan:
    """What `--audit` does in this run: the items, the members to (re)generate, every audited
    member's table directory, and the members skipped with the reason."""

    items: list[ItemRef]
    jobs: list[ModelJob]
    dirs: dict[str, Path]
    skipped: dict[str, str]


def plan_audit(plan: UnitInputs) -> AuditPlan:
    """Per letters/options member, its audit unit: reused when its key (generate settings, audited
    items, the votes it is compared with) is unchanged, else a generate job."""
    run, options, codes = plan.run, plan.options, plan.codes
    picked = pick_items(plan.items, options.audit, options.seed)
    ids = [it.item_id for it in picked]
    jobs, dirs, skipped = [], {}, {}
    for m in plan.members:
        if not audited(m):
            skipped[m.name] = GENERATE_SKIP
            continue
        job = audit_job(run.dataset, m, options, picked, plan.factory, codes[m.name])
        key = stable_hash(
            {
                "generate": unit_config(job.member, "audit", job.options, codes[m.name]),
                "items": ids,
                "votes": [unit_key(m, c, options, plan.items_fp, codes[m.name]) for c in AUDIT_CONDITIONS],
                "table": FILTER_AUDIT.version,
            },
            n=24,
        )
        dirs[m.name] = run.output(FILTER_AUDIT.name, m.name, key=key)
        if not StageRun.shard_done(dirs[m.name], 0):
            jobs.append(job)
    return AuditPlan(picked, jobs, dirs, skipped)


def run_audit(
    run: StageRun,
    plan: AuditPlan,
    members: list[PanelMember],
    engine: Engine,
    answers: dict,
    votes: list[dict],
    on_done: Callable[[], None],
) -> dict[str, Any]:
    """Generate the missing audit units, write each member's table, and sum every audited member up."""
    mode = {m.name: m.mode for m in members}
    for generated in execute_audit(plan.jobs, engine):
        name = generated[0]["model"]
        rows = audit_rows(mode[name], generated, answers, votes)
        run.write_shard(plan.dirs[name], 0, FILTER_AUDIT.from_pylist(rows), FILTER_AUDIT)
        on_done()
    figures = agreement(r for d in plan.dirs.values() for r in read_table(d, FILTER_AUDIT).to_pylist())
    return {
        "items": len(plan.items),
        "conditions": list(AUDIT_CONDITIONS),
        "members": {
            m.name: (
                {"mode": m.mode, "skipped": plan.skipped[m.name]}
                if m.name in plan.skipped
                else {"mode": m.mode, **figures[m.name]}
            )
            for m in members
        },
        "members_generated": len(plan.jobs),
    }
