"""The demo's targets, read from the workspace `adqa-data run pipelines/demo.yaml` wrote: run by
`.ci/demo.sh` with ADQA_DEMO_WORKSPACE naming it (skipped without it). The weak/strong split agrees with
the designed needs_audio label on at least 90% of the training items; after GRPO the dev accuracy on the
audio-only items is at least 0.9 with the clip and at most 0.35 on silence, from chance before; the
audio-dependency gap grows; the trained rollout set carries attention profiles; the eval set has its CSV."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adqa_data.core.schema import ROLLOUTS
from adqa_data.core.workspace import Workspace
from adqa_data.demo.story import story

DEMO_WS = os.environ.get("ADQA_DEMO_WORKSPACE")
pytestmark = pytest.mark.skipif(
    not DEMO_WS, reason="ADQA_DEMO_WORKSPACE is not set (.ci/demo.sh runs the demo)"
)


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace(Path(DEMO_WS))


def test_the_split_recovers_the_design(ws):
    split = story(ws, "audiomcq", "dcase2026-dev", "before", "after")["split"]
    assert split["items"] == 576 and split["agreement"] >= 0.9, split


def test_grpo_makes_the_policy_listen(ws):
    ev = story(ws, "audiomcq", "dcase2026-dev", "before", "after")["eval"]
    before, after = ev["before"]["accuracy"], ev["after"]["accuracy"]
    assert after["audio"]["n_audio-only"] == 64
    assert after["audio"]["audio-only"] >= 0.9, after
    assert after["silence"]["audio-only"] <= 0.35, after
    assert before["audio"]["audio-only"] <= 0.4  # the format-only warm start knows nothing of the answers
    assert ev["after"]["gap_audio_only"] >= ev["before"]["gap_audio_only"] + 0.5


def test_the_trained_rollouts_keep_their_attention_and_the_csv_is_written(ws):
    rows = ws.read(ROLLOUTS, "audiomcq", "trained", columns=["reward_correctness", "anchoring_profile"])
    rows = rows.to_pylist()
    scored = [r for r in rows if r["reward_correctness"] == 1.0]
    assert scored and all(r["anchoring_profile"] and len(r["anchoring_profile"]) == 64 for r in scored)
    (csv,) = (ws.root / "submissions").rglob("*.csv")
    assert csv.read_text().splitlines()[0] == "question,answer"
