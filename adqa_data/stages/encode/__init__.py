"""`adqa-data encode`: decode each distinct clip once and cache its RVQ codes by content.

config.py    EncodeConfig: every setting with its default and why
batching.py  clips into model calls, audio into cache shards, the codec's torch threads
shard.py     one shard task: decode ahead, encode in batches, write one cache shard (local or Ray)
stage.py     the stage over StageRun: plan, shards, index and quarantine (its docstring has the steps)
"""

from .batching import default_threads, padded_samples, plan_batches, plan_shards
from .config import (
    CPU_BATCH_SECONDS,
    DEFAULT_CODEC,
    GPU_BATCH_SECONDS,
    MAX_BATCH_SIZE,
    SHARD_SECONDS,
    EncodeConfig,
)
from .shard import encode_shard
from .stage import STAGE, EncodeResult, encode, run

__all__ = [
    "CPU_BATCH_SECONDS",
    "DEFAULT_CODEC",
    "GPU_BATCH_SECONDS",
    "MAX_BATCH_SIZE",
    "SHARD_SECONDS",
    "STAGE",
    "EncodeConfig",
    "EncodeResult",
    "default_threads",
    "encode",
    "encode_shard",
    "padded_samples",
    "plan_batches",
    "plan_shards",
    "run",
]
