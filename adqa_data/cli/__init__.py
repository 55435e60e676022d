"""The `adqa-data` command line: one module per command, registered here in chain order (the order
`adqa-data --help` lists them). Commands parse options and call `adqa_data.stages.*`, imported lazily
so that `--help` never imports torch."""

# isort: off
from . import download  # noqa: F401
from . import info  # noqa: F401
from . import encode  # noqa: F401
from . import filter  # noqa: F401
from . import sample  # noqa: F401
from . import rollout  # noqa: F401
from . import train  # noqa: F401
from . import eval  # noqa: F401
from . import submit  # noqa: F401
from . import leakage  # noqa: F401
from . import stats  # noqa: F401
from . import report  # noqa: F401
from . import export  # noqa: F401
from . import pipeline  # noqa: F401
from . import demo  # noqa: F401

# isort: on
from .app import app, main

__all__ = ["app", "main"]
