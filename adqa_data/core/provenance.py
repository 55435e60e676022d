"""The provenance record's schema: what a stage writes to `provenance/<stage>/<dataset>[.<name>].json`.

A record decides whether a stage is up to date and feeds `info`, `stats` and the export cards, so it is
validated when read: a record that is not of this shape (a null summary, a count that is not a
non-negative integer, a shard list of the wrong types) is treated as absent, so the stage redoes its
work instead of trusting it or echoing nonsense; `Workspace.provenance` warns about it on stderr.
"""

from __future__ import annotations

import platform
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    ValidationError,
    field_validator,
)

from .. import __version__

# summary fields that are counts wherever a stage writes them (download, encode, filter, sample, rollout ...)
COUNT_FIELDS = frozenset(
    {"input_rows", "items", "indexed", "distinct_audio", "cache_hits", "encoded", "groups", "rows"}
)
# summary fields that are a count, or counts by reason
COUNTS_FIELDS = frozenset({"quarantined", "reasons"})


def package_versions(*names: str) -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version(), "adqa-data": __version__}
    for n in ("pyarrow", "numpy", "soundfile", *names):
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


class ShardRecord(BaseModel):
    """One Parquet shard of an output table as the run left it."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(pattern=r"^part-[A-Za-z0-9]+\.parquet$")
    rows: NonNegativeInt
    bytes: NonNegativeInt
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    mtime_ns: NonNegativeInt | None = None  # absent in records written before it: the file is hashed


class ProvenanceRecord(BaseModel):
    """Stage, config, inputs, versions, times, summary; `outputs` lists each output folder's shards
    (folder relative to the workspace -> shards), absent in records written before it existed."""

    model_config = ConfigDict(extra="allow")
    stage: str
    dataset: str
    unit: str | None = None
    key: str
    status: str
    config: dict[str, Any] = Field(default_factory=dict)
    config_hash: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    started: str | None = None
    finished: str | None = None
    seconds: NonNegativeFloat | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, list[ShardRecord]] | None = None

    @field_validator("outputs")
    @classmethod
    def _outputs_are_workspace_folders(cls, outputs: dict[str, list[ShardRecord]] | None) -> Any:
        for rel in outputs or {}:
            parts = rel.split("/")
            if rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts):
                raise ValueError(f"output folder {rel!r} is not a plain path inside the workspace")
        return outputs

    @field_validator("summary")
    @classmethod
    def _counts_are_counts(cls, summary: dict[str, Any]) -> dict[str, Any]:
        for key, value in summary.items():
            if key in COUNT_FIELDS and (type(value) is not int or value < 0):
                raise ValueError(f"summary field {key!r} is {value!r}, not a count")
            if key in COUNTS_FIELDS and not _counts(value):
                raise ValueError(f"summary field {key!r} is {value!r}, not a count or counts by reason")
        return summary


def _counts(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and type(v) is int and v >= 0 for k, v in value.items())
    return type(value) is int and value >= 0


def validate_record(raw: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(the record as a plain dict, None) when `raw` is a valid record, else (None, why, in one line)."""
    try:
        record = ProvenanceRecord.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        return None, f"{where}: {first['msg']}"
    # the original dict (fields this schema does not know stay as they were written)
    return {**raw, "summary": record.summary}, None
