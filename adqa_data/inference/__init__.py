"""Asking models things: the result types and backend protocol (`types`), one adapter per model family
(`adapters/`), the transformers, vLLM and scripted backends, and `load_backend`, the one factory.

Importing this package imports neither torch nor vLLM; backends load them when constructed."""

from .factory import KINDS, default_device, default_dtype, load_backend
from .types import Backend, Completion, Generation, Query, Sampling

__all__ = [
    "KINDS",
    "Backend",
    "Completion",
    "Generation",
    "Query",
    "Sampling",
    "default_device",
    "default_dtype",
    "load_backend",
]
