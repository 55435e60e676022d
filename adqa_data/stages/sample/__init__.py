"""`adqa-data sample`: a prompt set drawn from a split, balanced by question type."""

from .config import SPLITS, SampleConfig
from .stage import SampleResult, allot, draw, parse_weights, run, sample

__all__ = ["SPLITS", "SampleConfig", "SampleResult", "allot", "draw", "parse_weights", "run", "sample"]
