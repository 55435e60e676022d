"""`adqa-data submit` and `validate-submission`: the DCASE 2026 Task 5 submission CSV.

config.py      the settings, declared once (the command's options, a pipeline step's keys)
validation.py  the file's rules, checked (a file made anywhere), and where `submit` may write one
stage.py       `run(ws, config)`: the answer per item, the CSV written and validated; `submit(...)`
"""

from .config import SubmitConfig
from .stage import STAGE, SubmitResult, choose_answers, render_csv, run, submit
from .validation import (
    HEADER,
    MAX_SUBMISSION_BYTES,
    Finding,
    Problem,
    ValidationReport,
    answer_problem,
    check_target,
    dataset_options,
    looks_like_submission,
    validate_bytes,
    validate_submission,
)

__all__ = [
    "HEADER",
    "MAX_SUBMISSION_BYTES",
    "STAGE",
    "Finding",
    "Problem",
    "SubmitConfig",
    "SubmitResult",
    "ValidationReport",
    "answer_problem",
    "check_target",
    "choose_answers",
    "dataset_options",
    "looks_like_submission",
    "render_csv",
    "run",
    "submit",
    "validate_bytes",
    "validate_submission",
]
