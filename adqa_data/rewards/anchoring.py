"""Attention-anchoring reward: how much a correct answer's reasoning attends to the audio.

The DCASE 2026 MiMo-Audio report's reward (docs/method.md#rewards). Input: the attention of the
response tokens (query rows: the reasoning's tokens by default, `AnchoringConfig.rows` and
`reasoning_rows.py`) onto every key of prompt and response, already averaged over heads and the chosen
deep layers (capturing it and choosing the rows is the anchoring pass's job), and a mask of which keys
are audio tokens. With a[j] = the attention audio key j receives, averaged over response rows (each row
renormalised to sum to 1):

    CON  mean over rows of the share of the row's mass on audio keys: is the model listening at all?
    AR   share of audio keys with a[j] > ar_threshold / num_keys (by more than rounding: `AR_RTOL`),
         i.e. above the share every key gets under uniform attention: how much of the clip gets more
         attention than chance? An exactly uniform map has AR 0.
    ENT  H(p) / log(n_audio), p = a renormalised over the audio keys, rewarded above a floor as
         clip((H - floor) / (1 - floor), 0, 1): is audio attention spread rather than collapsed?

    score = 0.6 CON + 0.25 AR + 0.15 ENT, in [0, 1]

ENT is taken on the row-averaged distribution: the collapse to prevent is the whole response leaning
on a few audio positions (e.g. an attention sink on the first audio frame); one token looking at one
frame is normal. The reward adds the score only when the answer is correct, so attending to the
audio while answering wrongly earns nothing ("pretending to listen").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

AnchoringRows = Literal["reasoning", "all"]
ANCHORING_ROWS: tuple[str, ...] = ("reasoning", "all")


@dataclass(frozen=True)
class AnchoringConfig:
    con_weight: float = 0.6  # the report's weight: mass on audio is the primary, most robust term
    ar_weight: float = 0.25  # the report's weight: breadth of coverage over the clip
    ent_weight: float = 0.15  # the report's weight: guard against collapse onto a few frames
    # a key is active above this multiple of 1/num_keys (chance level); lower it for models whose
    # attention sinks leave most keys below uniform
    ar_threshold: float = 1.0
    # 0.5 = attention spread like a uniform one over about sqrt(n_audio) frames (~1 s of a 30 s clip
    # at 25 Hz); anything narrower counts as collapse and earns no ENT
    entropy_floor: float = 0.5
    # the query rows: the reasoning's tokens (rewards/reasoning_rows.py), the quantity the reward is
    # meant to measure; "all" = every completion token, answer tags and end token included
    rows: AnchoringRows = "reasoning"

    def __post_init__(self) -> None:
        weights = (self.con_weight, self.ar_weight, self.ent_weight)
        if min(weights) < 0 or not np.isclose(sum(weights), 1.0):
            raise ValueError(f"anchoring weights must be >= 0 and sum to 1 (score in [0, 1]), got {weights}")
        if self.ar_threshold <= 0:
            raise ValueError(f"ar_threshold must be > 0, got {self.ar_threshold}")
        if not 0.0 <= self.entropy_floor < 1.0:
            raise ValueError(f"entropy_floor must be in [0, 1), got {self.entropy_floor}")
        if self.rows not in ANCHORING_ROWS:
            raise ValueError(f"rows must be one of {', '.join(ANCHORING_ROWS)}, got {self.rows!r}")


def anchoring_score(
    attn: np.ndarray, audio_mask: np.ndarray, config: AnchoringConfig = AnchoringConfig()
) -> dict[str, float]:
    """CON, AR, ENT and their weighted score for one completion.

    attn: [response_rows, num_keys], averaged over heads and layers, non-negative (rows are
    renormalised, so rows summing to 1 within rounding are fine). audio_mask: bool [num_keys].
    Returns con, ar, ent (the floored term used in the score), entropy (normalised, before the floor)
    and score = con_weight * con + ar_weight * ar + ent_weight * ent.
    """
    given = np.asarray(attn)
    a = given.astype(np.float64)
    mask = np.asarray(audio_mask, dtype=bool)
    if a.ndim != 2 or mask.shape != (a.shape[1],):
        raise ValueError(f"need attn [rows, keys] and audio_mask [keys], got {a.shape} and {mask.shape}")
    if a.shape[0] == 0 or not mask.any():
        raise ValueError("need at least one response row and one audio key")
    row_mass = a.sum(axis=1, keepdims=True)
    if (a < 0).any() or not np.isfinite(a).all() or (row_mass <= 0).any():
        raise ValueError("attention must be finite, non-negative, with mass in every row")
    audio = a[:, mask] / row_mass  # [rows, n_audio]
    con = float(audio.sum(axis=1).mean())
    received = audio.mean(axis=0)  # attention each audio key receives, per response row on average
    chance = config.ar_threshold / a.shape[1]
    ar = float((received > chance * (1.0 + _ar_rtol(given.dtype))).mean())
    n_audio = received.size
    mass = received.sum()
    entropy = 0.0
    if n_audio > 1 and mass > 0:
        p = received[received > 0] / mass
        entropy = float(np.clip(-(p * np.log(p)).sum() / np.log(n_audio), 0.0, 1.0))
    ent = float(np.clip((entropy - config.entropy_floor) / (1.0 - config.entropy_floor), 0.0, 1.0))
    score = config.con_weight * con + config.ar_weight * ar + config.ent_weight * ent
    return {"con": con, "ar": ar, "ent": ent, "entropy": entropy, "score": float(np.clip(score, 0.0, 1.0))}


# AR counts a key only when it exceeds the threshold by more than rounding explains: under an exactly
# uniform map every key gets 1/num_keys up to a few ulps (a row of float values rarely sums to exactly 1),
# which a strict `>` would count as above chance. 1e-4 is far below any attention difference AR means to
# count and above float32 rounding accumulated over thousands of keys; coarser inputs get 8 of their ulps.
AR_RTOL = 1e-4


def _ar_rtol(dtype: np.dtype) -> float:
    return max(AR_RTOL, 8 * float(np.finfo(dtype).eps)) if np.issubdtype(dtype, np.floating) else AR_RTOL


PROFILE_BINS = 64
"""Length of the stored attention profile (`anchoring_profile`): enough to show where in a 30 s clip the
reasoning looked (~0.5 s a bin), small enough to keep with every completion (256 bytes)."""


def attention_profile(attn: np.ndarray, audio_mask: np.ndarray, bins: int = PROFILE_BINS) -> list[float]:
    """Where along the clip the response rows' attention went: `bins` equal spans of the audio keys, in
    order, each holding the share of the rows' attention (rows renormalised, averaged over rows) that
    fell on its span, so the profile sums to CON. The audio keys are taken as equally spaced in time
    (one token per frame of the clip), so bin b covers the clip from b/bins to (b+1)/bins of its length;
    a key straddling two bins is shared in proportion, so no mass is lost whatever the number of keys."""
    a = np.asarray(attn, dtype=np.float64)
    mask = np.asarray(audio_mask, dtype=bool)
    if a.ndim != 2 or mask.shape != (a.shape[1],) or a.shape[0] == 0 or not mask.any():
        raise ValueError(f"need attn [rows, keys] with rows and audio_mask [keys] with audio, got {a.shape}")
    received = (a[:, mask] / a.sum(axis=1, keepdims=True)).mean(axis=0)
    n = received.size
    cumulative = np.concatenate([[0.0], np.cumsum(received)])
    at_edges = np.interp(np.linspace(0.0, n, bins + 1), np.arange(n + 1), cumulative)
    return [float(x) for x in np.diff(at_edges)]


def anchoring(
    completions: list[str],
    *,
    correct: Sequence[float],
    anchor_scores: Sequence[float | None],
    **_columns: object,
) -> list[float]:
    """Per completion, its anchoring score when its correctness reward is 1, else 0.0.

    `anchor_scores` may hold None for wrong completions: the attention pass can skip them.
    """
    if not len(completions) == len(correct) == len(anchor_scores):
        raise ValueError(
            f"batch columns differ in length: {len(completions)} completions, "
            f"{len(correct)} correct, {len(anchor_scores)} anchor_scores"
        )
    rewards = []
    for ok, score in zip(correct, anchor_scores):
        if ok != 1.0:
            rewards.append(0.0)
        elif score is None or not 0.0 <= score <= 1.0:
            raise ValueError(f"a correct completion needs an anchoring score in [0, 1], got {score}")
        else:
            rewards.append(float(score))
    return rewards
