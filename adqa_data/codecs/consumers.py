"""What a stage needs from the code cache when its model reads codes instead of audio (MiMo-Audio).

`encode` writes each item's RVQ codes once; a codes-consuming policy (a backend with `consumes =
"codes"`) must then get every clip from there and never open an audio file:

- `select_codec_key`: which of a dataset's code indexes a `--codec` names (a codec key, a registry
  alias such as `mimo-audio`, a family, or `family:source`), with an error saying how to encode when the
  dataset has none;
- `ItemCodes`: the codes of items, through the reader API (`cache.open_codes`), checked up front so a
  run fails before loading a model when an item was quarantined by encode;
- `generated_codes`: the codes of a clip the toolkit makes itself (the filter's and eval's silence and
  noise). They are encoded once per clip content with the same codec and kept in the same
  content-addressed cache as file audio, keyed by `pcm:` + the sha256 of the float32 samples.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import UserError
from ..core.fingerprints import stable_hash
from ..core.schema import CODE_INDEX
from ..core.workspace import Workspace
from .base import FAMILIES, CodecSpec
from .cache import CodeCache, Codes, codec_keys, open_codes, rows_to_arrays
from .registry import ALIASES, load_codec, parse_codec_name

PCM_PREFIX = "pcm:"


def _family_of_key(key: str) -> str:
    return key.split("-n", 1)[0]


def _cache_of(ws: Workspace, dataset: str, key: str) -> CodeCache:
    """The cache directory an index points into (it may live outside the workspace: encode --cache)."""
    idx = ws.read(CODE_INDEX, dataset, key, columns=["cache_file"])
    files = idx.column("cache_file").to_pylist()
    if not files:
        return CodeCache(ws.root / "cache" / "codes")
    return CodeCache(Path(files[0]).parent.parent)


def _source_matches(ws: Workspace, dataset: str, key: str, source: str) -> bool:
    info = _cache_of(ws, dataset, key).info(key).get("codec", {})
    if source in (info.get("source"), info.get("path")):
        return True
    local = Path(source).expanduser()
    return local.is_dir() and str(local.absolute()) == info.get("path")


def select_codec_key(ws: Workspace, dataset: str, codec: str) -> str:
    """The codec key of the code index `codec` names for `dataset` (module docstring).

    An alias (`mimo-audio`) or a bare family (`mimo`) matches any index of that family, the latest
    encode's first when several match; `family:source` also matches the source (hub id or folder)."""
    name = ws.dataset(dataset).name
    keys = codec_keys(ws, name)
    if codec in keys:
        return codec
    family, source = None, None
    if codec in ALIASES or codec in FAMILIES:
        family = ALIASES[codec][0] if codec in ALIASES else codec
    else:
        family, source, _ = parse_codec_name(codec)
    found = [k for k in keys if family is None or _family_of_key(k) == family]
    if source is not None:
        found = [k for k in found if _source_matches(ws, name, k, source)]
    hint = f" (its code indexes: {', '.join(keys)})" if keys else ""
    if not found:
        raise UserError(
            f"dataset {name!r} was not encoded with {codec}{hint}",
            fix=f"run 'adqa-data encode -w {ws.root} -d {name} --codec {codec}' first",
        )
    if len(found) > 1:
        latest = ((ws.provenance("encode", name) or {}).get("summary") or {}).get("codec_key")
        if latest in found:
            return latest
        raise UserError(
            f"dataset {name!r} has several code indexes for {codec}: {', '.join(found)}",
            fix="name one with --codec <codec key>",
        )
    return found[0]


@dataclass
class ItemCodes:
    """The codes of a dataset's items under one codec key (the reader API, opened once)."""

    workspace: Workspace
    dataset: str
    codec_key: str

    @functools.cached_property
    def codes(self) -> Codes:
        return open_codes(self.workspace, self.dataset, self.codec_key)

    def check(self, item_ids: Sequence[str]) -> None:
        """Every item has codes (an item encode quarantined has none: say so before a model loads)."""
        have = set(self.codes.item_ids)
        missing = [i for i in item_ids if i not in have]
        if missing:
            raise UserError(
                f"{len(missing)} item(s) have no codes under {self.codec_key} (e.g. {missing[0]}): encode "
                "quarantined them or ran before they were downloaded",
                fix=f"rerun 'adqa-data encode -d {self.dataset}' and check its quarantine, or sample prompts "
                "without those items",
            )

    def load(self, item_ids: Sequence[str]) -> list[np.ndarray]:
        """`[num_codebooks, frames]` per item, in order."""
        return self.codes.load_codes(list(item_ids))

    @functools.cached_property
    def cache(self) -> CodeCache:
        """The cache the index points into (read once: `sample_rate` and `generated` both need it)."""
        return _cache_of(self.workspace, self.dataset, self.codec_key)

    @property
    def sample_rate(self) -> int:
        """The rate the codec takes (a generated clip is made at it before encoding)."""
        info = self.cache.info(self.codec_key).get("codec") or {}
        if "sample_rate" not in info:
            raise UserError(
                f"the code cache does not record which codec made {self.codec_key}",
                fix="rerun 'adqa-data encode' with that codec",
            )
        return int(info["sample_rate"])

    def generated(self, samples: np.ndarray, device: str = "cpu") -> np.ndarray:
        """The codes of a generated clip (silence, noise) at `sample_rate`, encoded once and cached."""
        return generated_codes(self.cache, self.codec_key, samples, device)


def pcm_key(samples: np.ndarray) -> str:
    """The cache key of a generated clip: its float32 samples' sha256 (the rate is the codec's)."""
    data = np.ascontiguousarray(samples, dtype=np.float32).tobytes()
    return PCM_PREFIX + hashlib.sha256(data).hexdigest()


def _read_cached(cache: CodeCache, codec_key: str, key: str) -> np.ndarray | None:
    """A generated clip's codes: `CodeCache.write` names a shard by the hash of the keys it holds, and a
    generated clip is written alone, so its shard's name is known."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = cache.codec_dir(codec_key) / f"part-{stable_hash([key], n=20)}.parquet"
    try:
        return rows_to_arrays(pq.read_table(part), codec_key).get(key)
    except (OSError, pa.ArrowInvalid):  # absent, or a damaged file: encode again (the write is atomic)
        return None


def generated_codes(cache: CodeCache, codec_key: str, samples: np.ndarray, device: str = "cpu") -> np.ndarray:
    """The codes of a generated clip (silence, noise) at the codec's rate: from the cache, or encoded
    once with the codec recorded for `codec_key` and cached (content-addressed by `pcm_key`)."""
    key = pcm_key(samples)
    hit = _read_cached(cache, codec_key, key)
    if hit is not None:
        return hit
    info = cache.info(codec_key)
    if "codec" not in info:
        raise UserError(
            f"the code cache {cache.root} does not record which codec made {codec_key}",
            fix="rerun 'adqa-data encode' with that codec",
        )
    spec = CodecSpec.from_json(info["codec"])
    codec = load_codec(spec, int(info["num_codebooks"]), device)
    codes = codec.encode([np.ascontiguousarray(samples, dtype=np.float32)])[0]
    cache.write(codec_key, [(key, codes)], codec.codebook_sizes)
    return _read_cached(cache, codec_key, key)  # as every later reader gets it (the cache's integer type)


def policy_codes(
    ws: Workspace,
    dataset: str,
    backend: str,
    model: str | None,
    family: str | None,
    codec: str | None,
    item_ids: Sequence[str],
) -> dict[str, str] | None:
    """For a model that reads RVQ codes (MiMo-Audio), the code index a stage's shards read instead of
    audio: `codec` (a name or key; default the model's own codec), checked to hold every item, as
    {"workspace", "dataset", "codec_key"} (JSON-able: it travels to Ray workers). None for a model that
    reads audio (then `codec` must not be given). Reads config.json only; loads nothing."""
    from ..inference.factory import backend_input

    consumes, own = backend_input(backend, model, family)
    if consumes != "codes":
        if codec is not None:
            raise UserError(
                f"--codec {codec} was given, but this model reads audio, not codes",
                fix="leave --codec out (it selects the codes a MiMo-Audio model reads)",
            )
        return None
    key = select_codec_key(ws, dataset, codec or str(own))
    ItemCodes(ws, dataset, key).check(item_ids)
    return {"workspace": str(ws.root), "dataset": dataset, "codec_key": key}
