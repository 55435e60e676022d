"""`adqa-data check-leakage`: flag training items whose audio or question also appears in a dev or
evaluation set of the workspace — by identical bytes, by an audio fingerprint that survives resampling
and lossy re-encoding, and by normalised question + options text — and write them to a `leakage` table
that `sample` excludes.

    audio_fingerprint.py  the spectral fingerprint and its index (what it survives, measured recall)
    config.py             the settings, declared once (the command's options, a pipeline step's keys)
    stage.py              fingerprints per dataset (cached), the three matchers, the table; `run(ws, config)`
"""

from .config import METHODS, TEMPLATE_MIN, LeakageConfig
from .stage import (
    STAGE,
    LeakageResult,
    check_leakage,
    find_leaks,
    leaked_items,
    normalise_text,
    question_key,
    run,
)

__all__ = [
    "METHODS",
    "STAGE",
    "TEMPLATE_MIN",
    "LeakageConfig",
    "LeakageResult",
    "check_leakage",
    "find_leaks",
    "leaked_items",
    "normalise_text",
    "question_key",
    "run",
]
