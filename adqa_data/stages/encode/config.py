"""`encode`'s settings, declared once: the command's options and a pipeline step's keys come from here."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...core.config_files import dataset_field

DEFAULT_CODEC = "mimo-audio"
DEFAULT_NUM_CODEBOOKS = {"mimo": 8}  # the MiMo-Audio LM reads only the first 8 RVQ layers of its tokenizer
# CPU defaults, measured on the tiny codecs (benchmarks/encode.py): a convolutional codec is no faster per
# second of audio in bigger batches on a CPU, so batches stay small (about one long clip); GPUs want more.
CPU_BATCH_SECONDS = 30.0
GPU_BATCH_SECONDS = 600.0
MAX_BATCH_SIZE = 64
SHARD_SECONDS = 1800.0  # audio per cache shard: the unit of resume and of Ray work


class EncodeConfig(BaseModel):
    """Which codec encodes a dataset's audio, where its codes are cached, and how the work is batched."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dataset: str | None = dataset_field()
    codec: str = Field(
        DEFAULT_CODEC,
        description="the codec: mimo-audio | mimi | encodec | dac | xcodec, or FAMILY:HUB_ID_OR_DIR (optionally "
        "@REVISION), or a hub id / directory",
    )
    num_codebooks: int | None = Field(
        None,
        ge=1,
        description="keep the first N RVQ codebooks (default: 8 for mimo-audio, else all)",
        json_schema_extra={"cli": ["--num-codebooks", "-n"]},
    )
    cache_dir: Path | None = Field(
        None,
        description="code cache directory, shareable between workspaces (default: <workspace>/cache/codes)",
        json_schema_extra={"cli": ["--cache"]},
    )
    device: str = Field("cpu", description="where the codec runs: cpu | cuda (or cuda:N)")
    dtype: str = Field(
        "auto",
        description="the codec's dtype: auto (bf16 on cuda, fp32 on cpu) | float32 | float16 | bfloat16",
    )
    batch_seconds: float | None = Field(
        None,
        gt=0,
        description=f"padded audio per model call (default: {CPU_BATCH_SECONDS:g} on cpu, "
        f"{GPU_BATCH_SECONDS:g} on cuda)",
    )
    max_batch_size: int = Field(MAX_BATCH_SIZE, ge=1, description="clips per model call at most")
    decode_workers: int = Field(2, ge=1, description="threads decoding and resampling ahead of the codec")
    threads: int | None = Field(
        None,
        ge=1,
        description="torch CPU threads for the codec (default on cpu: the cores left after --decode-workers, "
        "at least 1)",
    )
    shard_seconds: float = Field(
        SHARD_SECONDS,
        gt=0,
        description="seconds of audio per cache shard: the unit of resume and of Ray work",
    )

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        if v not in ("cpu", "cuda") and not v.startswith("cuda:"):
            raise ValueError(f"unknown device {v!r}: use cpu or cuda")
        return v

    def effective_batch_seconds(self) -> float:
        """`batch_seconds`, else the device's default."""
        if self.batch_seconds is not None:
            return self.batch_seconds
        return GPU_BATCH_SECONDS if self.device.startswith("cuda") else CPU_BATCH_SECONDS
