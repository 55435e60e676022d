"""The bundled GRPO/SFT trainer: config (settings), data (groups from shards, the group layout), policy
(what trains, per-token log-probs), loss (the policy loss, checked against TRL), loop (the loop,
checkpoints, `train_round` for online rounds)."""
