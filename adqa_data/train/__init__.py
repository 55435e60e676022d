"""The bundled GRPO/SFT trainer, a library: it reads no workspace (the train stage, `stages.train`, hands
it groups and where to write).

    config.py            TrainConfig: every setting with its default and why
    groups.py            what it trains on: groups, completions, how they were sampled, the batch order
    reweight.py          other reward weights / advantage settings on stored rollouts
    collate.py           micro-batches in the group layout (the prompt once, K completions after it)
    policy.py            what trains (decoder, LoRA, audio side) and its per-token log-probs
    loss.py              the policy loss (checked against TRL) and the trainer's micro-batch loss
    setup.py             the accelerator, the optimizer and its schedule
    loop.py              the Trainer and its step loop; offline runs and online rounds
    checkpoint.py        save, resume, prune, average, export (LoRA merged)
    checkpoint_files.py  reading a checkpoint back without running code
    metrics.py           the step's metrics, metrics.jsonl, trackers, completions tables
"""
