"""`adqa-data train`: GRPO on rollout groups (or SFT on a split's gold answers), offline or in online
rounds, into `runs/<dataset>/<name>/`. The trainer itself is the library `adqa_data.train`; this package
is the stage around it.

    config.py   TrainStageConfig: the trainer's settings plus dataset, run name and online rounds
    stage.py    run(ws, config): offline runs (what to train on, the run over StageRun, quarantine,
                provenance), online ones handed to online.py
    online.py   online runs: rounds of [roll out with the current weights, train on them]
    sampler.py  the policy an online round's rollout samples with, passed to the rollout stage
    data.py     SFT groups from a split's gold answers; the groups a TrainConfig asks for
    runs.py     what both share: the run folder, the trainer started or resumed, the summary, the result
"""

from .config import TrainStageConfig
from .online import train_online
from .runs import RUNS, STAGE, TrainResult
from .stage import run, train

__all__ = ["RUNS", "STAGE", "TrainResult", "TrainStageConfig", "run", "train", "train_online"]
