"""`adqa-data filter`: audio-contribution filtering with a panel of LALMs (reference 003, design.md §1).

Every panel member answers every item with the real clip (`audio`) and with the clip replaced by
digital silence (`silence`, 30 s as in the paper); optionally with a fixed noise clip (`noise`) and with
the clip of another item of the same source (`swap`). From the votes: AC per model and item, the vote
(weak when at least `min_correct` members are correct on silence), a continuous score, the weak/strong
splits and statistics. The rules live in `filter_stats.py`; this module runs the models.

Outputs in the workspace:
    votes/<dataset>/<model>/<condition>/part-*.parquet   one row per (model, item, condition, rotation)
    item_scores/<dataset>/part-00000.parquet             one row per scored item
    splits/<dataset>/weak.txt, strong.txt                item ids, one per line, in item-table order
    quarantine/<dataset>/filter/                         items skipped because their answer is withheld
    provenance/filter/<dataset>.json                     config, inputs, versions, statistics

Units, resume and reuse: each (model, condition) is one unit, its own votes directory, written in
chunks of `chunk_items` items (the resume grain). A unit's directory carries a key over exactly what
its votes depend on (the member's checkpoint, family, prompt style, mode and dtype; the condition's
parameters; the rotations; the items), so a killed run resumes at the first missing chunk, adding a
panel member runs only that member, and changing `--min-correct` re-votes without running any model.
A model is loaded once per run, only when it has a missing chunk, and closed before the next one.

Decisions where the method is silent:
- Rotations: with `--permutations K`, rotation p shows option (j + p) % n at position j; an item with
  fewer than K options gets n rotations (more would repeat one). The model's answer is the unique
  argmax of its rotation-averaged probabilities; a tie at the top is no answer (see filter_stats).
- Generate mode: greedy, one completion, parsed by `answers.parse_answer`; the option probabilities are
  one-hot on the credited option, null when nothing is credited (a wrong answer).
- Items without a gold answer (evaluation sets) cannot be scored: they are skipped, counted and
  quarantined (`answer_withheld`); a dataset with none at all is refused.
- `noise` is one clip of `--silence-seconds` from a fixed seed, shared by every item like the silence,
  so it is a controlled condition and its prompt prefix is shared too.
- `swap` plays the clip of another item of the same `source_dataset`, drawn with a fixed seed per
  source; never the item's own clip, nor any clip with the same content (items may share a file). A
  source with a single distinct clip borrows from the whole dataset (counted in the summary).
- Queries carry the backend's batching: a chunk's queries go to the backend in one call and the
  backend packs its own batches (the transformers backend shares the silent prefix across them).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio import AudioError, load_audio, noise, silence
from ..inference.types import Backend, Query, Sampling
from ..executor import Engine, check_engine, map_unordered
from ..errors import UserError
from ..inference.panel import Panel, PanelMember, load_panel
from ..schema import ITEM_SCORES, QUARANTINE, VOTES
from ..schema import QuarantineReason as R
from ..workspace import StageRun, Workspace, file_sha256, shard_paths, stable_hash, tree_fingerprint
from .filter_stats import (
    GoldItem,
    aggregate,
    check_min_correct,
    consensus,
    item_score_rows,
    letter_preference,
)
from .filter_stats import statistics as vote_statistics

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

STAGE = "filter"
BASE_CONDITIONS = ("audio", "silence")
EXTRA_CONDITIONS = ("noise", "swap")
CONDITIONS = BASE_CONDITIONS + EXTRA_CONDITIONS
MODES = ("letters", "options", "generate")
NOISE_COLORS = ("white", "pink")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

BackendFactory = Callable[..., Backend]


# ---------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class FilterOptions:
    """Every knob of the filter stage, with its default and why."""

    conditions: tuple[str, ...] = BASE_CONDITIONS  # audio and silence always; add noise / swap
    mode: str | None = None  # letters | options | generate; None = each panel member's own (letters by default)
    permutations: int = 1  # K cyclic rotations of the options, averaged: undoes letter-position bias
    min_correct: int | None = None  # None = the panel's (2 of 3 in the paper)
    silence_seconds: float = 30.0  # the paper's silent clip; also the noise clip's length
    noise_color: str = "white"
    noise_level_dbfs: float = -30.0  # RMS level of the noise condition
    seed: int = 0  # noise samples and swap draws
    chunk_items: int = 256  # items per votes shard: the unit of resume
    max_new_tokens: int = 256  # generate mode
    device: str | None = None  # None = cuda when available, else cpu

    def validated(self) -> FilterOptions:
        """The options with conditions normalised (audio, silence first, then the extras, once each)."""
        unknown = [c for c in self.conditions if c not in CONDITIONS]
        if unknown:
            raise UserError(f"unknown condition(s) {unknown}", fix=f"use {', '.join(EXTRA_CONDITIONS)} "
                            "(audio and silence are always run)")
        if self.mode is not None and self.mode not in MODES:
            raise UserError(f"unknown mode {self.mode!r}", fix=f"use one of: {', '.join(MODES)}")
        if not 1 <= self.permutations <= 10:
            raise UserError(f"--permutations must be between 1 and 10, got {self.permutations}",
                            fix="use 1 (no rotation) or the number of options (4) to cancel a letter bias")
        if self.silence_seconds <= 0:
            raise UserError(f"--silence-seconds must be positive, got {self.silence_seconds}")
        if self.noise_color not in NOISE_COLORS:
            raise UserError(f"unknown noise color {self.noise_color!r}", fix="use white or pink")
        if self.chunk_items < 1:
            raise UserError(f"chunk size must be at least 1 item, got {self.chunk_items}")
        conds = BASE_CONDITIONS + tuple(c for c in EXTRA_CONDITIONS if c in self.conditions)
        return replace(self, conditions=conds)

    def condition_params(self, condition: str) -> dict[str, Any]:
        """What a condition's audio depends on (part of its votes' key)."""
        if condition == "silence":
            return {"seconds": self.silence_seconds}
        if condition == "noise":
            return {"seconds": self.silence_seconds, "color": self.noise_color,
                    "level_dbfs": self.noise_level_dbfs, "seed": self.seed}
        if condition == "swap":
            return {"seed": self.seed}
        return {}


@dataclass(frozen=True)
class ItemRef:
    """One scorable item as a model job needs it (plain data: it travels to Ray workers)."""

    item_id: str
    question: str
    choices: tuple[str, ...]
    answer_index: int
    audio_path: str  # absolute
    audio_sha256: str
    source_dataset: str | None = None
    question_type: str | None = None
    donor: ItemRef | None = None  # swap: the item whose clip is played instead

    def gold(self) -> GoldItem:
        return GoldItem(self.item_id, self.answer_index, len(self.choices), self.source_dataset, self.question_type)


@dataclass
class ChunkJob:
    """One votes shard to write: a chunk of items under one condition."""

    condition: str
    index: int
    out_dir: str
    items: list[ItemRef]


@dataclass
class ModelJob:
    """Everything one panel member still has to answer; runs in-process or as one Ray task."""

    dataset: str
    member: PanelMember  # with the effective mode
    options: FilterOptions
    chunks: list[ChunkJob]
    factory: BackendFactory


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
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("provenance")
        return d


# --------------------------------------------------------------------------------------------- backends
def make_backend(member: PanelMember, device: str | None = None) -> Backend:
    """The backend a panel member asks for (`backend: transformers | vllm`), loaded and ready."""
    from ..inference.factory import load_backend

    options: dict[str, Any] = {"trust_remote_code": member.trust_remote_code}
    if member.backend == "vllm":
        options["revision"] = member.revision
    return load_backend(member.backend, member.model, family=member.family, device=device, dtype=member.dtype,
                        **options)


def backend_sample_rate(backend: Backend, member: PanelMember) -> int:
    """The rate the model's audio front end expects: the backend's adapter decides, else the family's."""
    adapter = getattr(backend, "adapter", None)
    rate = getattr(adapter, "sample_rate", None) or getattr(backend, "sample_rate", None)
    if rate is None and member.family:
        from ..inference.adapters import ADAPTERS

        rate = ADAPTERS[member.family].sample_rate
    return int(rate or 16000)


# ------------------------------------------------------------------------------------------------ panel
def _panel_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent.parent
    return [here.parent / "pipelines" / "panels", here / "pipelines" / "panels"]


def resolve_panel(panel: Panel | str | Path) -> Panel:
    """A Panel object, a YAML path, or the name of a built-in panel (`pipelines/panels/<name>.yaml`)."""
    if isinstance(panel, Panel):
        return panel
    p = Path(panel)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return load_panel(p)
    for d in _panel_dirs():
        if (d / f"{panel}.yaml").is_file():
            return load_panel(d / f"{panel}.yaml")
    known = sorted({q.stem for d in _panel_dirs() if d.is_dir() for q in d.glob("*.yaml")})
    raise UserError(f"no panel named {str(panel)!r}", fix=f"give a panel YAML file or one of: {', '.join(known)}")


def effective_members(panel: Panel, mode: str | None) -> list[PanelMember]:
    """The members with the mode in force, checked before any model is loaded."""
    from ..prompt_styles import get_style

    out = []
    for m in panel.members:
        if not _SAFE_NAME.match(m.name):
            raise UserError(f"panel member name {m.name!r} cannot be a folder name",
                            where=f"panel {panel.name}", fix="use letters, digits, '.', '_' and '-' only")
        member = m.model_copy(update={"mode": mode or m.mode})
        style = get_style(member.prompt_style)
        if member.mode == "letters" and not style.letter_first:
            raise UserError(f"member {m.name!r}: prompt style {style.name!r} does not start the reply with the "
                            "option letter, so 'letters' mode cannot read it", where=f"panel {panel.name}",
                            fix="use prompt_style: letters, or mode: options / generate")
        if member.mode == "options" and style.option_reply is None:
            raise UserError(f"member {m.name!r}: prompt style {style.name!r} has no option reply for 'options' mode",
                            where=f"panel {panel.name}", fix="use prompt_style letters or audiomcq, or another mode")
        out.append(member)
    return out


def model_fingerprint(member: PanelMember) -> str:
    """A local checkpoint's files (names, sizes, mtimes); a hub id with its revision otherwise."""
    p = Path(member.model)
    if p.is_dir():
        return f"dir:{tree_fingerprint(p)}"
    return f"hub:{member.model}@{member.revision or 'main'}"


# ------------------------------------------------------------------------------------------------ items
def prepare_items(items: pa.Table, root: str) -> tuple[list[ItemRef], list[dict[str, Any]]]:
    """Split the item table into scorable items and those whose answer is withheld (quarantine rows)."""
    cols = ["item_id", "question", "choices", "answer_index", "audio_path", "audio_sha256", "source_dataset",
            "question_type", "row_index"]
    refs, withheld = [], []
    for r in items.select(cols).to_pylist():
        if r["answer_index"] is None:
            withheld.append({"row_index": r["row_index"], "item_id": r["item_id"], "reason": R.ANSWER_WITHHELD,
                             "detail": "the gold answer is withheld, so audio contribution cannot be measured",
                             "raw": None})
            continue
        refs.append(ItemRef(r["item_id"], r["question"], tuple(r["choices"]), int(r["answer_index"]),
                            str(Path(root) / r["audio_path"]), r["audio_sha256"], r["source_dataset"],
                            r["question_type"]))
    return refs, withheld


def _rng_for(seed: int, name: str | None) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _draw_donor(item: ItemRef, pool: list[ItemRef], rng: np.random.Generator) -> ItemRef | None:
    """A random member of `pool` whose clip differs from the item's (rejection first: clips rarely repeat)."""
    for _ in range(32):
        d = pool[int(rng.integers(len(pool)))]
        if d.audio_sha256 != item.audio_sha256:
            return d
    others = [d for d in pool if d.audio_sha256 != item.audio_sha256]
    return others[int(rng.integers(len(others)))] if others else None


def assign_swaps(items: list[ItemRef], seed: int) -> tuple[list[ItemRef], int]:
    """Each item with a donor: another item of the same source whose clip has other content.

    Deterministic from `seed`, per source (adding one source's items does not change another's
    draws). Returns the items (same order) and how many borrowed from outside their source."""
    by_source: dict[str | None, list[ItemRef]] = {}
    for it in sorted(items, key=lambda x: x.item_id):
        by_source.setdefault(it.source_dataset, []).append(it)
    everyone = sorted(items, key=lambda x: x.item_id)
    donors: dict[str, ItemRef] = {}
    borrowed = 0
    for src in sorted(by_source, key=str):
        rng = _rng_for(seed, src)
        for it in by_source[src]:
            d = _draw_donor(it, by_source[src], rng)
            if d is None:
                borrowed += 1
                d = _draw_donor(it, everyone, rng)
            if d is None:
                raise UserError("the swap condition needs clips with different content, and every item here "
                                "has the same clip", fix="drop --condition swap for this dataset")
            donors[it.item_id] = replace(d, donor=None)
    return [replace(it, donor=donors[it.item_id]) for it in items], borrowed


def items_fingerprint(ws: Workspace, dataset: str) -> str:
    """Content hash of the item table's shards: votes are valid for exactly these items."""
    return stable_hash([file_sha256(p) for p in shard_paths(ws.table_dir("items", dataset))])


# ---------------------------------------------------------------------------------------------- scoring
def rotate(choices: tuple[str, ...] | list[str], p: int) -> list[str]:
    """Rotation p of the options: position j shows original option (j + p) % n."""
    c = list(choices)
    return c[p:] + c[:p]


def rotations(n_options: int, permutations: int) -> range:
    return range(min(permutations, n_options))


class ConditionAudio:
    """The clip each condition plays, at the model's sample rate; constant clips are built once."""

    def __init__(self, options: FilterOptions, sample_rate: int):
        self.options, self.sr = options, sample_rate
        self._fixed: dict[str, tuple[np.ndarray, str]] = {}
        self._clips: dict[str, np.ndarray] = {}

    def _fixed_clip(self, condition: str) -> tuple[np.ndarray, str]:
        if condition not in self._fixed:
            o = self.options
            if condition == "silence":
                x = silence(o.silence_seconds, self.sr)
            else:
                x = noise(o.silence_seconds, self.sr, o.noise_color, o.noise_level_dbfs, o.seed)
            self._fixed[condition] = (x, f"{condition}:{stable_hash(o.condition_params(condition))}@{self.sr}")
        return self._fixed[condition]

    def _load(self, item: ItemRef) -> np.ndarray:
        if item.audio_sha256 not in self._clips:
            try:
                self._clips[item.audio_sha256] = load_audio(item.audio_path, self.sr)
            except AudioError as e:
                raise UserError(f"cannot load the clip of item {item.item_id}: {e.detail}", where=item.audio_path,
                                fix="the file changed or vanished since download: rerun 'adqa-data download'") from None
        return self._clips[item.audio_sha256]

    def clip(self, condition: str, item: ItemRef) -> tuple[np.ndarray, str, str | None]:
        """(samples, audio_id, id of the item whose clip it is). Equal audio_id = identical samples."""
        if condition in ("silence", "noise"):
            x, audio_id = self._fixed_clip(condition)
            return x, audio_id, None
        src = item if condition == "audio" else item.donor
        if src is None:
            raise RuntimeError(f"item {item.item_id} has no swap donor")
        return self._load(src), f"{src.audio_sha256}@{self.sr}", src.item_id

    def release_clips(self) -> None:
        """Drop decoded clips between chunks (a chunk's clips are all a chunk needs)."""
        self._clips.clear()


@dataclass
class _Answer:
    probs: np.ndarray | None  # shown order
    raw_text: str | None = None
    parse_layer: str | None = None


def ask(backend: Backend, mode: str, queries: list[Query], options: FilterOptions) -> list[_Answer]:
    """Put the queries to the backend in the member's mode; probabilities in the shown option order."""
    if mode == "letters":
        return [_Answer(np.asarray(p, dtype=np.float64)) for p in backend.score_letters(queries)]
    if mode == "options":
        return [_Answer(np.asarray(p, dtype=np.float64)) for p in backend.score_options(queries)]
    from ..answers import parse_answer

    sampling = Sampling(n=1, temperature=0.0, max_new_tokens=options.max_new_tokens, seed=options.seed,
                        logprobs=False)
    out = []
    for q, g in zip(queries, backend.generate(queries, sampling)):
        text = g.completions[0].text if g.completions else ""
        parsed = parse_answer(text, q.choices)
        probs = None
        if parsed.index is not None:
            probs = np.zeros(len(q.choices))
            probs[parsed.index] = 1.0
        out.append(_Answer(probs, text, parsed.layer or parsed.reason))
    return out


def _check_answer(backend: Backend, q: Query, a: _Answer) -> None:
    if a.probs is not None and (a.probs.shape != (len(q.choices),) or not np.all(np.isfinite(a.probs))):
        raise RuntimeError(f"backend {getattr(backend, 'name', '?')} returned {a.probs!r} for query {q.key} "
                           f"with {len(q.choices)} options")


def score_chunk(backend: Backend, job: ModelJob, chunk: ChunkJob, audio: ConditionAudio) -> list[dict[str, Any]]:
    """The votes rows of one chunk: every item under every rotation, mapped back to the original order."""
    member, K = job.member, job.options.permutations
    queries: list[Query] = []
    meta: list[tuple[ItemRef, int, str | None]] = []
    for it in chunk.items:
        x, audio_id, heard = audio.clip(chunk.condition, it)
        for p in rotations(len(it.choices), K):
            queries.append(Query(key=f"{it.item_id}|{chunk.condition}|{p}", question=it.question,
                                 choices=rotate(it.choices, p), audio=x, audio_id=audio_id,
                                 prompt_style=member.prompt_style))
            meta.append((it, p, heard))
    answers = ask(backend, member.mode, queries, job.options)
    if len(answers) != len(queries):
        raise RuntimeError(f"backend returned {len(answers)} answers for {len(queries)} queries")
    rows = []
    for q, a, (it, p, heard) in zip(queries, answers, meta):
        _check_answer(backend, q, a)
        original = None if a.probs is None else np.roll(a.probs, p)  # shown j -> original (j + p) % n
        pred = None if original is None else consensus(original)
        rows.append({
            "model": member.name, "dataset": job.dataset, "item_id": it.item_id, "condition": chunk.condition,
            "permutation": p, "mode": member.mode, "predicted_index": pred, "correct": pred == it.answer_index,
            "option_probs": None if original is None else original.tolist(), "audio_item_id": heard,
            "raw_text": a.raw_text, "parse_layer": a.parse_layer,
        })
    return rows


def run_model_job(job: ModelJob, on_chunk: Callable[[str, ChunkJob], None] | None = None) -> dict[str, Any]:
    """Load one panel member, write its missing votes shards, release it. A Ray task or a local call."""
    t0 = time.time()
    backend = job.factory(job.member, device=job.options.device)
    queries = 0
    try:
        audio = ConditionAudio(job.options, backend_sample_rate(backend, job.member))
        for chunk in job.chunks:
            rows = score_chunk(backend, job, chunk, audio)
            audio.release_clips()
            StageRun.write_shard(Path(chunk.out_dir), chunk.index, VOTES.from_pylist(rows), VOTES)
            queries += len(rows)
            if on_chunk:
                on_chunk(job.member.name, chunk)
    finally:
        backend.close()
    return {"model": job.member.name, "chunks": len(job.chunks), "queries": queries,
            "seconds": round(time.time() - t0, 3)}


# ----------------------------------------------------------------------------------------------- engine
def _ray_options() -> dict[str, Any]:
    """One model per GPU when the cluster has GPUs; one CPU slot otherwise."""
    from ..executor import ray_init

    ray = ray_init()
    return {"num_gpus": 1} if ray.cluster_resources().get("GPU", 0) >= 1 else {"num_cpus": 1}


def execute(jobs: list[ModelJob], engine: Engine, on_chunk: Callable[[str, ChunkJob], None] | None) -> Iterator[dict]:
    """Run the model jobs: one after another in-process, or as parallel Ray tasks (same shards either way)."""
    if engine == "ray":
        for summary in map_unordered(run_model_job, jobs, engine="ray", ray_options=_ray_options()):
            if on_chunk:
                for _ in range(summary["chunks"]):
                    on_chunk(summary["model"], None)  # type: ignore[arg-type]
            yield summary
        return
    for job in jobs:
        yield run_model_job(job, on_chunk)


# ------------------------------------------------------------------------------------------------ stage
def _unit_config(member: PanelMember, condition: str, options: FilterOptions, items_fp: str) -> dict[str, Any]:
    """What one (model, condition) unit's votes depend on, and nothing else (not the name, note,
    device, engine or vote threshold), so reuse is as wide as it is safe."""
    cfg = {
        "member": member.model_dump(exclude={"name", "note"}),
        "model_fingerprint": model_fingerprint(member),
        "condition": condition,
        "condition_params": options.condition_params(condition),
        "permutations": options.permutations,
        "chunk_items": options.chunk_items,
        "votes_schema": VOTES.version,
    }
    if member.mode == "generate":
        cfg["generate"] = {"max_new_tokens": options.max_new_tokens, "seed": options.seed}
    return cfg


def plan_jobs(
    ws: Workspace, dataset: str, members: list[PanelMember], items: list[ItemRef], options: FilterOptions,
    items_fp: str, force: bool, factory: BackendFactory,
) -> tuple[list[ModelJob], dict[tuple[str, str], Path], int]:
    """Per member, the chunks still to write; returns (jobs, unit directories, chunks already done)."""
    n = options.chunk_items
    chunks = [items[i : i + n] for i in range(0, len(items), n)]
    jobs, dirs, reused = [], {}, 0
    for m in members:
        todo = []
        for cond in options.conditions:
            unit = StageRun(ws, STAGE, dataset, _unit_config(m, cond, options, items_fp), {"items": items_fp},
                            force=force)
            d = unit.output("votes", m.name, cond)
            dirs[(m.name, cond)] = d
            for i, chunk in enumerate(chunks):
                if StageRun.shard_done(d, i):
                    reused += 1
                else:
                    todo.append(ChunkJob(cond, i, str(d), chunk))
        if todo:
            jobs.append(ModelJob(dataset, m, options, todo, factory))
    return jobs, dirs, reused


def read_votes(dirs: dict[tuple[str, str], Path], items: list[ItemRef], options: FilterOptions) -> list[dict]:
    """Every vote of this run's units, checked complete (a missing row is a bug, not a user error)."""
    from ..workspace import read_table

    expected = sum(len(rotations(len(it.choices), options.permutations)) for it in items)
    cols = ["model", "item_id", "condition", "permutation", "predicted_index", "option_probs"]
    votes: list[dict] = []
    for (model, cond), d in dirs.items():
        t = read_table(d, VOTES, columns=cols)
        if t.num_rows != expected:
            raise RuntimeError(f"votes of {model}/{cond} hold {t.num_rows} rows, expected {expected}: {d}")
        votes += t.to_pylist()
    return votes


def _write_text_atomic(path: Path, lines: list[str]) -> None:
    import os

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(f"{x}\n" for x in lines))
    os.replace(tmp, path)


def _write_outputs(run: StageRun, dataset: str, rows: list[dict], withheld: list[dict]) -> None:
    run.write_shard(run.output("item_scores"), 0, ITEM_SCORES.from_pylist(rows), ITEM_SCORES)
    split_dir = run.output("splits")
    for name in ("weak", "strong"):
        _write_text_atomic(split_dir / f"{name}.txt", [r["item_id"] for r in rows if r["split"] == name])
    qrows = [{"dataset": dataset, "stage": STAGE, **q} for q in withheld]
    run.write_shard(run.output("quarantine", STAGE), 0, QUARANTINE.from_pylist(qrows), QUARANTINE)


def _result_from(prov: dict[str, Any], up_to_date: bool) -> FilterResult:
    s = prov.get("summary", {})
    stats = s.get("stats", {})
    return FilterResult(prov.get("dataset", ""), s.get("panel", ""), up_to_date, stats.get("items", 0),
                        stats.get("weak", 0), stats.get("strong", 0), s.get("skipped_no_answer", 0),
                        0 if up_to_date else s.get("chunks_run", 0), s.get("chunks_reused", 0),
                        0.0 if up_to_date else prov.get("seconds", 0.0), stats, prov)


def filter_dataset(
    workspace: Workspace,
    panel: Panel | str | Path,
    dataset: str | None = None,
    options: FilterOptions | None = None,
    engine: Engine = "local",
    force: bool = False,
    backend_factory: BackendFactory = make_backend,
    on_progress: Callable[[int, int], None] | None = None,
) -> FilterResult:
    """Run the panel over one dataset and write votes, item scores, splits and statistics (module docstring)."""
    engine = check_engine(engine)
    opts = (options or FilterOptions()).validated()
    pnl = resolve_panel(panel)
    min_correct = opts.min_correct if opts.min_correct is not None else pnl.min_correct
    check_min_correct(min_correct, len(pnl.members), where=f"panel {pnl.name}")
    members = effective_members(pnl, opts.mode)
    rec = workspace.dataset(dataset)
    items, withheld = prepare_items(workspace.items(rec.name), rec.root)
    if not items:
        raise UserError(
            f"none of the {len(withheld)} items of dataset {rec.name!r} has a gold answer, so audio contribution "
            "cannot be measured (an evaluation set?)",
            where=str(workspace.root), fix="filter a dataset with answers (the training or dev set)")
    borrowed = 0
    if "swap" in opts.conditions:
        items, borrowed = assign_swaps(items, opts.seed)
    items_fp = items_fingerprint(workspace, rec.name)
    units = {f"{m.name}/{c}": stable_hash(_unit_config(m, c, opts, items_fp)) for m in members for c in opts.conditions}
    config = {"panel": pnl.name, "models": [m.name for m in members], "units": units, "min_correct": min_correct,
              "conditions": list(opts.conditions), "permutations": opts.permutations,
              "schemas": {t.name: t.version for t in (VOTES, ITEM_SCORES, QUARANTINE)}}
    run = StageRun(workspace, STAGE, rec.name, config, {"items": items_fp}, force=force,
                   extra_versions=("torch", "transformers", "vllm"))
    with run:
        if run.up_to_date:
            return _result_from(workspace.provenance(STAGE, rec.name) or {}, True)
        run.invalidate()
        jobs, dirs, reused = plan_jobs(workspace, rec.name, members, items, opts, items_fp, force, backend_factory)
        total = reused + sum(len(j.chunks) for j in jobs)
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
        rows = item_score_rows(rec.name, [gold[it.item_id] for it in items], answers, models, opts.conditions,
                               min_correct)
        stats = vote_statistics(rows, answers, models, opts.conditions, min_correct, letter_preference(votes))
        _write_outputs(run, rec.name, rows, withheld)
        summary = {"panel": pnl.name, "stats": stats, "skipped_no_answer": len(withheld),
                   "chunks_run": total - reused, "chunks_reused": reused, "model_runs": model_runs,
                   "swap_borrowed_across_sources": borrowed if "swap" in opts.conditions else None}
        prov = run.finish(summary)
    return _result_from(prov, False)
