"""The check-leakage stage: audio fingerprints per dataset (cached), then three matchers, then one table.

Outputs:
    audio_fingerprints/<dataset>/part-*.parquet  one row per distinct audio file (sha256), resumable shards;
                                                 kept while the dataset's audio is unchanged, so checking
                                                 against another set later fingerprints only that set
    leakage/<dataset>/part-00000.parquet         one row per (training item, method, dev/eval item)
    provenance/check-leakage/<dataset>.json      the settings, inputs and counts

Matchers, each a `method` value of the table:
- `audio_sha256`: the same bytes (the items tables' content hash);
- `audio_fingerprint`: the same recording resampled, re-encoded, turned down, downmixed or cropped
  (`audio_fingerprint.py`: Haitsma-Kalker sign bits, index lookup, bit-error-rate check); clips whose
  bytes are already identical are reported by the hash only;
- `text`: the same question and options after normalisation (Unicode NFKC, case folded, punctuation
  and spacing ignored, options as a set so a reordering does not hide a copy).
A question alone is not a match: short questions ("What is the main sound?") recur across unrelated
clips, and flagging them would exclude honest items. For the same reason a question + options text that
recurs in `TEMPLATE_MIN` (3) or more reference items is a template ("How many clicks? one/two/three/
four" asked of many clips), not a copy: it is not flagged (its audio still is, by the two audio
matchers), and the summary counts the items that matched only a template.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ...audio.clips import AudioError, read_item_audio
from ...core.engine import map_unordered
from ...core.errors import UserError
from ...core.fingerprints import rows_fingerprint
from ...core.results import result_from_summary
from ...core.schema import AUDIO_FINGERPRINTS, ITEMS, LEAKAGE
from ...core.workspace import StageRun, Workspace, read_table
from . import audio_fingerprint as afp
from .config import METHODS, TEMPLATE_MIN, LeakageConfig

STAGE = "check-leakage"
FP_STAGE = "audio-fingerprint"
REFERENCE_SPLITS = ("dev", "eval")
FP_SHARD = 256  # distinct clips per fingerprint shard: the unit of resume and of a worker process


@dataclass
class LeakageResult:
    dataset: str
    against: list[str]
    up_to_date: bool
    items: int = 0
    flagged_items: int = 0
    rows: int = 0
    by_method: dict[str, int] = field(default_factory=dict)  # method -> flagged training items
    by_reference: dict[str, int] = field(default_factory=dict)  # reference dataset -> flagged training items
    fingerprint_errors: int = 0  # clips that could not be decoded (not fingerprint-checked)
    template_matches: int = 0  # training items whose text matched only a template (not flagged)
    seconds: float = 0.0
    out_dir: str = ""


# ----------------------------------------------------------------------------------------------- text
_NON_WORD = re.compile(r"[\W_]+")


def normalise_text(s: str) -> str:
    """Case, punctuation, spacing and Unicode compatibility forms ignored."""
    return " ".join(_NON_WORD.sub(" ", unicodedata.normalize("NFKC", s).casefold()).split())


def question_key(question: str, choices: Sequence[str]) -> str:
    """The normalised question with its options as a set (order-independent)."""
    return normalise_text(question) + " || " + " | ".join(sorted(normalise_text(c) for c in choices))


# -------------------------------------------------------------------------------------- fingerprints
def fingerprint_shard(task: dict[str, Any]) -> int:
    """Fingerprint one shard of distinct clips and write it (a worker process or in-process)."""
    rows = []
    for sha, path in task["clips"]:
        try:  # download's confinement and the recorded sha256, as every stage that opens audio
            fp = afp.fingerprint_samples(read_item_audio(task["root"], path, sha, afp.RATE))
            rows.append(
                {
                    "audio_sha256": sha,
                    "version": afp.VERSION,
                    "bits": fp.bits.tolist(),
                    "valid": fp.valid.tolist(),
                    "error": None,
                }
            )
        except AudioError as e:
            rows.append(
                {
                    "audio_sha256": sha,
                    "version": afp.VERSION,
                    "bits": None,
                    "valid": None,
                    "error": f"{e.reason}: {e.detail}",
                }
            )
    StageRun.write_shard(
        Path(task["out_dir"]), task["index"], AUDIO_FINGERPRINTS.from_pylist(rows), AUDIO_FINGERPRINTS
    )
    return len(rows)


def dataset_fingerprints(
    ws: Workspace, dataset: str, workers: int | None = None, on_clip: Callable[[int], None] | None = None
) -> tuple[dict[str, afp.Fingerprint], int]:
    """sha256 -> fingerprint of every distinct clip of a dataset (computed once, then read from the
    workspace), and the number of clips that could not be decoded."""
    rec = ws.dataset(dataset)
    clips: dict[str, str] = {}
    for r in ws.read(ITEMS, rec.name, columns=["audio_sha256", "audio_path"]).to_pylist():
        clips.setdefault(r["audio_sha256"], r["audio_path"])
    order = sorted(clips)
    run = StageRun(
        ws,
        FP_STAGE,
        rec.name,
        {"version": afp.VERSION, "schema": AUDIO_FINGERPRINTS.version},
        {"audio": rows_fingerprint(order)},
    )
    with run:
        if run.up_to_date:
            table = ws.read(AUDIO_FINGERPRINTS, rec.name)
            if on_clip:
                on_clip(len(order))
        else:
            out = run.output(AUDIO_FINGERPRINTS.name)
            chunks = [order[i : i + FP_SHARD] for i in range(0, len(order), FP_SHARD)]
            todo = [
                {"index": i, "out_dir": str(out), "root": rec.root, "clips": [(s, clips[s]) for s in chunk]}
                for i, chunk in enumerate(chunks)
                if not StageRun.shard_done(out, i)
            ]
            if on_clip:
                on_clip(len(order) - sum(len(t["clips"]) for t in todo))
            for n in map_unordered(
                fingerprint_shard, todo, workers=workers or 1, processes=(workers or 1) > 1
            ):
                if on_clip:
                    on_clip(n)
            table = read_table(out, AUDIO_FINGERPRINTS)
            errors = sum(e is not None for e in table.column("error").to_pylist())
            run.finish({"clips": len(order), "errors": errors})
    return _read_fingerprints(table)


def _read_fingerprints(table: pa.Table) -> tuple[dict[str, afp.Fingerprint], int]:
    """The table's fingerprints as numpy arrays (through Arrow buffers: no Python int per frame)."""
    import pyarrow.compute as pc

    shas = table.column("audio_sha256").to_pylist()
    bits, valid = table.column("bits").combine_chunks(), table.column("valid").combine_chunks()
    lengths = pc.list_value_length(bits).fill_null(0).to_numpy()
    flat_bits = pc.list_flatten(bits).to_numpy(zero_copy_only=False).astype(np.uint32, copy=False)
    flat_valid = pc.list_flatten(valid).to_numpy(zero_copy_only=False).astype(bool, copy=False)
    ends = np.cumsum(lengths)
    fps, errors = {}, 0
    for i, sha in enumerate(shas):
        if not bits[i].is_valid:
            errors += 1
            continue
        lo, hi = ends[i] - lengths[i], ends[i]
        fps[sha] = afp.Fingerprint(flat_bits[lo:hi], flat_valid[lo:hi])
    return fps, errors


# ---------------------------------------------------------------------------------------------- stage
def reference_datasets(ws: Workspace, dataset: str, against: Sequence[str] | None) -> list[str]:
    if against:
        names = [ws.dataset(a).name for a in against]
        if dataset in names:
            raise UserError(
                f"dataset {dataset!r} cannot be checked against itself", fix="drop it from --against"
            )
        return sorted(set(names))
    names = sorted(n for n, r in ws.datasets().items() if n != dataset and r.split in REFERENCE_SPLITS)
    if not names:
        raise UserError(
            f"the workspace has no dev or evaluation dataset to check {dataset!r} against",
            fix="download one (e.g. 'adqa-data download --hub dcase2026-dev') or name datasets with "
            "--against",
        )
    return names


def training_dataset(ws: Workspace, dataset: str | None) -> str:
    """The named dataset, else the workspace's only training-split dataset."""
    if dataset is not None:
        return ws.dataset(dataset).name
    train = sorted(n for n, r in ws.datasets().items() if r.split not in REFERENCE_SPLITS)
    if len(train) == 1:
        return train[0]
    return ws.dataset(None).name  # its error names the datasets


def _items(ws: Workspace, name: str) -> list[dict[str, Any]]:
    return ws.read(ITEMS, name, columns=["item_id", "question", "choices", "audio_sha256"]).to_pylist()


def find_leaks(
    train: list[dict[str, Any]],
    refs: dict[str, list[dict[str, Any]]],
    ref_splits: dict[str, str],
    methods: Sequence[str],
    train_fps: dict[str, afp.Fingerprint] | None = None,
    ref_fps: dict[str, dict[str, afp.Fingerprint]] | None = None,
    template_min: int = TEMPLATE_MIN,
) -> tuple[list[dict[str, Any]], int]:
    """Leakage rows (schema LEAKAGE, without `dataset`) of training items against reference items, and
    the number of training items whose text matched only a template (`template_min` or more reference
    items share it; 0 = no template rule)."""
    rows: list[dict[str, Any]] = []
    templates = 0

    def add(
        item: dict, method: str, ref_ds: str, ref: dict, sim: float, offset: float | None, detail: str
    ) -> None:
        rows.append(
            {
                "item_id": item["item_id"],
                "method": method,
                "reference_dataset": ref_ds,
                "reference_split": ref_splits.get(ref_ds),
                "reference_item_id": ref["item_id"],
                "similarity": sim,
                "offset_s": offset,
                "detail": detail,
            }
        )

    by_sha: dict[str, list[tuple[str, dict]]] = {}
    by_text: dict[str, list[tuple[str, dict]]] = {}
    for ds, items in refs.items():
        for r in items:
            by_sha.setdefault(r["audio_sha256"], []).append((ds, r))
            by_text.setdefault(question_key(r["question"], r["choices"]), []).append((ds, r))
    if "audio_sha256" in methods:
        for it in train:
            for ds, r in by_sha.get(it["audio_sha256"], []):
                add(it, "audio_sha256", ds, r, 1.0, None, "identical audio bytes")
    if "text" in methods:
        for it in train:
            same = by_text.get(question_key(it["question"], it["choices"]), [])
            if template_min and len(same) >= template_min:
                templates += 1
                continue
            for ds, r in same:
                add(it, "text", ds, r, 1.0, None, "same question and options after normalisation")
    if "audio_fingerprint" in methods and train_fps is not None and ref_fps is not None:
        rows += _fingerprint_rows(train, refs, ref_splits, by_sha, train_fps, ref_fps)
    return rows, templates


def _fingerprint_rows(
    train: list[dict[str, Any]],
    refs: dict[str, list[dict[str, Any]]],
    ref_splits: dict[str, str],
    by_sha: dict[str, list[tuple[str, dict]]],
    train_fps: dict[str, afp.Fingerprint],
    ref_fps: dict[str, dict[str, afp.Fingerprint]],
) -> list[dict[str, Any]]:
    ref_shas = sorted({s for fps in ref_fps.values() for s in fps})
    merged = {s: fp for fps in ref_fps.values() for s, fp in fps.items()}
    index = afp.FingerprintIndex([merged[s] for s in ref_shas])
    train_by_sha: dict[str, list[dict]] = {}
    for it in train:
        train_by_sha.setdefault(it["audio_sha256"], []).append(it)
    rows = []
    for sha in sorted(train_by_sha):
        if sha not in train_fps or sha in by_sha:  # undecodable, or already the same bytes
            continue
        for m in index.match(train_fps[sha]):
            offset = m.offset_frames * afp.HOP / afp.RATE
            detail = f"bit error rate {m.ber:.3f} over {m.overlap_frames} frames"
            for it in train_by_sha[sha]:
                for ds, r in by_sha.get(ref_shas[m.reference], []):
                    rows.append(
                        {
                            "item_id": it["item_id"],
                            "method": "audio_fingerprint",
                            "reference_dataset": ds,
                            "reference_split": ref_splits.get(ds),
                            "reference_item_id": r["item_id"],
                            "similarity": m.similarity,
                            "offset_s": offset,
                            "detail": detail,
                        }
                    )
    return rows


def check_leakage(
    ws: Workspace,
    dataset: str | None = None,
    against: Sequence[str] | None = None,
    methods: Sequence[str] = METHODS,
    template_min: int = TEMPLATE_MIN,
    workers: int | None = None,
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> LeakageResult:
    """`run` with the settings as arguments (`LeakageConfig`'s fields): the library's shorthand."""
    from ...core.config_files import validate_model

    settings = {
        "dataset": dataset,
        "against": None if against is None else list(against),
        "method": list(methods),
        "template_min": template_min,
        "workers": workers,
    }
    config = validate_model(LeakageConfig, settings, "check-leakage settings")
    return run(ws, config, force=force, on_progress=on_progress)


def run(
    ws: Workspace,
    config: LeakageConfig,
    *,
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> LeakageResult:
    """Flag the training items of `dataset` that leak into the dev/eval datasets (module docstring)."""
    methods, template_min, workers = config.method, config.template_min, config.workers
    ds = training_dataset(ws, config.dataset)
    names = reference_datasets(ws, ds, config.against)
    train = _items(ws, ds)
    refs = {n: _items(ws, n) for n in names}
    ref_splits = {n: ws.dataset(n).split for n in names}
    settings = {
        "against": names,
        "methods": methods,
        "fingerprint_version": afp.VERSION,
        "max_ber": afp.MAX_BER,
        "min_overlap": afp.MIN_OVERLAP,
        "template_min": template_min,
        "schema": LEAKAGE.version,
    }
    inputs = {
        n: rows_fingerprint([r["item_id"], r["question"], r["choices"], r["audio_sha256"]] for r in items)
        for n, items in {ds: train, **refs}.items()
    }
    stage_run = StageRun(ws, STAGE, ds, settings, inputs, force=force)
    with stage_run:
        if stage_run.up_to_date:
            summary = (ws.provenance(STAGE, ds) or {}).get("summary", {})
            return result_from_summary(LeakageResult, summary, up_to_date=True, seconds=0.0)
        train_fps = ref_fps = None
        errors = 0
        if "audio_fingerprint" in methods:
            total = len({r["audio_sha256"] for r in train}) + sum(
                len({r["audio_sha256"] for r in v}) for v in refs.values()
            )
            done = {"n": 0}

            def on_clip(n: int) -> None:
                done["n"] += n
                if on_progress:
                    on_progress(done["n"], total)

            ref_fps = {}
            for n in names:
                ref_fps[n], e = dataset_fingerprints(ws, n, workers, on_clip)
                errors += e
            train_fps, e = dataset_fingerprints(ws, ds, workers, on_clip)
            errors += e
        found, templates = find_leaks(train, refs, ref_splits, methods, train_fps, ref_fps, template_min)
        rows = [{"dataset": ds, **r} for r in found]
        rows.sort(
            key=lambda r: (
                r["item_id"],
                METHODS.index(r["method"]),
                r["reference_dataset"],
                r["reference_item_id"],
            )
        )
        out = stage_run.output(LEAKAGE.name)
        stage_run.write_shard(out, 0, LEAKAGE.from_pylist(rows), LEAKAGE)
        flagged = {r["item_id"] for r in rows}
        result = LeakageResult(
            dataset=ds,
            against=names,
            up_to_date=False,
            items=len(train),
            flagged_items=len(flagged),
            rows=len(rows),
            by_method={m: len({r["item_id"] for r in rows if r["method"] == m}) for m in methods},
            by_reference={n: len({r["item_id"] for r in rows if r["reference_dataset"] == n}) for n in names},
            fingerprint_errors=errors,
            template_matches=templates,
            out_dir=str(ws.table_dir(LEAKAGE.name, ds)),
        )
        summary = {k: v for k, v in result.__dict__.items() if k not in ("up_to_date", "seconds")}
        prov = stage_run.finish(summary)
        result.seconds = prov["seconds"]
    return result


def leaked_items(ws: Workspace, dataset: str) -> set[str] | None:
    """The flagged item ids of a dataset's finished check-leakage run; None when it has none."""
    prov = ws.provenance(STAGE, dataset)
    if not prov or prov.get("status") != "complete":
        return None
    return set(ws.read(LEAKAGE, dataset, columns=["item_id"]).column("item_id").to_pylist())
