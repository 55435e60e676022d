"""filter's letter mass (recorded per vote, warned about, old votes recomputed) and `--audit N` (the vote
against the member's own generated answer), on fake backends whose reads and replies are planted, so
every figure is known by hand."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from adqa_data.core.errors import UserError
from adqa_data.core.schema import FILTER_AUDIT, VOTES, TableSpec
from adqa_data.core.workspace import Workspace
from adqa_data.inference.panel import Panel
from adqa_data.inference.types import Completion, Generation, LetterScores, Query
from adqa_data.stages import download as dl
from adqa_data.stages import filter as flt
from adqa_data.stages.filter import audit as audit_mod

LETTERS = "ABCD"


class Fake:
    """Knows the gold option with the clip (0.5 on it) and nothing on silence; a strong preference (0.9)
    for the shown letter A otherwise. Its letters sit at `mass(item, condition, rotation)` of the
    vocabulary. Replies, in generate mode, `reply(item_id, condition, choices)`."""

    name = "fake"
    sample_rate = 16000

    def __init__(self, gold, mass, reply, fail_generate=False):
        self.gold, self.mass, self.reply, self.fail_generate = gold, mass, reply, fail_generate
        self.generated: list[Query] = []
        self.closed = False

    def _probs(self, q: Query) -> np.ndarray:
        item_id, condition, _ = q.key.split("|")
        p = np.full(len(q.choices), 0.1 / (len(q.choices) - 1))
        p[0] = 0.9
        if condition == "audio":
            g = self.gold[item_id]
            p = 0.5 * p
            p[q.choices.index(g["choices"][g["answer_index"]])] += 0.5
        return p / p.sum()

    def score_letters(self, queries):
        out = []
        for q in queries:
            item_id, condition, rot = q.key.split("|")
            out.append(LetterScores(self._probs(q), mass=self.mass(item_id, condition, int(rot))))
        return out

    def score_options(self, queries):
        return [self._probs(q) for q in queries]

    def generate(self, queries, sampling):
        if self.fail_generate:
            raise RuntimeError("simulated kill during the audit")
        self.generated += queries
        out = []
        for q in queries:
            item_id, condition, _ = q.key.split("|")
            text = self.reply(item_id, condition, q.choices)
            out.append(Generation(q.key, [], [Completion([], text, None, "stop")]))
        return out

    def close(self):
        self.closed = True


def factory_of(gold, mass=lambda i, c, p: 0.9, reply=lambda i, c, ch: "A", fail_generate=()):
    built = []

    def factory(member, device=None):
        b = Fake(gold, mass, reply, fail_generate=member.name in fail_generate)
        built.append((member.name, member.mode, b))
        return b

    factory.built = built
    return factory


def panel(*modes: str, min_correct: int = 1) -> Panel:
    members = [{"name": f"m{i}", "model": f"fake/m{i}", "mode": m} for i, m in enumerate(modes)]
    return Panel(name="fake", min_correct=min_correct, members=members)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from adqa_data.testing.data import write_demo

    roots = write_demo(tmp_path_factory.mktemp("audit_demo"), n_clips=24)
    ws = Workspace(tmp_path_factory.mktemp("audit_ws") / "w")
    dl.download(ws, from_dir=roots["audiomcq"])
    return ws


@pytest.fixture()
def ws(template, tmp_path):
    shutil.copytree(template.root, tmp_path / "w")
    return Workspace(tmp_path / "w")


def gold_of(ws):
    return {r["item_id"]: r for r in ws.items("audiomcq").to_pylist()}


# ---------------------------------------------------------------------------------------- letter mass
def test_letter_mass_is_recorded_per_rotation_and_low_members_are_warned(ws):
    gold = gold_of(ws)
    ids = sorted(gold)
    # m0: 0.8 everywhere; m1: 0.1 on rotation 0 and 0.3 on rotation 1 (median 0.2: low); m2 options mode
    masses = {"m0": lambda i, c, p: 0.8, "m1": lambda i, c, p: 0.1 if p == 0 else 0.3}
    built = []

    def factory(member, device=None):
        b = Fake(gold, masses.get(member.name, lambda i, c, p: 0.9), lambda i, c, ch: "A")
        built.append(member.name)
        return b

    opts = flt.FilterOptions(permutations=2)
    res = flt.filter_dataset(
        ws, panel("letters", "letters", "options"), options=opts, backend_factory=factory
    )
    v1 = ws.read(VOTES, "audiomcq", "m1", "silence").to_pylist()
    assert len(v1) == 2 * len(ids)
    assert {(v["permutation"], round(v["letter_mass"], 6)) for v in v1} == {(0, 0.1), (1, 0.3)}
    assert all(v["letter_mass"] is None for v in ws.read(VOTES, "audiomcq", "m2", "audio").to_pylist())
    mass = {m: d.get("letter_mass") for m, d in res.stats["models"].items()}
    assert mass["m0"] == {
        "votes": 4 * len(ids),
        "median": 0.8,
        "p10": 0.8,
        "min": 0.8,
        "median_by_condition": {"audio": 0.8, "silence": 0.8},
    }
    assert mass["m1"]["median"] == 0.2 and mass["m1"]["min"] == 0.1 and mass["m2"] is None
    assert [(w["member"], w["median_letter_mass"]) for w in res.warnings] == [("m1", 0.2)]
    assert "m1" in res.warnings[0]["message"] and "--audit" in res.warnings[0]["message"]
    # the threshold is reporting only: another one warns differently without rerunning anything
    built.clear()
    again = flt.filter_dataset(
        ws,
        panel("letters", "letters", "options"),
        options=flt.FilterOptions(permutations=2, min_letter_mass=0.9),
        backend_factory=factory,
    )
    assert again.up_to_date and built == []
    assert [w["member"] for w in again.warnings] == ["m0", "m1"]
    off = flt.FilterOptions(permutations=2, min_letter_mass=0.0)
    quiet = flt.filter_dataset(
        ws, panel("letters", "letters", "options"), options=off, backend_factory=factory
    )
    assert quiet.up_to_date and quiet.warnings == []
    with pytest.raises(UserError, match="min-letter-mass"):
        flt.filter_dataset(
            ws, panel("letters"), options=flt.FilterOptions(min_letter_mass=1.5), backend_factory=factory
        )


def test_votes_of_an_older_schema_are_recomputed_not_read(ws, monkeypatch):
    """A workspace whose votes predate `letter_mass` (votes v1): its units are keyed by the votes schema,
    so filter answers again instead of reading them with the column missing."""
    import pyarrow as pa

    from adqa_data.stages.filter import jobs, stage, units

    gold = gold_of(ws)
    v1 = TableSpec("votes", 1, pa.schema([f for f in VOTES.schema if f.name != "letter_mass"]))
    for mod in (jobs, stage, units):
        monkeypatch.setattr(mod, "VOTES", v1)
    real_read = stage.read_table

    def read_v1(directory, spec, columns=None):  # the old reader never asked for letter_mass
        t = real_read(directory, spec, [c for c in columns if c != "letter_mass"])
        return t.append_column("letter_mass", pa.nulls(t.num_rows, pa.float32()))

    monkeypatch.setattr(stage, "read_table", read_v1)
    old = factory_of(gold)
    flt.filter_dataset(ws, panel("letters", "letters"), backend_factory=old)
    part = ws.table_dir("votes", "audiomcq", "m0", "audio") / "part-00000.parquet"
    assert "letter_mass" not in pq.read_schema(part).names
    monkeypatch.undo()
    with pytest.raises(UserError, match="votes v1"):  # never read as if it were the current table
        ws.read(VOTES, "audiomcq", "m0", "audio")
    from adqa_data.stages.stats import stats

    panel_stats = stats(ws, sections=["panel"])["sections"]["panel"]  # stats says so and goes on
    assert "votes v1" in panel_stats["note"] and "rerun 'adqa-data filter'" in panel_stats["note"]
    assert "letter_mass" not in panel_stats and panel_stats["silence_correct_histogram"]
    new = factory_of(gold)
    res = flt.filter_dataset(ws, panel("letters", "letters"), backend_factory=new)
    assert not res.up_to_date and [m for m, _, _ in new.built] == ["m0", "m1"]
    assert all(
        v["letter_mass"] == pytest.approx(0.9) for v in ws.read(VOTES, "audiomcq", "m0", "audio").to_pylist()
    )
    assert res.stats["models"]["m0"]["letter_mass"]["median"] == 0.9


# ---------------------------------------------------------------------------------------------- audit
def planted_reply(gold):
    """By the item's position among the sorted ids: 0 -> the vote's letter (gold with the clip, A on
    silence), 1 -> another letter, 2 -> no letter at all (unparseable)."""
    pos = {i: k for k, i in enumerate(sorted(gold))}

    def reply(item_id, condition, choices):
        g = gold[item_id]["answer_index"] if condition == "audio" else 0
        kind = pos[item_id] % 3
        if kind == 2:
            return "I cannot tell from this recording."
        return f"<answer>{LETTERS[g if kind == 0 else (g + 1) % 4]}</answer>"

    return reply, pos


def test_audit_against_a_hand_count(ws):
    gold = gold_of(ws)
    reply, pos = planted_reply(gold)
    factory = factory_of(gold, reply=reply)
    opts = flt.FilterOptions(permutations=2, audit=9, seed=3, max_new_tokens=16)
    res = flt.filter_dataset(ws, panel("letters", "generate"), options=opts, backend_factory=factory)
    audited = audit_mod.pick_items(flt.prepare_items(ws.items("audiomcq"), "")[0], 9, 3)
    kinds = [pos[it.item_id] % 3 for it in audited]
    n0, n1, n2 = kinds.count(0), kinds.count(1), kinds.count(2)
    assert n0 and n1 and n2 and n0 + n1 + n2 == 9
    a = res.audit
    assert (a["items"], a["requested"], a["conditions"]) == (9, 9, ["audio", "silence"])
    # with the clip every rotation reads the gold option: the vote and rotation 0 both say gold
    assert a["members"]["m0"]["audio"] == {
        "items": 9,
        "agree": n0,
        "disagree": n1,
        "unparseable": n2,
        "agreement": round(n0 / (n0 + n1), 4),
        "agreement_same_prompt": round(n0 / (n0 + n1), 4),
        "unparseable_share": round(n2 / 9, 4),
    }
    # on silence the read is the letter preference: rotation 0 says A, the two rotations tie -> no vote
    silence = a["members"]["m0"]["silence"]
    assert (silence["agree"], silence["disagree"], silence["unparseable"]) == (0, n0 + n1, n2)
    assert silence["agreement"] == 0.0 and silence["agreement_same_prompt"] == round(n0 / (n0 + n1), 4)
    assert a["members"]["m1"] == {"mode": "generate", "skipped": audit_mod.GENERATE_SKIP}
    # the generation: the member's model in generate mode, original order, one query per item and condition
    (m0_backends,) = [b for m, mode, b in factory.built if m == "m0" and mode == "generate"]
    assert sorted(q.key for q in m0_backends.generated) == sorted(
        f"{it.item_id}|{c}|0" for it in audited for c in ("audio", "silence")
    )
    assert all(q.choices == list(gold[q.key.split("|")[0]]["choices"]) for q in m0_backends.generated)
    assert all(b.closed for _, _, b in factory.built)
    # the table: one row per (item, condition), written next to the votes
    rows = ws.read(FILTER_AUDIT, "audiomcq", "m0").to_pylist()
    assert len(rows) == 18 and {r["item_id"] for r in rows} == {it.item_id for it in audited}
    unparsed = [r for r in rows if r["generated_index"] is None]
    assert len(unparsed) == 2 * n2 and all(r["agree"] is None and r["parse_layer"] for r in unparsed)
    assert all(
        r["vote_index"] is None and r["vote_index_same_prompt"] == 0
        for r in rows
        if r["condition"] == "silence"
    )
    prov = json.loads((ws.root / "provenance" / "filter" / "audiomcq.json").read_text())
    assert prov["summary"]["audit"]["members"] == a["members"]


def test_audit_table_exports_and_pipeline_steps_take_the_options(ws, tmp_path):
    from adqa_data.cli.pipeline import load, plan
    from adqa_data.export import ExportOptions, export

    with pytest.raises(UserError, match="adqa-data filter") as e:  # no audit yet: what to run, not a crash
        export(ws, "native", options=ExportOptions(table="filter_audit"), out=tmp_path / "none")
    assert "filter_audit" in e.value.what
    gold = gold_of(ws)
    flt.filter_dataset(
        ws, panel("letters"), options=flt.FilterOptions(audit=4), backend_factory=factory_of(gold)
    )
    res = export(ws, "native", options=ExportOptions(table="filter_audit"), out=tmp_path / "audit")
    assert res.check["ok"] and res.rows == {"default": 8}
    (tmp_path / "p.yaml").write_text(
        "workspace: w\nsteps:\n  - filter: {panel: tiny, audit: 20, min_letter_mass: 0.3}\n"
    )
    (argv,) = plan(load(tmp_path / "p.yaml"))
    assert argv[:5] == ["filter", "--panel", "tiny", "--audit", "20"] and argv[5:7] == [
        "--min-letter-mass",
        "0.3",
    ]


def test_audit_is_reproducible_resumable_and_reused(ws):
    gold = gold_of(ws)
    reply, _ = planted_reply(gold)
    opts = flt.FilterOptions(audit=5, seed=1)
    p = panel("letters", "letters")
    # killed during the second member's audit: its votes and the first member's audit stay written
    first = factory_of(gold, reply=reply, fail_generate=("m1",))
    with pytest.raises(RuntimeError, match="during the audit"):
        flt.filter_dataset(ws, p, options=opts, backend_factory=first)
    resumed = factory_of(gold, reply=reply)
    res = flt.filter_dataset(ws, p, options=opts, backend_factory=resumed)
    assert [(m, mode) for m, mode, _ in resumed.built] == [("m1", "generate")]
    assert res.audit["members_generated"] == 1 and res.chunks_run == 0
    # an up-to-date rerun generates nothing and reports the same figures
    again = factory_of(gold, reply=reply)
    same = flt.filter_dataset(ws, p, options=opts, backend_factory=again)
    assert same.up_to_date and again.built == [] and same.audit["members"] == res.audit["members"]
    assert same.audit["members_generated"] == 0
    # a new vote threshold re-votes without any model; the audit is reused
    revote = factory_of(gold, reply=reply)
    r2 = flt.filter_dataset(
        ws, p, options=flt.FilterOptions(audit=5, seed=1, min_correct=2), backend_factory=revote
    )
    assert not r2.up_to_date and revote.built == [] and r2.audit["members"] == res.audit["members"]
    # more items than the dataset holds: capped; the seeded draw extends the smaller one
    items = flt.prepare_items(ws.items("audiomcq"), "")[0]
    assert [i.item_id for i in audit_mod.pick_items(items, 5, 1)] == [
        i.item_id for i in audit_mod.pick_items(items, 12, 1)[:5]
    ]
    big = factory_of(gold, reply=reply)
    r3 = flt.filter_dataset(ws, p, options=flt.FilterOptions(audit=1000, seed=1), backend_factory=big)
    assert (r3.audit["items"], r3.audit["requested"]) == (len(items), 1000)
    assert [mode for _, mode, _ in big.built] == ["generate", "generate"]
    assert ws.read(FILTER_AUDIT, "audiomcq", "m0").num_rows == 2 * len(items)
    with pytest.raises(UserError, match="--audit"):
        flt.filter_dataset(ws, p, options=flt.FilterOptions(audit=-1), backend_factory=big)


def test_audit_figures_from_rows():
    def row(model, cond, vote, same, gen):
        return {
            "model": model,
            "condition": cond,
            "vote_index": vote,
            "vote_index_same_prompt": same,
            "generated_index": gen,
        }

    rows = [row("a", "audio", 1, 1, 1), row("a", "audio", 2, 1, 1), row("a", "audio", None, 0, None)]
    rows += [row("b", "silence", None, 3, 3)]
    figures = audit_mod.agreement(rows)
    assert figures["a"]["audio"] == {
        "items": 3,
        "agree": 1,
        "disagree": 1,
        "unparseable": 1,
        "agreement": 0.5,
        "agreement_same_prompt": 1.0,
        "unparseable_share": 0.3333,
    }
    assert (
        figures["b"]["silence"]["agreement"] == 0.0
        and figures["b"]["silence"]["agreement_same_prompt"] == 1.0
    )
    only_unparsed = audit_mod.agreement([row("c", "audio", 1, 1, None)])["c"]["audio"]
    assert only_unparsed["agreement"] is None and only_unparsed["unparseable"] == 1


# ------------------------------------------------------------------------------- the demo panel, real models
@pytest.mark.slow
def test_audit_on_the_demo_panel_through_the_cli(tmp_path):
    """The tiny panel (three random models, like pipelines/panels/tiny.yaml): their replies are noise, so
    only the mechanics are checked: every figure recounts from the audit table and the votes."""
    pytest.importorskip("transformers")
    from typer.testing import CliRunner

    from adqa_data.cli import app
    from adqa_data.testing.data import write_demo

    runner = CliRunner()
    ws = Workspace(tmp_path / "w")
    dl.download(ws, from_dir=write_demo(tmp_path / "demo", n_clips=6)["audiomcq"])
    built = runner.invoke(app, ["demo-models", str(tmp_path / "models")])
    assert built.exit_code == 0, built.output
    args = ["filter", "--panel", str(tmp_path / "models" / "panel.yaml"), "-w", str(ws.root), "--json"]
    args += ["--silence-seconds", "5", "--device", "cpu", "--audit", "3", "--max-new-tokens", "8", "-k", "2"]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    audit = report["audit"]
    assert (audit["items"], audit["requested"], audit["members_generated"]) == (3, 3, 3)
    assert "warnings" in report and all(w["warning"] == "low_letter_mass" for w in report["warnings"])
    for member, figures in audit["members"].items():
        assert figures["mode"] == "letters"
        rows = ws.read(FILTER_AUDIT, "audiomcq", member).to_pylist()
        assert len(rows) == 6 and len({r["item_id"] for r in rows}) == 3
        for cond in ("audio", "silence"):
            mine = [r for r in rows if r["condition"] == cond]
            parsed = [r for r in mine if r["generated_index"] is not None]
            agree = sum(r["vote_index"] == r["generated_index"] for r in parsed)
            f = figures[cond]
            assert (f["items"], f["unparseable"], f["agree"]) == (3, 3 - len(parsed), agree)
            assert f["agreement"] == (round(agree / len(parsed), 4) if parsed else None)
        # the vote compared is the one the split uses: the permutation average of this member's votes
        votes = ws.read(VOTES, "audiomcq", member, "audio").to_pylist()
        for r in (r for r in rows if r["condition"] == "audio"):
            probs = np.mean([v["option_probs"] for v in votes if v["item_id"] == r["item_id"]], axis=0)
            top = np.flatnonzero(probs >= probs.max() - 1e-6)
            assert r["vote_index"] == (int(top[0]) if len(top) == 1 else None)
        assert all(0 < v["letter_mass"] <= 1 for v in votes)
    again = runner.invoke(app, args)
    assert again.exit_code == 0
    second = json.loads(again.stdout)
    assert second["up_to_date"] and second["audit"]["members"] == audit["members"]
    shown = runner.invoke(app, [a for a in args if a != "--json"])  # up to date: the stored figures
    assert (
        shown.exit_code == 0 and "audit: vote against the generated answer on 3 random items" in shown.stdout
    )
