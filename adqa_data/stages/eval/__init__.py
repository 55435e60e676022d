"""`adqa-data eval`: how good a model is on a dataset, and how much of that comes from listening.

The model answers every item in generate mode with a prompt style, once with its clip and (on datasets
with answers) once with the clip replaced by silence; `--samples N` draws N completions per item and
condition and takes a majority vote. Every output is parsed by the one layered parser
(`answers.parse_answer`), which never credits an empty answer or one naming two options. Reported:
top-1 accuracy (the DCASE 2026 Task 5 metric) overall and per question type, source and DCASE dev part,
the same under silence, the audio-dependency gap, the predicted-letter distribution against the gold
letters, and the outputs the parser could not credit, by reason. `--letter-scores` also records each
item's option-letter probabilities: the submission's fallback for an output that names no option.

    config.py   EvalConfig: every setting with its default and why (the model block shared with rollout)
    parts.py    the DCASE 2026 dev part of an item, where the data says so
    metrics.py  the reported figures, pure functions over voted answers
    shards.py   one shard: ask, parse, vote, write
    stage.py    the stage over StageRun: item shards, resume, Ray, summary
"""

from .config import EvalConfig, load_config
from .metrics import Outcome, Vote, majority_vote
from .shards import eval_shard
from .stage import STAGE, EvalResult, default_name, evaluate, run, summarize

__all__ = [
    "STAGE",
    "EvalConfig",
    "EvalResult",
    "Outcome",
    "Vote",
    "default_name",
    "eval_shard",
    "evaluate",
    "load_config",
    "majority_vote",
    "run",
    "summarize",
]
