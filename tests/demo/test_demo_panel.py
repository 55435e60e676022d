"""The story demo's panel has priors and no ears: one member, trained as `demo-models --priors` trains it,
answers the text-prior items of a fresh designed set through the filter stage's real voting path, with
the clip and with silence alike (the clip changes at most a tenth of its answers), and credits nothing on the audio-only ones; so the split it votes
agrees with the designed `needs_audio` label."""

from __future__ import annotations

import pytest
import yaml

from adqa_data.core.schema import ITEM_SCORES
from adqa_data.core.workspace import Workspace
from adqa_data.demo.design import write_designed
from adqa_data.demo.prior_panel import AUDIO_WINDOW_S, story_panel, train_prior_member
from adqa_data.demo.story import split_agreement
from adqa_data.stages import filter as flt
from adqa_data.stages.download import download
from adqa_data.testing.models import build_tiny_qwen2_audio, train_bpe_tokenizer


@pytest.mark.slow
def test_a_prior_member_answers_what_the_text_gives_away_and_refuses_the_rest(tmp_path):
    base = build_tiny_qwen2_audio(
        tmp_path / "base",
        seed=100,
        tokenizer=train_bpe_tokenizer(tag_tokens=True),
        audio_window_s=AUDIO_WINDOW_S,
    )
    member = train_prior_member(base, tmp_path / "prior-s0", seed=0)
    panel = {**story_panel({"prior-s0": member}), "min_correct": 1}
    panel["members"][0]["model"] = str(member)
    (tmp_path / "panel.yaml").write_text(yaml.safe_dump(panel))

    roots = write_designed(tmp_path / "data", n_audio=24, n_text=36, n_dev=12, n_eval=12, seed=5)
    ws = Workspace(tmp_path / "w")
    download(ws, from_dir=roots["audiomcq"], name="audiomcq")
    options = flt.FilterOptions(silence_seconds=1.0, max_new_tokens=16)
    flt.filter_dataset(ws, str(tmp_path / "panel.yaml"), "audiomcq", options)
    scores = ws.read(ITEM_SCORES, "audiomcq").to_pylist()
    changed = sum(r["audio_contribution"] != [0] for r in scores)
    assert changed <= 0.1 * len(scores), changed  # the clip changes hardly any answer: no ears
    agreement = split_agreement(ws, "audiomcq")
    assert agreement["counts"]["audio-only->weak"] == 0  # never guesses an audio-only item
    assert agreement["agreement"] >= 0.8, agreement
