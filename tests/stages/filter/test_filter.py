"""The filter stage: vote and AC rules on planted votes, permutation averaging, swap, resume, reruns,
the Ray engine, and one run through the real transformers backend on a tiny random Qwen2-Audio."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import numpy as np
import pytest

from adqa_data.core.errors import UserError
from adqa_data.core.schema import FILTER_AUDIT, ITEM_SCORES, QUARANTINE, VOTES
from adqa_data.core.workspace import Workspace
from adqa_data.inference.panel import Panel
from adqa_data.inference.types import Completion, Generation, LetterScores, Query
from adqa_data.stages import download as dl
from adqa_data.stages import filter as flt
from adqa_data.stages.filter.voting import (
    STRONG,
    WEAK,
    GoldItem,
    ModelAnswer,
    aggregate,
    check_min_correct,
    cohen_kappa,
    item_score_rows,
    split_of,
)


# ------------------------------------------------------------------------------------------- fakes
class PlantedBackend:
    """A fake model. `knows(item_id, condition)` -> the option text it picks with confidence, or None;
    with no knowledge it prefers the shown letter `bias` (a position preference), or is uniform."""

    name = "planted"
    sample_rate = 16000

    def __init__(
        self, knows, bias: int | None = None, fail_on_call: int | None = None, log: list | None = None
    ):
        self.knows, self.bias, self.fail_on_call = knows, bias, fail_on_call
        self.calls = 0
        self.log = log if log is not None else []
        self.closed = False

    def _probs(self, q: Query) -> np.ndarray:
        item_id, condition, _ = q.key.split("|")
        n = len(q.choices)
        p = np.full(n, 1.0 / n)
        if self.bias is not None:
            p = np.full(n, 0.1 / (n - 1))
            p[self.bias] = 0.9
        text = self.knows(item_id, condition)
        if text is not None:
            p = 0.5 * p
            p[q.choices.index(text)] += 0.5
        return p / p.sum()

    def score_letters(self, queries):
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise RuntimeError("simulated kill")
        self.log.extend(queries)
        return [LetterScores(self._probs(q), mass=0.9) for q in queries]

    def score_options(self, queries):
        return [s.probs for s in self.score_letters(queries)]

    def generate(self, queries, sampling):
        self.log.extend(queries)
        out = []
        for q in queries:
            letter = "ABCD"[int(np.argmax(self._probs(q)))]
            out.append(
                Generation(
                    q.key, [], [Completion([], f"<think>hm</think><answer>{letter}</answer>", None, "stop")]
                )
            )
        return out

    def close(self):
        self.closed = True


def panel_of(n: int, min_correct: int = 1, mode: str = "letters") -> Panel:
    return Panel(
        name=f"fake{n}",
        min_correct=min_correct,
        members=[{"name": f"m{i}", "model": f"fake/m{i}", "mode": mode} for i in range(n)],
    )


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory):
    """A workspace with the clean AudioMCQ demo downloaded (27 items, 4 sources); copy per test."""
    from adqa_data.testing.data import write_demo

    roots = write_demo(tmp_path_factory.mktemp("filter_demo"), n_clips=24)
    ws = Workspace(tmp_path_factory.mktemp("filter_ws_template") / "w")
    dl.download(ws, from_dir=roots["audiomcq"])
    return ws, roots


@pytest.fixture()
def ws(demo_ws, tmp_path):
    shutil.copytree(demo_ws[0].root, tmp_path / "w")
    return Workspace(tmp_path / "w")


def gold_of(ws):
    return {r["item_id"]: r for r in ws.items("audiomcq").to_pylist()}


# -------------------------------------------------------------------------------- rules, no model
def _answers(correct_silence: list[bool], correct_audio: list[bool], item="x"):
    out = {}
    for i, (s, a) in enumerate(zip(correct_silence, correct_audio)):
        out[(f"m{i}", item, "silence")] = ModelAnswer(0 if s else 1, s, 0.9 if s else 0.1, ())
        out[(f"m{i}", item, "audio")] = ModelAnswer(0 if a else 1, a, 0.8 if a else 0.2, ())
    return out


@pytest.mark.parametrize(
    "silence, min_correct, split",
    [
        ([True], 1, WEAK),
        ([False], 1, STRONG),  # panel of 1
        ([True, True, False], 2, WEAK),  # the paper: 2 of 3 -> weak (tie at the threshold)
        ([True, False, False], 2, STRONG),
        ([True, True, True], 3, WEAK),
        ([True, True, False], 3, STRONG),
        ([True, True, True, False, False], 3, WEAK),  # panel of 5, exactly at the threshold
        ([True, True, False, False, False], 3, STRONG),  # one below
        ([False] * 5, 1, STRONG),
        ([True] * 5, 5, WEAK),
    ],
)
def test_vote_rule_for_panels_of_any_size(silence, min_correct, split):
    n = len(silence)
    audio = [True] * n
    rows = item_score_rows(
        "d",
        [GoldItem("x", 0, 4, "S", "sound")],
        _answers(silence, audio),
        [f"m{i}" for i in range(n)],
        ("audio", "silence"),
        min_correct,
    )
    (r,) = rows
    assert r["split"] == split == split_of(sum(silence), min_correct)
    assert r["silence_correct"] == sum(silence) and r["audio_correct"] == n
    assert r["audio_contribution"] == [1 - int(s) for s in silence]  # 1[audio] - 1[silence]
    assert r["min_correct"] == min_correct
    expected = np.mean([0.8 - (0.9 if s else 0.1) for s in silence])
    assert r["contribution_score"] == pytest.approx(expected)


def test_audio_contribution_takes_every_value():
    rows = item_score_rows(
        "d",
        [GoldItem("x", 0, 4)],
        _answers([False, True, True, False], [True, True, False, False]),
        ["m0", "m1", "m2", "m3"],
        ("audio", "silence"),
        2,
    )
    assert rows[0]["audio_contribution"] == [1, 0, -1, 0]


@pytest.mark.parametrize("panel_size, min_correct", [(1, 2), (3, 4), (2, 0)])
def test_unreachable_threshold_is_refused(panel_size, min_correct):
    with pytest.raises(UserError) as e:
        check_min_correct(min_correct, panel_size)
    assert e.value.fix


def test_permutation_average_and_ties():
    gold = {"x": GoldItem("x", 2, 4)}
    # a model that always says shown "A": under 4 rotations each original option gets 0.7 once
    biased = [np.roll([0.7, 0.1, 0.1, 0.1], p).tolist() for p in range(4)]
    votes = [{"model": "m", "item_id": "x", "condition": "silence", "option_probs": v} for v in biased]
    (a,) = aggregate(votes, gold).values()
    assert a.predicted is None and not a.correct and a.p_correct == pytest.approx(0.25)
    # generate mode: nothing credited in one rotation counts as zero mass
    votes = [
        {"model": "m", "item_id": "x", "condition": "audio", "option_probs": v}
        for v in ([0, 0, 1, 0], None, [0, 0, 1, 0], [1, 0, 0, 0])
    ]
    (a,) = aggregate(votes, gold).values()
    assert a.predicted == 2 and a.correct and a.p_correct == pytest.approx(0.5)


def test_cohen_kappa():
    assert cohen_kappa([True, False, True, False], [True, False, True, False]) == pytest.approx(1.0)
    assert cohen_kappa([True, False], [False, True]) == pytest.approx(-1.0)
    assert cohen_kappa([True, True], [True, True]) is None  # chance agreement 1: undefined


# ------------------------------------------------------------------------------ the stage, fake models
def planted_factory(plan, **kw):
    """plan: model name -> knows(item_id, condition). Records every backend it builds."""
    built = []

    def factory(member, device=None):
        b = PlantedBackend(plan[member.name], **kw.get(member.name, {}))
        built.append((member.name, b))
        return b

    factory.built = built
    return factory


def test_planted_panel_of_three(ws):
    gold = gold_of(ws)
    ids = sorted(gold)
    answer = {i: gold[i]["choices"][gold[i]["answer_index"]] for i in ids}
    # m0 knows everything with audio and the first 10 items on silence; m1 the first 5 on silence;
    # m2 knows nothing on silence
    silent = {"m0": set(ids[:10]), "m1": set(ids[:5]), "m2": set()}

    def knows(m):
        return lambda i, c: answer[i] if c == "audio" or i in silent[m] else None

    factory = planted_factory({m: knows(m) for m in silent})
    res = flt.filter_dataset(
        ws, panel_of(3, 2), options=flt.FilterOptions(chunk_items=10), backend_factory=factory
    )
    assert (res.items, res.weak, res.strong) == (27, 5, 22)
    assert [b.closed for _, b in factory.built] == [True, True, True]
    scores = {r["item_id"]: r for r in ws.read(ITEM_SCORES, "audiomcq").to_pylist()}
    for i in ids:
        n_silent = sum(i in s for s in silent.values())
        assert scores[i]["silence_correct"] == n_silent
        assert scores[i]["split"] == (WEAK if n_silent >= 2 else STRONG)
        assert scores[i]["audio_contribution"] == [0 if i in silent[m] else 1 for m in ("m0", "m1", "m2")]
    splits = ws.root / "splits" / "audiomcq"
    assert (splits / "weak.txt").read_text().split() == [i for i in scores if scores[i]["split"] == WEAK]
    assert set((splits / "strong.txt").read_text().split()) == {i for i in ids if i not in set(ids[:5])}
    # votes layout: one folder per (model, condition), chunked by items
    for m in ("m0", "m1", "m2"):
        for c in ("audio", "silence"):
            parts = sorted((ws.root / "votes" / "audiomcq" / m / c).glob("part-*.parquet"))
            assert [p.name for p in parts] == [
                "part-00000.parquet",
                "part-00001.parquet",
                "part-00002.parquet",
            ]
    votes = ws.read(VOTES, "audiomcq", "m0", "silence").to_pylist()
    assert len(votes) == 27 and all(v["audio_item_id"] is None for v in votes)
    assert all(abs(sum(v["option_probs"]) - 1) < 1e-5 for v in votes)
    # statistics, also in the provenance record
    s = res.stats
    assert s["models"]["m0"]["accuracy"] == {"audio": 1.0, "silence": round(10 / 27, 4)}
    assert s["models"]["m2"]["accuracy"]["silence"] == 0.0
    assert s["silence_correct_histogram"] == {"0": 17, "1": 5, "2": 5, "3": 0}
    assert sum(d["items"] for d in s["by_source"].values()) == 27
    assert {"a": "m0", "b": "m1", "agreement": round(22 / 27, 4)}.items() <= s["silence_agreement"][0].items()
    prov = json.loads((ws.root / "provenance" / "filter" / "audiomcq.json").read_text())
    assert prov["status"] == "complete" and prov["summary"]["stats"] == s
    # every item is answered on silence through one shared audio_id
    silent_ids = {q.audio_id for _, b in factory.built for q in b.log if q.key.split("|")[1] == "silence"}
    assert len(silent_ids) == 1


def test_permutations_undo_a_letter_position_bias(ws):
    gold = gold_of(ws)
    answer = {i: g["choices"][g["answer_index"]] for i, g in gold.items()}
    at_a = {i for i, g in gold.items() if g["answer_index"] == 0}
    assert 0 < len(at_a) < len(gold)
    known = set(sorted(gold)[:4])  # real knowledge survives the rotations

    def knows(i, c):
        return answer[i] if c == "audio" or i in known else None

    def run(k):
        factory = planted_factory({"m0": knows}, m0={"bias": 0})
        return flt.filter_dataset(
            ws, panel_of(1, 1), options=flt.FilterOptions(permutations=k), backend_factory=factory, force=True
        )

    plain = run(1)  # the letter preference passes for knowledge on every item whose answer is A
    weak1 = set((ws.root / "splits" / "audiomcq" / "weak.txt").read_text().split())
    assert weak1 == at_a | known and plain.weak == len(at_a | known)
    rotated = run(4)
    weak4 = set((ws.root / "splits" / "audiomcq" / "weak.txt").read_text().split())
    assert weak4 == known and rotated.weak == len(known)
    votes = ws.read(VOTES, "audiomcq", "m0", "silence").to_pylist()
    assert Counter(v["permutation"] for v in votes) == {p: 27 for p in range(4)}
    # mapped back to the original order: the bias lands on a different original option per rotation
    v = next(v for v in votes if v["item_id"] not in known and v["permutation"] == 1)
    assert v["predicted_index"] == 1 and np.argmax(v["option_probs"]) == 1
    assert rotated.stats["models"]["m0"]["silence_letter_share"]["A"] > 0.8


def test_swap_never_plays_the_items_own_clip(ws):
    gold = gold_of(ws)
    log: list[Query] = []
    factory = planted_factory({"m0": lambda i, c: None}, m0={"log": log})
    opts = flt.FilterOptions(conditions=("audio", "silence", "swap", "noise"), seed=3)
    res = flt.filter_dataset(ws, panel_of(1, 1), options=opts, backend_factory=factory)
    votes = ws.read(VOTES, "audiomcq", "m0", "swap").to_pylist()
    assert len(votes) == 27
    for v in votes:
        donor, item = gold[v["audio_item_id"]], gold[v["item_id"]]
        assert v["audio_item_id"] != v["item_id"]
        assert donor["audio_sha256"] != item["audio_sha256"]  # the text-only items share a clip with others
        assert donor["source_dataset"] == item["source_dataset"]
    swap_queries = [q for q in log if q.key.split("|")[1] == "swap"]
    assert all(q.audio_id.split("@")[0] != gold[q.key.split("|")[0]]["audio_sha256"] for q in swap_queries)
    noise_queries = [q for q in log if q.key.split("|")[1] == "noise"]
    assert len({q.audio_id for q in noise_queries}) == 1 and float(np.abs(noise_queries[0].audio).max()) > 0
    assert res.stats["conditions"] == ["audio", "silence", "noise", "swap"]
    row = ws.read(ITEM_SCORES, "audiomcq").to_pylist()[0]
    assert row["noise_correct"] is not None and row["swap_correct"] is not None
    # the draw is fixed by the seed
    items, _ = flt.prepare_items(ws.items("audiomcq"), ws.dataset(None).root)
    a, _ = flt.assign_swaps(items, 3)
    b, _ = flt.assign_swaps(list(reversed(items)), 3)
    assert {x.item_id: x.donor.item_id for x in a} == {x.item_id: x.donor.item_id for x in b}
    assert {x.item_id: x.donor.item_id for x in a} == {v["item_id"]: v["audio_item_id"] for v in votes}


def test_resume_after_a_kill_redoes_only_missing_shards(ws, tmp_path):
    gold = gold_of(ws)
    answer = {i: g["choices"][g["answer_index"]] for i, g in gold.items()}
    plan = {"m0": lambda i, c: answer[i] if c == "audio" else None, "m1": lambda i, c: answer[i]}
    opts = flt.FilterOptions(chunk_items=10)  # 3 chunks per (model, condition)
    killed = planted_factory(plan, m0={"fail_on_call": 2})
    with pytest.raises(RuntimeError, match="simulated kill"):
        flt.filter_dataset(ws, panel_of(2, 1), options=opts, backend_factory=killed)
    assert killed.built[0][1].closed  # released even when it fails
    audio_dir = ws.root / "votes" / "audiomcq" / "m0" / "audio"
    assert [p.name for p in audio_dir.glob("part-*.parquet")] == ["part-00000.parquet"]
    assert ws.provenance("filter", "audiomcq") is None
    first = audio_dir / "part-00000.parquet"
    mtime = first.stat().st_mtime_ns

    resumed = planted_factory(plan)
    res = flt.filter_dataset(ws, panel_of(2, 1), options=opts, backend_factory=resumed)
    assert first.stat().st_mtime_ns == mtime
    assert (res.chunks_run, res.chunks_reused) == (11, 1)
    m0 = dict(resumed.built)["m0"]
    assert len(m0.log) == 27 * 2 - 10  # everything but the finished shard
    # identical to a run that was never killed
    clean = Workspace(tmp_path / "clean")
    shutil.copytree(
        ws.root, clean.root, ignore=shutil.ignore_patterns("votes", "item_scores", "splits", "provenance")
    )
    flt.filter_dataset(clean, panel_of(2, 1), options=opts, backend_factory=planted_factory(plan))
    assert ws.read(ITEM_SCORES, "audiomcq").equals(clean.read(ITEM_SCORES, "audiomcq"))
    assert ws.read(VOTES, "audiomcq", "m0", "audio").equals(clean.read(VOTES, "audiomcq", "m0", "audio"))


def test_rerun_is_up_to_date_and_threshold_change_loads_no_model(ws):
    plan = {f"m{i}": (lambda i, c: None) for i in range(3)}
    f1 = planted_factory(plan)
    first = flt.filter_dataset(ws, panel_of(3, 2), backend_factory=f1)
    assert not first.up_to_date and len(f1.built) == 3
    f2 = planted_factory(plan)
    again = flt.filter_dataset(ws, panel_of(3, 2), backend_factory=f2)
    assert again.up_to_date and f2.built == [] and again.stats == first.stats
    f3 = planted_factory(plan)
    revote = flt.filter_dataset(
        ws, panel_of(3, 2), options=flt.FilterOptions(min_correct=1), backend_factory=f3
    )
    assert not revote.up_to_date and f3.built == [] and revote.chunks_run == 0
    # a fourth member: only it is loaded
    plan["m3"] = lambda i, c: None
    f4 = planted_factory(plan)
    flt.filter_dataset(ws, panel_of(4, 2), backend_factory=f4)
    assert [name for name, _ in f4.built] == ["m3"]
    with pytest.raises(UserError, match="exceeds the panel"):
        flt.filter_dataset(ws, panel_of(3, 2), options=flt.FilterOptions(min_correct=4), backend_factory=f4)


def test_generate_mode_keeps_text_and_parse_layer(ws):
    gold = gold_of(ws)
    answer = {i: g["choices"][g["answer_index"]] for i, g in gold.items()}
    factory = planted_factory({"m0": lambda i, c: answer[i] if c == "audio" else None}, m0={"bias": 1})
    res = flt.filter_dataset(
        ws,
        panel_of(1, 1, mode="generate"),
        options=flt.FilterOptions(permutations=2),
        backend_factory=factory,
    )
    votes = ws.read(VOTES, "audiomcq", "m0", "audio").to_pylist()
    assert all(v["mode"] == "generate" and v["parse_layer"] == "strict" for v in votes)
    assert all(v["raw_text"].endswith("</answer>") and v["correct"] for v in votes)
    assert res.stats["models"]["m0"]["accuracy"]["audio"] == 1.0
    # on silence the model answers shown "B" in both rotations: different originals, so no consensus
    assert res.stats["models"]["m0"]["accuracy"]["silence"] == 0.0 and res.weak == 0


def test_items_without_a_gold_answer(demo_ws, tmp_path):
    ws = Workspace(tmp_path / "w")
    dl.download(ws, from_dir=demo_ws[1]["dcase2026-eval"])
    with pytest.raises(UserError, match="has a gold answer") as e:
        flt.filter_dataset(ws, panel_of(1, 1), backend_factory=planted_factory({}))
    assert e.value.fix
    # a mixed table: the withheld ones are skipped and quarantined with a reason
    import pyarrow as pa

    t = ws.items("dcase2026-eval")
    t = t.set_column(
        t.schema.get_field_index("answer_index"),
        "answer_index",
        pa.array([0] + [None] * (t.num_rows - 1), pa.int8()),
    )
    refs, withheld = flt.prepare_items(t, "/root")
    assert len(refs) == 1 and len(withheld) == t.num_rows - 1
    assert {w["reason"] for w in withheld} == {"answer_withheld"}


def test_quarantine_table_of_the_stage_is_written(ws):
    flt.filter_dataset(ws, panel_of(1, 1), backend_factory=planted_factory({"m0": lambda i, c: None}))
    assert ws.read(QUARANTINE, "audiomcq", "filter").num_rows == 0


def test_bad_configuration_is_refused_before_loading_models(ws):
    factory = planted_factory({})
    bad = [
        (flt.FilterOptions(conditions=("audio", "silence", "reverb")), "unknown condition"),
        (flt.FilterOptions(mode="vibes"), "unknown mode"),
        (flt.FilterOptions(permutations=0), "permutations"),
    ]
    for opts, msg in bad:
        with pytest.raises(UserError, match=msg):
            flt.filter_dataset(ws, panel_of(1, 1), options=opts, backend_factory=factory)
    think = Panel(name="p", min_correct=1, members=[{"name": "m0", "model": "x", "prompt_style": "think"}])
    with pytest.raises(UserError, match="letters"):
        flt.filter_dataset(ws, think, backend_factory=factory)
    with pytest.raises(UserError, match="no panel named"):
        flt.filter_dataset(ws, "no-such-panel", backend_factory=factory)
    assert factory.built == []


# ------------------------------------------------------------------------------------------- Ray
def _answer_a(item_id, condition):
    return None


def ray_factory(member, device=None):
    return PlantedBackend(_answer_a, bias=0)


@pytest.mark.ray
def test_ray_engine_gives_identical_outputs(ws, tmp_path):
    pytest.importorskip("ray")
    import sys

    import ray
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the fake lives in this test module
    local = Workspace(tmp_path / "local")
    shutil.copytree(ws.root, local.root)
    opts = flt.FilterOptions(chunk_items=10, permutations=2, audit=5)
    flt.filter_dataset(local, panel_of(2, 1), options=opts, backend_factory=ray_factory)
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        res = flt.filter_dataset(ws, panel_of(2, 1), options=opts, backend_factory=ray_factory, engine="ray")
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert res.chunks_run == 12
    assert ws.read(ITEM_SCORES, "audiomcq").equals(local.read(ITEM_SCORES, "audiomcq"))
    for m in ("m0", "m1"):
        for c in ("audio", "silence"):
            assert ws.read(VOTES, "audiomcq", m, c).equals(local.read(VOTES, "audiomcq", m, c))
        assert ws.read(FILTER_AUDIT, "audiomcq", m).equals(local.read(FILTER_AUDIT, "audiomcq", m))
    assert res.audit["members_generated"] == 2 and res.audit["items"] == 5


# ------------------------------------------------------------------------- real transformers backend
@pytest.mark.slow
def test_end_to_end_tiny_qwen2_audio_through_the_cli(tmp_path):
    pytest.importorskip("transformers")
    import yaml
    from typer.testing import CliRunner

    from adqa_data.cli import app
    from adqa_data.testing.data import write_demo
    from adqa_data.testing.models import build_tiny_qwen2_audio

    ws = Workspace(tmp_path / "w")  # a smaller demo (9 items): every clip costs a 30 s Whisper window
    dl.download(ws, from_dir=write_demo(tmp_path / "demo", n_clips=6)["audiomcq"])
    build_tiny_qwen2_audio(tmp_path / "panel" / "qwen2-audio", seed=0)
    (tmp_path / "panel" / "panel.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "tiny1",
                "min_correct": 1,
                "members": [
                    {
                        "name": "tiny-qwen2-audio",
                        "model": "./qwen2-audio",
                        "family": "qwen2_audio",
                        "backend": "transformers",
                        "dtype": "float32",
                    }
                ],
            }
        )
    )
    args = [
        "filter",
        "--panel",
        str(tmp_path / "panel" / "panel.yaml"),
        "-w",
        str(ws.root),
        "--json",
        "--silence-seconds",
        "5",
        "--device",
        "cpu",
    ]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["items"] == 9 and report["weak"] + report["strong"] == 9
    acc = report["stats"]["models"]["tiny-qwen2-audio"]["accuracy"]
    assert set(acc) == {"audio", "silence"}
    votes = ws.read(VOTES, "audiomcq", "tiny-qwen2-audio", "silence").to_pylist()
    probs = np.array([v["option_probs"] for v in votes])
    assert probs.shape == (9, 4) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    # a random model is not uniform, and its answers are a deterministic function of the prompt
    assert probs.std() > 0
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and json.loads(again.stdout)["up_to_date"] is True


def test_built_in_panels_resolve_by_name():
    paper = flt.resolve_panel("audiomcq")
    assert paper.min_correct == 2 and len(paper.members) == 3
    assert flt.resolve_panel(paper) is paper
