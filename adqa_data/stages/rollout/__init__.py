"""`adqa-data rollout`: K sampled completions per prompt, parsed, rewarded and ranked within their group.

For every prompt of a prompt set (`sample`), the policy samples K completions (temperature sampling,
the think-style prompt by default) through a backend (transformers, vLLM, or the model-free `scripted`
one). Each completion is parsed with the shared layered parser (`answers.parse_answer`) and scored by
the configured rewards (`rewards.REWARDS`, or plugins named `module:function`, see `rewards.plugins`),
each kept as its own `reward_<name>` column, plus the weighted total. Advantages are group-relative
(`advantages.py`); a group whose rewards are all equal, or span less than `min_spread`, gets advantage 0
and is flagged `zero_signal`. Completions are
reproducible and independent of batching: every backend derives its per-row generators from
`Sampling.seed` and `Query.key`, and the stage sets `Query.key = item_id`.

    config.py    RolloutConfig, its YAML file and command-line overrides
    policy.py    the policy's backend, loaded once per run or Ray worker (or passed in), its anchoring pass
    shards.py    one shard: sample, parse, reward, rank, write
    stage.py     run(ws, config): the stage over StageRun: prompt set, shard plan, resume
    summary.py   the summary of a rollout table (recorded by the stage, reported by stats)
    contract.py  the one reader of a rollout set: groups, recorded settings, shards, item checks
"""

from ...rewards.plugins import RewardSpec, resolve_rewards, score_rewards
from .config import RolloutConfig, load_config, parse_reward_weights
from .policy import Policies, Policy, policy_spec
from .shards import rollout_shard
from .stage import STAGE, RolloutResult, default_name, plan_groups, prompt_sets, rollout, run
from .summary import summarize

__all__ = [
    "STAGE",
    "Policies",
    "Policy",
    "RewardSpec",
    "RolloutConfig",
    "RolloutResult",
    "default_name",
    "load_config",
    "parse_reward_weights",
    "plan_groups",
    "policy_spec",
    "prompt_sets",
    "resolve_rewards",
    "rollout",
    "rollout_shard",
    "run",
    "score_rewards",
    "summarize",
]
