"""`adqa-data stats`: the state of one dataset across every stage.

config.py    the settings, declared once (the command's options, a pipeline step's keys)
stage.py     `run(ws, config)`: each section from the summary of the stage that writes its table
rollouts.py  the rollouts section (rollout's own summary, through the set's contract)
training.py  the training section (each run's metrics log)
plots.py     PNG plots drawn from the report alone
"""

from ..filter.summary import cohen_kappa, fleiss_kappa
from .config import SECTIONS, StatsConfig
from .stage import predictions_section, run, stats
from .training import read_metrics_log, training_section

__all__ = [
    "SECTIONS",
    "StatsConfig",
    "cohen_kappa",
    "fleiss_kappa",
    "predictions_section",
    "read_metrics_log",
    "run",
    "stats",
    "training_section",
]
