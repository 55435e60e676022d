"""The items a filter run scores and the clip each condition plays them.

- `prepare_items`: the scorable items of the item table (those without a gold answer are quarantined).
- `assign_swaps`: the `swap` condition's donors: another item of the same `source_dataset`, drawn with
  a fixed seed per source; never the item's own clip, nor any clip with the same content (items may
  share a file). A source with a single distinct clip borrows from the whole dataset.
- `rotate` / `rotations`: with K permutations, rotation p shows option (j + p) % n at position j; an
  item with fewer than K options gets n rotations (more would repeat one).
- `ConditionAudio`: the samples of each condition at the model's rate. `silence` (30 s by default, as
  in the AudioMCQ paper) and `noise` (one clip of the same length from a fixed seed) are shared by every
  item, so they are controlled conditions and their prompt prefix is shared too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...audio.clips import AudioError, noise, read_failure, read_item_audio, silence
from ...core.errors import UserError
from ...core.fingerprints import stable_hash
from ...core.quarantine import quarantine_row
from ...core.schema import QuarantineReason as R
from ..row_checks import ASKED_COLUMNS
from .config import FilterConfig
from .voting import GoldItem

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa


@dataclass(frozen=True)
class ItemRef:
    """One scorable item as a model job needs it (plain data: it travels to Ray workers)."""

    item_id: str
    question: str
    choices: tuple[str, ...]
    answer_index: int
    audio_path: str  # relative to `root`, as in the item table
    audio_sha256: str
    source_dataset: str | None = None
    question_type: str | None = None
    donor: ItemRef | None = None  # swap: the item whose clip is played instead
    root: str = ""  # the dataset root

    def gold(self) -> GoldItem:
        return GoldItem(
            self.item_id, self.answer_index, len(self.choices), self.source_dataset, self.question_type
        )


def prepare_items(items: pa.Table, root: str) -> tuple[list[ItemRef], list[dict[str, Any]]]:
    """Split the item table into scorable items and those whose answer is withheld (quarantine rows)."""
    cols = [*ASKED_COLUMNS, "source_dataset", "question_type", "row_index"]
    refs, withheld = [], []
    for r in items.select(cols).to_pylist():
        if r["answer_index"] is None:
            withheld.append(
                quarantine_row(
                    r["row_index"],
                    r["item_id"],
                    R.ANSWER_WITHHELD,
                    "the gold answer is withheld, so audio contribution cannot be measured",
                )
            )
            continue
        refs.append(
            ItemRef(
                r["item_id"],
                r["question"],
                tuple(r["choices"]),
                int(r["answer_index"]),
                r["audio_path"],
                r["audio_sha256"],
                r["source_dataset"],
                r["question_type"],
                root=str(root),
            )
        )
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
                raise UserError(
                    "the swap condition needs clips with different content, and every item here "
                    "has the same clip",
                    fix="drop --condition swap for this dataset",
                )
            donors[it.item_id] = replace(d, donor=None)
    return [replace(it, donor=donors[it.item_id]) for it in items], borrowed


def rotate(choices: tuple[str, ...] | list[str], p: int) -> list[str]:
    """Rotation p of the options: position j shows original option (j + p) % n."""
    c = list(choices)
    return c[p:] + c[:p]


def rotations(n_options: int, permutations: int) -> range:
    return range(min(permutations, n_options))


def constant_clip(options: FilterConfig, condition: str, sample_rate: int) -> np.ndarray:
    """The clip `silence` or `noise` plays for every item, at `sample_rate` (one definition for
    waveform and code readers)."""
    o = options
    if condition == "silence":
        return silence(o.silence_seconds, sample_rate)
    return noise(o.silence_seconds, sample_rate, o.noise_color, o.noise_level, o.seed)


class ConditionAudio:
    """The clip each condition plays, at the model's sample rate; constant clips are built once."""

    def __init__(self, options: FilterConfig, sample_rate: int):
        self.options, self.sr = options, sample_rate
        self._fixed: dict[str, tuple[np.ndarray, str]] = {}
        self._clips: dict[str, np.ndarray] = {}

    def _fixed_clip(self, condition: str) -> tuple[np.ndarray, str]:
        if condition not in self._fixed:
            x = constant_clip(self.options, condition, self.sr)
            params = stable_hash(self.options.condition_params(condition))
            self._fixed[condition] = (x, f"{condition}:{params}@{self.sr}")
        return self._fixed[condition]

    def _load(self, item: ItemRef) -> np.ndarray:
        if item.audio_sha256 not in self._clips:
            try:  # checked before the run (row_checks); a file changed since then stops it here
                self._clips[item.audio_sha256] = read_item_audio(
                    item.root, item.audio_path, item.audio_sha256, self.sr
                )
            except AudioError as e:
                raise read_failure(
                    e, f"item {item.item_id}", str(Path(item.root) / item.audio_path)
                ) from None
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

    def query_fields(self, clip: np.ndarray) -> dict[str, Any]:
        """How a clip goes into a `Query`: as its waveform."""
        return {"audio": clip}


class ConditionCodes:
    """The clip each condition plays as RVQ codes, for a member that reads codes (MiMo-Audio): item and
    donor clips from the dataset's code index, silence and noise made at the codec's rate and encoded
    once with the same codec, then cached (`codecs.consumers.generated_codes`). No audio file is opened.
    `source`: {"workspace", "dataset", "codec_key"}."""

    def __init__(self, options: FilterConfig, source: dict[str, str], device: str = "cpu"):
        from ...codecs.consumers import ItemCodes
        from ...core.workspace import Workspace

        self.options, self.device = options, device
        self.codes = ItemCodes(Workspace(source["workspace"]), source["dataset"], source["codec_key"])
        self._fixed: dict[str, tuple[np.ndarray, str]] = {}

    def clip(self, condition: str, item: ItemRef) -> tuple[np.ndarray, str, str | None]:
        """(codes, audio_id, id of the item whose clip it is), as `ConditionAudio.clip`."""
        key = self.codes.codec_key
        if condition in ("silence", "noise"):
            if condition not in self._fixed:
                x = constant_clip(self.options, condition, self.codes.sample_rate)
                audio_id = f"{condition}:{stable_hash(self.options.condition_params(condition))}@{key}"
                self._fixed[condition] = (self.codes.generated(x, self.device), audio_id)
            codes, audio_id = self._fixed[condition]
            return codes, audio_id, None
        src = item if condition == "audio" else item.donor
        if src is None:
            raise RuntimeError(f"item {item.item_id} has no swap donor")
        return self.codes.load([src.item_id])[0], f"{src.audio_sha256}@{key}", src.item_id

    def release_clips(self) -> None:
        """Nothing to drop: the code reader keeps a bounded number of decoded cache shards."""

    def query_fields(self, clip: np.ndarray) -> dict[str, Any]:
        return {"audio": None, "codes": clip}
