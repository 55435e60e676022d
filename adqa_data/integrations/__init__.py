"""Glue for training with adqa-data's exports in other frameworks, one module per framework.

`verl` (a `compute_score` for `custom_reward_function` and an `RLHFDataset` subclass for
`data.custom_cls` that builds the audio processor verl does not build), `trl` (reward functions for
`GRPOTrainer`). Both grade with the answer parser (`adqa_data.mcq.answers`) and the rollout's reward mix
(`grading`), so a completion earns the same reward in verl, in TRL and in `adqa-data rollout`. The
frameworks themselves are imported lazily, only by the code that subclasses or calls them.
"""
