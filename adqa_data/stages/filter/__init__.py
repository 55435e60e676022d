"""`adqa-data filter`: audio-contribution filtering with a panel of LALMs (the AudioMCQ paper, ICLR 2026).

Every panel member answers every item with the real clip (`audio`) and with the clip replaced by
digital silence (`silence`, 30 s as in the paper); optionally with a fixed noise clip (`noise`) and with
the clip of another item of the same source (`swap`). From the votes: AC per model and item, the vote
(weak when at least `min_correct` members are correct on silence), a continuous score, the weak/strong
splits and statistics.

    config.py      FilterConfig: every setting, checked before any model loads
    panel.py       the panel resolved and its members checked, before any model loads
    conditions.py  the scorable items, swap donors, option rotations, each condition's clip
    jobs.py        the vote jobs: one per panel member, in-process or as Ray tasks
    voting.py      the voting rules: pure functions over votes rows (AC, the vote, score, statistics)
    units.py       the keys of the resumable units: what each votes directory and audit depends on
    audit.py       --audit N: each member's vote against its own generated answer on N random items
    stage.py       the stage over StageRun: units, resume, outputs (its docstring lists them)

Decisions where the method is silent:
- Rotations: with `--permutations K`, rotation p shows option (j + p) % n at position j; an item with
  fewer than K options gets n rotations (more would repeat one). The model's answer is the unique
  argmax of its rotation-averaged probabilities; a tie at the top is no answer (see voting.py).
- Generate mode: greedy, one completion, parsed by `answers.parse_answer`; the option probabilities are
  one-hot on the credited option, null when nothing is credited (a wrong answer).
- Items without a gold answer (evaluation sets) cannot be scored: they are skipped, counted and
  quarantined (`answer_withheld`); a dataset with none at all is refused.
- `noise` is one clip of `--silence-seconds` from a fixed seed, shared by every item like the silence,
  so it is a controlled condition and its prompt prefix is shared too.
- `swap` plays the clip of another item of the same `source_dataset`, drawn with a fixed seed per
  source; never the item's own clip, nor any clip with the same content (items may share a file). A
  source with a single distinct clip borrows from the whole dataset (counted in the summary).
"""

from ...inference.multiple_choice import MODES
from .conditions import ConditionAudio, ItemRef, assign_swaps, prepare_items, rotate, rotations
from .config import CONDITIONS, FilterConfig, FilterOptions
from .jobs import BackendFactory, ChunkJob, ModelJob, member_backend, run_model_job, score_chunk
from .panel import effective_members, resolve_panel
from .stage import STAGE, FilterResult, filter_dataset, run

__all__ = [
    "CONDITIONS",
    "MODES",
    "STAGE",
    "BackendFactory",
    "ChunkJob",
    "ConditionAudio",
    "FilterConfig",
    "FilterOptions",
    "FilterResult",
    "ItemRef",
    "ModelJob",
    "assign_swaps",
    "effective_members",
    "filter_dataset",
    "member_backend",
    "prepare_items",
    "resolve_panel",
    "rotate",
    "rotations",
    "run",
    "run_model_job",
    "score_chunk",
]
