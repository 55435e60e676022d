"""What the trainer trains on: whole groups read from rollout shards (or gold answers, for SFT), and
micro-batches that put each completion back in front of the model exactly as the sampler saw it.

One job, kept in one module (hence its length): turning stored rollouts into exactly the inputs the sampler saw; reading and collating are kept together so the two cannot drift apart.

Reading. `load_rollout_groups` reads `rollouts/<dataset>/<set>/` through the schema (`ROLLOUTS`) and
the set's provenance record — the sampling settings (temperature, top-p, max_new_tokens, the policy)
come from that record, never from the rollout stage's code. A group is one prompt and its K stored
completions (token ids, the sampler's per-token log-probs, every reward column, the advantage). With
`rewards` given, the total and the group advantages are recomputed from the stored reward columns
with those weights (`advantages.group_advantages`, the function rollout used, each rollout shard being
one batch as it was for rollout), so one set of rollouts can be trained under several reward mixes or
advantage settings (baseline, scale, min_spread). `load_sft_groups` makes one-completion groups from a
split's gold answers, with the dataset's chain-of-thought where it has one.

Batching. `Collator` lays a micro-batch out one row per group: the prompt once, then the group's K
completions one after another, each attending to the prompt and to itself only (a 4-D mask), with
position ids restarting after the prompt for every completion. Each completion's log-probs are then
exactly those of a separate [prompt + completion] forward, but the prompt — the audio tokens above
all, 750 for 30 s — runs once per group instead of K times, and nothing is padded inside a row. The
prompt is rebuilt with the model's adapter (`LoadedModel.prompt_token_ids`, the call the transformers
backend makes) and the clip is read as rollout read it (`audio.read_item_audio`: confined to the dataset
root and hashed against what download recorded, at the adapter's rate), or taken from the code cache for
a policy that reads RVQ codes; a rebuilt prompt that differs from the stored `prompt_token_ids` (another
model family, another tokenizer) is an error, not a silent mismatch.

Checks. Before a model loads, `check_groups` runs the model stages' item checks (`row_checks`) on every
group's item: a clip swapped for a link out of the root or changed since download, too many options.
Such a group is dropped whole and returned as a quarantine row with the reason, as rollout and filter
quarantine it; the run goes on with the rest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.parquet as pq

from ..advantages import (
    DEFAULT_EPS,
    DEFAULT_MIN_SPREAD,
    DEFAULT_SCALE,
    Baseline,
    Scale,
    StdKind,
    group_advantages,
)
from ..answers import LETTERS
from ..audio import AudioError, read_failure, read_item_audio
from ..errors import UserError
from ..inference.types import Query
from ..schema import ITEM_SCORES, ROLLOUTS
from ..workspace import Workspace, read_table, shard_paths

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..inference.adapters.base import LoadedModel


# ------------------------------------------------------------------------------------------ records
@dataclass
class Completion:
    """One stored completion (or an SFT target: `token_ids` None, `text` tokenized at collation)."""

    text: str
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None  # the sampler's, one per token, at its temperature and top-p
    advantage: float = 0.0
    reward: float = 0.0
    rewards: dict[str, float | None] = field(default_factory=dict)  # reward_<name> columns
    index: int = 0  # rollout_index within the group


@dataclass
class Group:
    """One prompt and its completions. The audio is an item's file (`audio_path` under the dataset root
    `audio_root`, as download recorded it), an array already at the model's sample rate (synthetic data),
    or the item's cached codes (a policy that reads codes); None for a text-only prompt."""

    group_id: str
    item_id: str
    question: str
    choices: list[str]
    prompt_style: str
    completions: list[Completion]
    audio_root: str | None = None  # the dataset root the item's audio_path is confined to
    audio_path: str | None = None  # relative to audio_root, as the item table has it
    audio_sha256: str | None = None
    audio: np.ndarray | None = None
    codes: np.ndarray | None = None  # the clip's cached RVQ codes, for a model that reads codes (MiMo-Audio)
    prompt_token_ids: list[int] | None = None  # as the sampler stored them; None = nothing to check against
    zero_signal: bool = False
    prompt: str = ""  # the templated prompt text rollout stored (for completions tables)
    batch: str = ""  # the rollout shard it was rewarded in: the batch of scale="batch" advantages

    def query(self, audio: np.ndarray | None) -> Query:
        """The `Query` rollout put to the sampler for this group."""
        return Query(
            key=self.item_id,
            question=self.question,
            choices=list(self.choices),
            audio=audio,
            audio_id=self.audio_sha256 or self.item_id,
            prompt_style=self.prompt_style,
            codes=self.codes,
        )

    @property
    def audio_file(self) -> str | None:
        """The item's audio file (for messages); None without one."""
        if self.audio_path is None:
            return None
        return str(Path(self.audio_root or ".") / self.audio_path)

    def load_audio(self, sample_rate: int) -> np.ndarray | None:
        """The clip at `sample_rate`: the in-memory array, or the item's file through `read_item_audio`
        (inside the dataset root, the bytes download hashed)."""
        if self.audio is not None:
            return np.asarray(self.audio, dtype=np.float32)
        if self.audio_path is None:
            return None
        try:  # checked before the run (check_groups); a file changed since then stops it here
            return read_item_audio(
                self.audio_root or ".", self.audio_path, self.audio_sha256 or "", sample_rate
            )
        except AudioError as e:
            raise read_failure(e, f"group {self.group_id}", self.audio_file or "") from None


@dataclass(frozen=True)
class SamplingInfo:
    """How the stored completions were sampled, from the rollout sets' provenance records."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int | None = None
    policy: str | None = None  # the sampling model (path or hub id); None for the scripted backend
    family: str | None = None
    backend: str = "transformers"
    k: int | None = None
    advantage: Mapping[str, Any] = field(default_factory=dict)  # ROLLOUT_ADVANTAGE's keys, as rollout used
    codec_key: str | None = None  # the code index a codes-reading policy (MiMo-Audio) sampled from


# ------------------------------------------------------------------------------------------ rollouts
def rollout_sets(ws: Workspace, dataset: str) -> list[str]:
    """Names of the complete rollout sets of a dataset."""
    return ws.finished_sets("rollout", ROLLOUTS.name, dataset)


def sampling_info(ws: Workspace, dataset: str, names: Sequence[str]) -> SamplingInfo:
    """The sampling settings of rollout sets, which must agree on what decides the log-probs."""
    infos = []
    for name in names:
        prov = ws.provenance("rollout", dataset, name)
        if not prov or prov.get("status") != "complete":
            known = rollout_sets(ws, dataset)
            raise UserError(
                f"no complete rollout set {name!r} in dataset {dataset!r}",
                fix=f"use one of: {', '.join(known)}" if known else "run 'adqa-data rollout' first",
            )
        c = prov.get("config", {})
        infos.append(
            SamplingInfo(
                temperature=float(c.get("temperature", 1.0)),
                top_p=float(c.get("top_p", 1.0)),
                max_new_tokens=c.get("max_new_tokens"),
                policy=c.get("model"),
                family=c.get("family"),
                backend=str(c.get("backend", "transformers")),
                k=c.get("k"),
                advantage=rollout_advantage(c),
                codec_key=c.get("codec_key"),
            )
        )
    first = infos[0]
    for name, info in zip(names[1:], infos[1:]):
        for what in ("temperature", "top_p", "policy", "backend", "codec_key"):
            if getattr(info, what) != getattr(first, what):
                raise UserError(
                    f"rollout sets {names[0]!r} and {name!r} were sampled with another {what} "
                    f"({getattr(first, what)} vs {getattr(info, what)}): one run trains on one sampler",
                    fix="train on them separately",
                )
    max_new = max((i.max_new_tokens or 0) for i in infos) or None
    return SamplingInfo(
        first.temperature,
        first.top_p,
        max_new,
        first.policy,
        first.family,
        first.backend,
        first.k,
        first.advantage,
        first.codec_key,
    )


# The advantage settings a rollout record holds, with the value a record from before a setting existed
# was computed with (group scaling, no minimum spread), so "as rollout" is what that rollout did.
ROLLOUT_ADVANTAGE: dict[str, Any] = {
    "baseline": "mean",
    "scale": "group",
    "min_spread": 0.0,
    "std": "sample",
    "eps": 1e-4,
}


def rollout_advantage(config: Mapping[str, Any]) -> dict[str, Any]:
    """The advantage settings a rollout set's recorded config computed its advantages with."""
    return {k: config.get(k, default) for k, default in ROLLOUT_ADVANTAGE.items()}


def reward_columns(weights: Mapping[str, float]) -> dict[str, float]:
    """Reward name -> weight, as the column each name is stored in (rollout's naming, plugins included;
    a plugin is not imported: only its column is read)."""
    from ..rewards.plugins import reward_columns as columns

    return columns(weights)


def reweight(
    groups: Sequence[Group],
    weights: Mapping[str, float] | None,
    *,
    baseline: Baseline = "mean",
    scale: Scale = DEFAULT_SCALE,
    min_spread: float = DEFAULT_MIN_SPREAD,
    std: StdKind = "sample",
    eps: float = DEFAULT_EPS,
) -> None:
    """Recompute every completion's total reward and advantage, and every group's zero-signal flag, in
    place, as rollout computes them (`advantages.group_advantages`, the batch of scale="batch" being a
    group's rollout shard, `Group.batch`).

    `weights` are reward names as rollout takes them (`correctness`, `format`, `anchoring`, plugins as
    `module:function`); each must have been computed by the rollout (a column without values cannot be
    weighted, except with weight 0). None keeps the stored totals (new advantage settings only)."""
    rows = [c for g in groups for c in g.completions]
    totals = [c.reward for c in rows] if weights is None else _totals(rows, reward_columns(weights))
    ids = [g.group_id for g in groups for _ in g.completions]
    batches = [g.batch for g in groups for _ in g.completions]
    adv = group_advantages(
        np.asarray(totals),
        ids,
        baseline=baseline,
        scale=scale,
        min_spread=min_spread,
        std=std,
        eps=eps,
        batches=batches,
    )
    for c, total, a in zip(rows, totals, adv.advantages):
        c.reward, c.advantage = float(total), float(a)
    flags = dict(zip(ids, adv.all_equal))
    for g in groups:
        g.zero_signal = bool(flags[g.group_id])


def _totals(rows: Sequence[Completion], columns: Mapping[str, float]) -> list[float]:
    totals = []
    for c in rows:
        parts = []
        for column, w in columns.items():
            if w == 0:
                continue
            if column not in c.rewards:
                raise UserError(
                    f"the rollout shards have no {column} column to weight",
                    fix="roll out again with that reward, or leave it out of --reward",
                )
            v = c.rewards[column]
            if v is None:
                raise UserError(
                    f"{column} was not computed by this rollout (the column is empty)",
                    fix="roll out again with that reward configured, or give it weight 0",
                )
            parts.append(w * float(v))
        totals.append(math.fsum(parts))
    return totals


def load_rollout_groups(
    ws: Workspace,
    dataset: str,
    names: Sequence[str],
    *,
    rewards: Mapping[str, float] | None = None,
    baseline: Baseline | None = None,
    scale: Scale | None = None,
    min_spread: float | None = None,
    skip_zero_signal: bool = False,
) -> tuple[list[Group], SamplingInfo]:
    """Every group of the named rollout sets (in shard order) and how they were sampled.

    `rewards` re-weights the stored reward columns; with it or any advantage setting given, advantages
    are recomputed (`reweight`), per rollout set, the settings not given being that set's own (so the
    rollout's own weights and settings reproduce its stored advantages). The scripted backend's token
    ids are bytes, not a model's: its groups carry no token ids (their text is tokenized by the trained
    model) and no log-probs."""
    info = sampling_info(ws, dataset, names)
    record = ws.dataset(dataset)
    questions = {
        r["item_id"]: r["question"] for r in ws.items(dataset, columns=["item_id", "question"]).to_pylist()
    }
    scripted = info.backend == "scripted"
    groups: list[Group] = []
    recompute = any(v is not None for v in (rewards, baseline, scale, min_spread))
    for name in names:
        directory = ws.table_dir(ROLLOUTS.name, dataset, name)
        table = read_table(directory, ROLLOUTS)
        reward_cols = [c for c in table.column_names if c.startswith("reward_")]
        # the shard each row was rewarded in (read_table concatenates the shards in this order)
        parts = shard_paths(directory)
        shard_of_row = np.repeat(np.arange(len(parts)), [pq.read_metadata(p).num_rows for p in parts])
        by_group: dict[str, Group] = {}
        for row, r in enumerate(table.to_pylist()):
            g = by_group.get(r["group_id"])
            if g is None:
                if r["item_id"] not in questions:
                    raise UserError(
                        f"rollout set {name!r} names item {r['item_id']} that is not in the item table",
                        fix="rerun 'adqa-data rollout --force' after 'download'",
                    )
                g = by_group[r["group_id"]] = Group(
                    group_id=r["group_id"],
                    item_id=r["item_id"],
                    question=questions[r["item_id"]],
                    choices=list(r["choices"]),
                    prompt_style=r["prompt_style"],
                    completions=[],
                    audio_root=str(record.root) if r["audio_path"] else None,
                    audio_path=r["audio_path"] or None,
                    audio_sha256=r["audio_sha256"],
                    prompt_token_ids=None
                    if scripted or r["prompt_token_ids"] is None
                    else list(r["prompt_token_ids"]),
                    zero_signal=bool(r["zero_signal"]),
                    prompt=r["prompt"],
                    batch=f"{name}/{shard_of_row[row]}",
                )
            g.completions.append(
                Completion(
                    text=r["completion_text"],
                    token_ids=None if scripted else list(r["completion_token_ids"]),
                    logprobs=None
                    if scripted or r["completion_logprobs"] is None
                    else list(r["completion_logprobs"]),
                    advantage=float(r["advantage"]),
                    reward=float(r["reward"]),
                    rewards={c: r[c] for c in reward_cols},
                    index=int(r["rollout_index"]),
                )
            )
        for g in by_group.values():
            g.completions.sort(key=lambda c: c.index)
        if recompute:
            own = rollout_advantage((ws.provenance("rollout", dataset, name) or {}).get("config", {}))
            reweight(
                list(by_group.values()),
                rewards,
                baseline=baseline or own["baseline"],
                scale=scale or own["scale"],
                min_spread=own["min_spread"] if min_spread is None else min_spread,
                std=own["std"],
                eps=float(own["eps"]),
            )
        groups.extend(by_group.values())
    if info.codec_key:  # the policy read codes, not audio: the trainer reads the same codes
        from ..codecs.consumers import ItemCodes

        for g, codes in zip(groups, ItemCodes(ws, dataset, info.codec_key).load([g.item_id for g in groups])):
            g.codes = codes
    if skip_zero_signal:
        groups = [g for g in groups if not g.zero_signal]
    if not groups:
        raise UserError(
            f"no groups to train on in rollout sets {', '.join(names)}",
            fix="roll out more prompts" + (", or keep zero-signal groups" if skip_zero_signal else ""),
        )
    return groups, info


# ----------------------------------------------------------------------------------------------- SFT
def sft_target(style: str, choices: Sequence[str], answer_index: int, cot: str | None) -> str:
    """The reply SFT teaches for one item, in the prompt style's answer format: the think style gets the
    chain-of-thought (or an empty think block) and the letter; letter-first styles the bare letter;
    other styles their option reply, else the letter in an answer block."""
    from ..prompt_styles import get_style

    st = get_style(style)
    letter = LETTERS[answer_index]
    if st.name == "think":
        return f"<think>{(cot or '').strip()}</think><answer>{letter}</answer>"
    if st.letter_first:
        return letter
    if st.option_reply is not None:
        return st.option_reply_text(answer_index, list(choices))
    return f"<answer>{letter}</answer>"


def load_sft_groups(
    ws: Workspace, dataset: str, split: str = "weak", *, prompt_style: str = "think", use_cot: bool = True
) -> list[Group]:
    """One single-completion group per item of `split` (weak | strong | all) with a gold answer: the
    prompt rollout would build, and the gold reply as the target (advantage 1)."""
    cols = ["item_id", "question", "choices", "answer_index", "audio_path", "audio_sha256", "cot"]
    items = [r for r in ws.items(dataset, columns=cols).to_pylist() if r["answer_index"] is not None]
    if split != "all":
        scores = ws.read(ITEM_SCORES, dataset, columns=["item_id", "split"])
        if scores.num_rows == 0:
            raise UserError(
                f"dataset {dataset!r} has no audio-contribution split yet",
                fix="run 'adqa-data filter' first, or fine-tune on every item with --split all",
            )
        keep = {r["item_id"] for r in scores.to_pylist() if r["split"] == split}
        items = [r for r in items if r["item_id"] in keep]
    if not items:
        raise UserError(f"split {split!r} of dataset {dataset!r} has no item with a gold answer")
    root = ws.dataset(dataset)
    return [
        Group(
            group_id=f"sft:{r['item_id']}",
            item_id=r["item_id"],
            question=r["question"],
            choices=list(r["choices"]),
            prompt_style=prompt_style,
            audio_root=str(root.root),
            audio_path=r["audio_path"],
            audio_sha256=r["audio_sha256"],
            completions=[
                Completion(
                    text=sft_target(
                        prompt_style, r["choices"], r["answer_index"], r["cot"] if use_cot else None
                    ),
                    advantage=1.0,
                    reward=1.0,
                )
            ],
        )
        for r in items
    ]


# ------------------------------------------------------------------------------------------- checks
def check_groups(
    ws: Workspace, dataset: str, groups: Sequence[Group], *, audio: bool = True
) -> tuple[list[Group], list[dict[str, Any]]]:
    """The groups the trainer can read, and quarantine rows (schema `QUARANTINE`, less dataset and
    stage) for the items of the others: the model stages' item checks (`row_checks.check_items`) on
    every group whose clip is an item's file. A refused item drops every group it is in, whole.
    `audio=False` skips the file checks: a policy that reads cached codes never opens audio."""
    from ..row_checks import DEFAULT_MAX_PROMPT_TOKENS, check_items

    items = {
        g.item_id: {
            "item_id": g.item_id,
            "question": g.question,
            "choices": g.choices,
            "audio_path": g.audio_path,
            "audio_sha256": g.audio_sha256,
        }
        for g in groups
        if g.audio is None and g.audio_path is not None
    }
    # the option count and the clip; prompt length is not checked here (rollout capped what it sampled)
    refused = check_items(
        ws.dataset(dataset).root, list(items.values()), [], DEFAULT_MAX_PROMPT_TOKENS, audio=audio
    )
    if not refused:
        return list(groups), []
    cols = ws.items(dataset, columns=["item_id", "row_index"]).to_pydict()
    row_index = dict(zip(cols["item_id"], cols["row_index"]))
    rows = [
        {"row_index": row_index.get(i), "item_id": i, "reason": r, "detail": d, "raw": None}
        for i, (r, d) in sorted(refused.items())
    ]
    return [g for g in groups if g.item_id not in refused], rows


# ------------------------------------------------------------------------------------------ batching
@dataclass
class Batch:
    """A micro-batch in the group layout (module docstring). R rows (groups), L tokens per row, N
    completions, T tokens of the longest completion."""

    input_ids: torch.Tensor  # [R, L]
    position_ids: torch.Tensor  # [R, L]
    allowed: torch.Tensor  # [R, L, L] bool: query i may attend to key j
    clips: list[np.ndarray]  # the clips of the rows that have audio, in row order
    pred_index: torch.Tensor  # [N, T] flat index into [R * L] of the state that predicts each token
    targets: torch.Tensor  # [N, T] completion token ids (0 where masked)
    mask: torch.Tensor  # [N, T] 1.0 for completion tokens
    sampler_logp: torch.Tensor | None  # [N, T] stored log-probs; None when a completion has none
    advantages: torch.Tensor  # [N]
    rewards: torch.Tensor  # [N]
    refs: list[tuple[Group, Completion]]  # which completion each of the N rows is
    prompt_lengths: list[int]  # per row
    audio_positions: torch.Tensor | None = None  # [R, L] bool: the prompts' placeholder tokens (not a
    # completion's: a sampled completion may contain the placeholder token, embedded as a plain token)
    audio_embeds: torch.Tensor | None = None  # filled once per step when the audio side is frozen

    @property
    def completion_tokens(self) -> int:
        return int(self.mask.sum())

    @property
    def tokens(self) -> int:
        return sum(self.prompt_lengths) + self.completion_tokens

    def to(self, device: Any) -> Batch:
        for name in (
            "input_ids",
            "position_ids",
            "allowed",
            "pred_index",
            "targets",
            "mask",
            "sampler_logp",
            "advantages",
            "rewards",
            "audio_positions",
            "audio_embeds",
        ):
            t = getattr(self, name)
            if t is not None:
                setattr(self, name, t.to(device))
        return self


@dataclass
class Collator:
    """Turns groups into `Batch`es for one loaded model: rebuilds (and checks) each prompt, loads each
    clip, tokenizes SFT targets. A group's prompt ids are built and checked once per run (the clip is
    read again each time: clips are large, prompt ids are not)."""

    model: LoadedModel
    check_prompts: bool = True
    _prompts: dict[str, list[int]] = field(default_factory=dict)

    def prompt(self, group: Group) -> tuple[list[int], np.ndarray | None]:
        codes = getattr(self.model.adapter, "consumes", "audio") == "codes"
        audio = group.codes if codes else group.load_audio(self.model.adapter.sample_rate)
        if codes and audio is None and (group.audio_path or group.audio is not None):
            raise UserError(
                f"group {group.group_id}: this model reads RVQ codes, and these rollouts carry audio",
                fix="train on rollouts sampled by this model (rollout --codec mimo-audio)",
            )
        if group.group_id in self._prompts:
            return self._prompts[group.group_id], audio
        query = group.query(None if codes else audio)
        prefix, suffix = self.model.prompt_token_ids(query)
        ids = prefix + suffix
        if group.prompt_token_ids is not None and group.prompt_token_ids != ids and not codes:
            # vLLM tokenizes the prompt whole, the transformers backend in two parts: both are the model's
            # own tokenization, and the stored one is what the sampler saw
            n_audio = self.model.audio_token_count(len(audio)) if audio is not None else None
            if group.prompt_token_ids == self.model.tokenize(self.model.adapter.build_prompt(query), n_audio):
                ids = list(group.prompt_token_ids)
        if self.check_prompts and group.prompt_token_ids is not None and group.prompt_token_ids != ids:
            raise UserError(
                f"group {group.group_id}: the prompt this model builds ({len(ids)} tokens) is not the one the "
                f"sampler stored ({len(group.prompt_token_ids)} tokens), so the stored completions would be scored "
                "after another prompt",
                fix="train the model family (and tokenizer) that sampled the rollouts, or roll out again with this "
                "model",
            )
        self._prompts[group.group_id] = ids
        return ids, audio

    def completion_ids(self, c: Completion) -> list[int]:
        if c.token_ids is None:  # an SFT target or a scripted reply: the text, then end of turn
            c.token_ids = self.model.tokenize(c.text) + [self.model.eos_token_ids[0]]
        return c.token_ids

    def __call__(self, groups: Sequence[Group]) -> Batch:
        import torch

        pad = self.model.tokenizer.pad_token_id
        pad = int(pad if pad is not None else self.model.eos_token_ids[0])
        rows, clips, prompt_lengths = [], [], []
        for g in groups:
            ids, audio = self.prompt(g)
            comps = [self.completion_ids(c) for c in g.completions]
            rows.append((ids, comps))
            prompt_lengths.append(len(ids))
            if audio is not None:
                clips.append(audio)
        R = len(rows)
        L = max(len(p) + sum(len(c) for c in cs) for p, cs in rows)
        N = sum(len(cs) for _, cs in rows)
        T = max(max((len(c) for c in cs), default=1) for _, cs in rows)
        T = max(T, 1)
        input_ids = torch.full((R, L), pad, dtype=torch.long)
        position_ids = torch.zeros((R, L), dtype=torch.long)
        segment = torch.full((R, L), -1, dtype=torch.long)  # -1 prompt, s >= 0 completion s, -2 padding
        audio_positions = torch.zeros((R, L), dtype=torch.bool)
        pred_index = torch.zeros((N, T), dtype=torch.long)
        targets = torch.zeros((N, T), dtype=torch.long)
        mask = torch.zeros((N, T))
        has_logp = all(c.logprobs is not None for g in groups for c in g.completions)
        sampler = torch.zeros((N, T)) if has_logp else None
        n = 0
        for r, (g, (p, comps)) in enumerate(zip(groups, rows)):
            P = len(p)
            input_ids[r, :P] = torch.tensor(p)
            position_ids[r, :P] = torch.arange(P)
            audio_positions[r, :P] = input_ids[r, :P] == self.model.audio_token_id
            start = P
            for s, (c, ids) in enumerate(zip(g.completions, comps)):
                m = len(ids)
                if m:
                    input_ids[r, start : start + m] = torch.tensor(ids)
                    position_ids[r, start : start + m] = torch.arange(P, P + m)
                    segment[r, start : start + m] = s
                    # token t of the completion is predicted by the state before it: the prompt's last
                    # state for t = 0, the completion's own state t - 1 after that
                    before = torch.cat([torch.tensor([P - 1]), torch.arange(start, start + m - 1)])
                    pred_index[n, :m] = r * L + before
                    targets[n, :m] = torch.tensor(ids)
                    mask[n, :m] = 1.0
                    if sampler is not None:
                        if len(c.logprobs) != m:  # type: ignore[arg-type]
                            raise UserError(
                                f"group {g.group_id}: completion {c.index} has {m} tokens but "
                                f"{len(c.logprobs)} log-probs"
                            )  # type: ignore[arg-type]
                        sampler[n, :m] = torch.tensor(c.logprobs, dtype=torch.float32)
                start += m
                n += 1
            segment[r, start:] = -2
        q = segment[:, :, None]
        k = segment[:, None, :]
        causal = torch.ones((L, L), dtype=torch.bool).tril()[None]
        # prompt keys are seen by every real token; a completion's keys only by itself; padding sees itself
        allowed = causal & ((k == -1) & (q != -2) | (q == k) & (q >= 0))
        allowed |= torch.eye(L, dtype=torch.bool)[None] & (q == -2)
        refs = [(g, c) for g in groups for c in g.completions]
        return Batch(
            input_ids=input_ids,
            position_ids=position_ids,
            allowed=allowed,
            clips=clips,
            pred_index=pred_index,
            targets=targets,
            mask=mask,
            sampler_logp=sampler,
            advantages=torch.tensor([c.advantage for _, c in refs], dtype=torch.float32),
            rewards=torch.tensor([c.reward for _, c in refs], dtype=torch.float32),
            refs=refs,
            prompt_lengths=prompt_lengths,
            audio_positions=audio_positions,
        )


def epoch_order(n: int, seed: int, epoch: int, salt: str = "") -> np.ndarray:
    """The order of `n` groups in one epoch: a permutation seeded by (seed, salt, epoch) alone, so a
    resumed run sees the same order."""
    import hashlib

    digest = hashlib.sha256(f"{seed}\0{salt}\0{epoch}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little")).permutation(n)


def batch_groups(
    groups: Sequence[Group], batch_index: int, size: int, seed: int, salt: str = ""
) -> list[Group]:
    """Batch `batch_index` of `size` groups from the endless stream of seeded epochs over `groups`:
    every batch is full (an epoch's tail continues into the next epoch's order)."""
    n = len(groups)
    first, last = batch_index * size, (batch_index + 1) * size
    orders = {e: epoch_order(n, seed, e, salt) for e in range(first // n, (last - 1) // n + 1)}
    return [groups[int(orders[i // n][i % n])] for i in range(first, last)]


def load_groups_for(
    ws: Workspace, dataset: str, cfg: Any, names: Sequence[str]
) -> tuple[list[Group], SamplingInfo]:
    """The groups a `TrainConfig` asks for: rollout groups (grpo) or gold-answer groups (sft).

    For a policy that reads RVQ codes (MiMo-Audio) every group carries its item's cached codes, read
    through the code index (`codecs.consumers`): SFT from the index `cfg.codec` names (default: the
    policy's own codec; a dataset not encoded with it is an error naming the encode command), GRPO from
    the index its rollouts were sampled from (a `cfg.codec` naming another is an error)."""
    from ..codecs.consumers import ItemCodes, policy_codes, select_codec_key

    if cfg.method == "sft":
        groups = load_sft_groups(
            ws, dataset, cfg.split, prompt_style=cfg.sft_prompt_style, use_cot=cfg.sft_use_cot
        )
        ids = [g.item_id for g in groups]
        codes = policy_codes(ws, dataset, "transformers", cfg.model, cfg.family, cfg.codec, ids)
        key = None if codes is None else codes["codec_key"]
        if key is not None:
            for g, c in zip(groups, ItemCodes(ws, dataset, key).load(ids)):
                g.codes = c
        return groups, SamplingInfo(temperature=1.0, backend="sft", codec_key=key)
    groups, info = load_rollout_groups(
        ws,
        dataset,
        names,
        rewards=cfg.rewards,
        baseline=cfg.baseline,
        scale=cfg.scale,
        min_spread=cfg.min_spread,
        skip_zero_signal=cfg.skip_zero_signal,
    )
    if cfg.codec is not None:
        if info.codec_key is None:
            raise UserError(
                f"--codec {cfg.codec} was given, but these rollouts were sampled from audio, not codes",
                fix="leave --codec out (the trainer reads what the sampler read)",
            )
        key = select_codec_key(ws, dataset, cfg.codec)
        if key != info.codec_key:
            raise UserError(
                f"--codec {cfg.codec} names the code index {key}, but the rollouts were sampled from "
                f"{info.codec_key}: the trainer scores the completions on the codes the sampler read",
                fix=f"leave --codec out, or pass --codec {info.codec_key}",
            )
    return groups, info
