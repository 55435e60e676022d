"""The RVQ code cache, and how consumers read codes without re-encoding.

Cache layout (content-addressed; several workspaces may share one directory with `--cache DIR`):

    <cache>/<codec_key>/codec.json          the resolved codec spec and the number of codebooks kept
    <cache>/<codec_key>/part-<hash>.parquet `codes` rows, one per distinct audio content (sha256)

`codec_key` names (codec fingerprint, number of codebooks, input rate); a shard's name is a hash of the
audio it holds, so a rerun of the same work rewrites the same file, and shards written by different
workspaces never collide. Shards are immutable once written (atomic rename). When two runs race on the
same audio, both rows are kept and readers take the first: they are the same codes (batch-invariant,
deterministic encoders).

Each entry carries the sha256 of its codes (`codes_sha256`), and every load checks it and the entry's
codec key: an entry edited in place (still valid Parquet) is never used. `encode` drops such entries
and encodes their audio again; a reader (`Codes.load_codes`) refuses them with a one-line error.

Codes are stored flat, row-major `[num_codebooks, num_frames]`, as uint16 when every codebook fits
(the MiMo-Audio tokenizer's 1024/128-entry codebooks do): 8 codebooks at 25 Hz are 400 bytes per second
of audio before zstd.

Reading, for a trainer or a notebook:

    from adqa_data.codecs.cache import open_codes
    codes = open_codes("adqa-work", dataset="audiomcq")      # the latest encode of that dataset
    arrays = codes.load_codes(["amcq_0001", "amcq_0002"])   # [n_q, frames] uint16 each
    ds = codes.to_dataset()                                   # datasets.Dataset, codes as [n_q][frames]
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..core.errors import UserError
from ..core.schema import CODE_INDEX, CODES
from ..core.workspace import Workspace, shard_paths, stable_hash, write_json_atomic, write_table_atomic

CODEC_FILE = "codec.json"


def narrow_dtype(codebook_sizes: Sequence[int]) -> type:
    return np.uint16 if max(codebook_sizes) <= 65536 else np.int32


def entry_hash(codes: np.ndarray) -> str:
    """sha256 of one entry's codes as stored: shape and the values' bytes (uint16 or int32)."""
    n_q, frames = codes.shape
    return hashlib.sha256(f"{n_q}x{frames}:".encode() + np.ascontiguousarray(codes).tobytes()).hexdigest()


def codes_table(
    codec_key: str, entries: Sequence[tuple[str, np.ndarray]], codebook_sizes: Sequence[int]
) -> pa.Table:
    """`codes` rows from (audio sha256, [n_q, frames] codes), built without a Python loop over values."""
    dtype = narrow_dtype(codebook_sizes)
    flat = [np.ascontiguousarray(c, dtype=dtype).ravel() for _, c in entries]
    offsets = np.zeros(len(flat) + 1, dtype=np.int64)
    np.cumsum([len(f) for f in flat], out=offsets[1:])
    values = pa.array(np.concatenate(flat) if flat else np.zeros(0, dtype=dtype))
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), values).cast(
        pa.list_(pa.uint16() if dtype is np.uint16 else pa.int32())
    )
    hashes = [entry_hash(f.reshape(c.shape)) for f, (_, c) in zip(flat, entries)]
    nulls = pa.nulls(len(entries), pa.list_(pa.int32() if dtype is np.uint16 else pa.uint16()))
    narrow, wide = (lists, nulls) if dtype is np.uint16 else (nulls, lists)
    return pa.table(
        {
            "audio_sha256": pa.array([s for s, _ in entries], pa.string()),
            "codec_key": pa.array([codec_key] * len(entries), pa.string()),
            "num_codebooks": pa.array([c.shape[0] for _, c in entries], pa.int16()),
            "num_frames": pa.array([c.shape[1] for _, c in entries], pa.int32()),
            "codes": narrow,
            "codes_wide": wide,
            "codes_sha256": pa.array(hashes, pa.string()),
        }
    )


def rows_to_arrays(table: pa.Table, codec_key: str | None = None) -> dict[str, np.ndarray]:
    """sha256 -> [n_q, frames] array for every row of a `codes` table that matches its key (first such
    row wins on duplicates): the codec key when given, and the recorded hash of its codes where the
    shard records one. A row that does not match is left out, as if it were not cached."""
    out: dict[str, np.ndarray] = {}
    shas = table.column("audio_sha256").to_pylist()
    keys = table.column("codec_key").to_pylist()
    hashes = (
        table.column("codes_sha256").to_pylist()
        if "codes_sha256" in table.column_names
        else [None] * len(shas)
    )
    n_q = table.column("num_codebooks").to_numpy()
    frames = table.column("num_frames").to_numpy()
    for col in ("codes", "codes_wide"):
        arr = table.column(col).combine_chunks()
        if arr.null_count == len(arr):
            continue
        offsets = arr.offsets.to_numpy()  # index into the unsliced `values`
        values = arr.values.to_numpy(zero_copy_only=False)
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        for i, sha in enumerate(shas):
            if sha in out or not valid[i] or (codec_key is not None and keys[i] != codec_key):
                continue
            codes = values[offsets[i] : offsets[i + 1]]
            if len(codes) != int(n_q[i]) * int(frames[i]):
                continue
            codes = codes.reshape(int(n_q[i]), int(frames[i]))
            if hashes[i] is not None and entry_hash(codes) != hashes[i]:
                continue
            out[sha] = codes
    return out


class CodeCache:
    """One cache directory; safe to share between workspaces and concurrent runs."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().absolute()
        self._lock = threading.Lock()

    def codec_dir(self, codec_key: str) -> Path:
        return self.root / codec_key

    def register(self, codec_key: str, info: dict[str, Any]) -> None:
        """Record what produced a codec directory (once; it never changes for a key)."""
        path = self.codec_dir(codec_key) / CODEC_FILE
        if not path.exists():
            write_json_atomic(path, info, inside=self.root)

    def info(self, codec_key: str) -> dict[str, Any]:
        path = self.codec_dir(codec_key) / CODEC_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    def present(self, codec_key: str) -> dict[str, tuple[str, int, int]]:
        """Every cached audio sha256 whose entry matches its key -> (absolute shard path, num_codebooks,
        num_frames). Reads the codes: an entry edited in place is left out, so it is encoded again."""
        out: dict[str, tuple[str, int, int]] = {}
        for part in shard_paths(self.codec_dir(codec_key)):
            try:
                arrays = rows_to_arrays(pq.read_table(part), codec_key)
            except (OSError, pa.ArrowException, KeyError):  # a foreign or damaged file: it will be re-encoded
                continue
            for sha, codes in arrays.items():
                out.setdefault(sha, (str(part), int(codes.shape[0]), int(codes.shape[1])))
        return out

    def write(
        self, codec_key: str, entries: Sequence[tuple[str, np.ndarray]], codebook_sizes: Sequence[int]
    ) -> Path:
        """Write one immutable shard of codes; its name is a hash of the audio it holds."""
        name = "part-" + stable_hash(sorted(s for s, _ in entries), n=20) + ".parquet"
        path = self.codec_dir(codec_key) / name
        write_table_atomic(path, codes_table(codec_key, entries, codebook_sizes), CODES)
        return path


# ---------------------------------------------------------------------------------------------- reader
@dataclass
class Codes:
    """The codes of one dataset under one codec, as indexed by the last `encode` with that codec."""

    workspace: Workspace
    dataset: str
    codec_key: str
    index: pa.Table
    max_cached_shards: int = 64  # decoded shards kept in memory (a shard is ~30 min of audio, ~1.5 MB)
    _shards: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def item_ids(self) -> list[str]:
        return self.index.column("item_id").to_pylist()

    def __len__(self) -> int:
        return self.index.num_rows

    @functools.cached_property
    def _by_id(self) -> dict[str, dict[str, Any]]:
        return {
            r["item_id"]: r
            for r in self.index.select(["item_id", "audio_sha256", "cache_file", "num_frames"]).to_pylist()
        }

    def _rows(self, item_ids: Sequence[str]) -> list[dict[str, Any]]:
        by_id = self._by_id
        missing = [i for i in item_ids if i not in by_id]
        if missing:
            raise KeyError(
                f"{len(missing)} item(s) have no codes under {self.codec_key} (quarantined by encode, or not "
                f"in dataset {self.dataset!r}): {missing[:5]}"
            )
        return [by_id[i] for i in item_ids]

    def load_codes(self, item_ids: Sequence[str]) -> list[np.ndarray]:
        """`[num_codebooks, num_frames]` arrays (uint16, or int32 for codebooks over 65536), in order."""
        rows = self._rows(item_ids)
        wanted = {r["cache_file"] for r in rows}
        for f in wanted - self._shards.keys():
            if not Path(f).exists():
                raise UserError(
                    f"a code cache shard is gone: {f}",
                    fix="rerun 'adqa-data encode' (finished audio is re-read from the cache, the rest re-encoded)",
                )
            self._shards[f] = rows_to_arrays(pq.read_table(f), self.codec_key)  # neighbours come next
            while len(self._shards) > self.max_cached_shards:
                self._shards.pop(next(iter(self._shards)))
        out = []
        for r in rows:
            codes = self._shards[r["cache_file"]].get(r["audio_sha256"])
            if codes is None or codes.shape[1] != r["num_frames"]:
                raise UserError(
                    f"the cached codes of audio {r['audio_sha256'][:12]} in {r['cache_file']} do not match their "
                    "key (edited or damaged)",
                    fix="rerun 'adqa-data encode --force' (it encodes that audio again)",
                )
            out.append(codes)
        return out

    def to_dataset(self, item_ids: Sequence[str] | None = None):
        """A `datasets.Dataset`: item_id, audio_sha256, num_codebooks, num_frames, codes ([n_q][frames])."""
        import datasets

        ids = list(item_ids) if item_ids is not None else self.item_ids
        arrays = self.load_codes(ids)
        rows = self._rows(ids)
        return datasets.Dataset(nested_codes_table(ids, [r["audio_sha256"] for r in rows], arrays))


def nested_codes_table(
    item_ids: Sequence[str], shas: Sequence[str], arrays: Sequence[np.ndarray]
) -> pa.Table:
    """Arrow table with `codes` as list<list<uint16|int32>> ([n_q][frames]) built from flat buffers."""
    dtype = arrays[0].dtype if arrays else np.dtype(np.uint16)
    flat = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0, dtype)
    inner_sizes = (
        np.concatenate([np.full(a.shape[0], a.shape[1], np.int64) for a in arrays]) if arrays else []
    )
    inner = np.zeros(len(inner_sizes) + 1, np.int32)
    np.cumsum(inner_sizes, out=inner[1:])
    outer = np.zeros(len(arrays) + 1, np.int32)
    np.cumsum([a.shape[0] for a in arrays], out=outer[1:])
    values = pa.array(flat)
    codes = pa.ListArray.from_arrays(pa.array(outer), pa.ListArray.from_arrays(pa.array(inner), values))
    return pa.table(
        {
            "item_id": pa.array(list(item_ids), pa.string()),
            "audio_sha256": pa.array(list(shas), pa.string()),
            "num_codebooks": pa.array([a.shape[0] for a in arrays], pa.int16()),
            "num_frames": pa.array([a.shape[1] for a in arrays], pa.int32()),
            "codes": codes,
        }
    )


def codec_keys(workspace: Workspace, dataset: str) -> list[str]:
    """Codec keys with an index for this dataset."""
    d = workspace.table_dir(CODE_INDEX.name, dataset)
    return sorted(p.name for p in d.iterdir() if p.is_dir() and shard_paths(p)) if d.is_dir() else []


def open_codes(
    workspace: str | Path | Workspace, dataset: str | None = None, codec_key: str | None = None
) -> Codes:
    """The codes of a dataset; `codec_key` picks one codec when several were encoded (default: the latest)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    name = ws.dataset(dataset).name
    keys = codec_keys(ws, name)
    if not keys:
        raise UserError(
            f"dataset {name!r} has no codes yet", fix=f"run 'adqa-data encode -w {ws.root} -d {name}'"
        )
    if codec_key is None:
        prov = ws.provenance("encode", name) or {}
        latest = prov.get("summary", {}).get("codec_key")
        if latest in keys:
            codec_key = latest
        elif len(keys) == 1:
            codec_key = keys[0]
        else:
            raise UserError(
                f"dataset {name!r} has codes from several codecs", fix=f"pass codec_key= one of {keys}"
            )
    elif codec_key not in keys:
        raise UserError(f"no codes under {codec_key} for dataset {name!r}", fix=f"use one of {keys}")
    index = ws.read(CODE_INDEX, name, codec_key)
    return Codes(ws, name, codec_key, index)


def load_codes(
    workspace: str | Path | Workspace,
    item_ids: Sequence[str],
    dataset: str | None = None,
    codec_key: str | None = None,
) -> list[np.ndarray]:
    """Shortcut: `open_codes(...).load_codes(item_ids)`."""
    return open_codes(workspace, dataset, codec_key).load_codes(item_ids)
