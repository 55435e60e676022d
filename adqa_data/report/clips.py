"""The clips a report plays: copied next to the page, with a waveform envelope to draw under the strip.

A page opened from disk may not read its own files with `fetch` (browsers treat file:// as opaque), so
the waveform cannot be decoded in the page: its envelope (min and max per column) is computed here and
travels with the group data. Clips are read through `audio.read_item_audio`, which checks that the path
stays inside the dataset root and that the bytes still hash to the item's recorded sha256; a clip that
fails is reported without audio, never copied.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..audio.clips import AudioError, read_item_audio

AudioMode = Literal["copy", "link", "none"]
AUDIO_MODES: tuple[str, ...] = ("copy", "link", "none")
ENVELOPE_COLUMNS = 240  # the canvas is drawn at any width from these; ~1 column per 2 px on a desktop
ENVELOPE_RATE = 8000  # decoding rate for the envelope: its shape, not its sound


@dataclass
class Clips:
    """Clips placed under `out/audio/`, one file per distinct content (sha256), each read once."""

    out: Path
    mode: AudioMode = "copy"
    placed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def clip(self, root: str, audio_path: str | None, sha256: str | None) -> dict[str, Any]:
        """{"src": path relative to the report or None, "duration": s, "envelope": [[min, max], ...]}, or
        {"error": why} when the clip cannot be read."""
        if not audio_path or not sha256:
            return {"error": "no clip recorded"}
        if sha256 not in self.placed:
            self.placed[sha256] = self._place(root, audio_path, sha256)
        return self.placed[sha256]

    def _place(self, root: str, audio_path: str, sha256: str) -> dict[str, Any]:
        try:
            wave = read_item_audio(root, audio_path, sha256, ENVELOPE_RATE)
        except AudioError as e:
            return {"error": f"{e.reason}: {e.detail}"}
        info: dict[str, Any] = {"duration": round(len(wave) / ENVELOPE_RATE, 3), "envelope": envelope(wave)}
        if self.mode == "none":
            return {**info, "src": None}
        source = Path(root) / audio_path
        name = f"audio/{sha256[:24]}{source.suffix.lower()}"
        target = self.out / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            try:
                if self.mode == "link":
                    tmp.symlink_to(source.resolve())
                else:
                    shutil.copyfile(source, tmp)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        return {**info, "src": name}


def envelope(wave: np.ndarray, columns: int = ENVELOPE_COLUMNS) -> list[list[float]]:
    """Min and max of the samples in each of `columns` equal spans, rounded for a small JSON."""
    w = np.asarray(wave, dtype=np.float32).reshape(-1)
    if w.size == 0:
        return []
    edges = np.linspace(0, w.size, min(columns, w.size) + 1).astype(int)
    return [
        [round(float(w[a:b].min()), 3), round(float(w[a:b].max()), 3)]
        for a, b in zip(edges[:-1], edges[1:])
        if b > a
    ]
