"""The `adqa-data` command line: one module per command, registered here in chain order (the order
`adqa-data --help` lists them). Commands parse options and call `adqa_data.stages.*`, imported lazily
so that `--help` never imports torch."""

from . import download, info, encode, filter, sample, rollout, train, eval, submit, leakage, stats, export, pipeline, demo  # noqa: F401,I001  (chain order)
from .app import app, main

__all__ = ["app", "main"]
