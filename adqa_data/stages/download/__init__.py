"""`adqa-data download`: upstream files -> the canonical item table, every bad row quarantined.

config.py   the settings, declared once (the command's options, a pipeline step's keys)
hub.py      pinned hub datasets: the manifest and a resumable snapshot
rows.py     the manifest read and every row mapped + validated
probing.py  each distinct audio file probed once, in resumable chunks
stage.py    `run(ws, config)`: the three phases and the tables; `download(ws, **settings)`
summary.py  the only description of the item and quarantine tables (`stats`, `info`, a rerun)
"""

from . import hub, probing
from .config import MAX_AUDIO_SECONDS, DownloadConfig
from .hub import load_manifest
from .rows import manifest_path, read_rows, validate_rows
from .stage import DownloadResult, download, run
from .summary import STAGE, describe, overview, quarantine_of, recorded_counts

__all__ = [
    "MAX_AUDIO_SECONDS",
    "STAGE",
    "DownloadConfig",
    "DownloadResult",
    "describe",
    "download",
    "hub",
    "load_manifest",
    "manifest_path",
    "overview",
    "probing",
    "quarantine_of",
    "read_rows",
    "recorded_counts",
    "run",
    "validate_rows",
]
