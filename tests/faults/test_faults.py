"""Fault injection: hostile and broken inputs, one test per class of fault.

Each class is a way a user's disk, data or config can hurt them: a string that becomes a path, a file
that changed after download, a run that replaces a complete set, one bad row that stops a stage, code
that runs without being asked, a load that silently initialises weights, an error shown as a traceback.
Stages run on the demo data and the model-free scripted backend, so the module stays fast; the tests
that build tiny models are marked slow.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest
from support.faults import N_PROMPTS, assert_clean_error, quarantine_reasons, run_cli, scripted

from adqa_data.audio.clips import AudioError, probe_audio
from adqa_data.core.errors import UserError
from adqa_data.core.schema import ITEM_SCORES, QUARANTINE, ROLLOUTS
from adqa_data.core.workspace import Workspace
from adqa_data.inference.panel import Panel
from adqa_data.inference.scripted import ScriptedBackend
from adqa_data.stages.download import download
from adqa_data.stages.filter import FilterOptions, effective_members, filter_dataset, resolve_panel
from adqa_data.stages.rollout import load_config, rollout
from adqa_data.stages.sample import sample


# ------------------------------------------ helpers (more in tests/support/faults.py and faults/conftest.py)
def scripted_factory(member, device=None):
    return ScriptedBackend()


def panel(*members: dict) -> Panel:
    return Panel(name="p", min_correct=1, members=list(members or [{"name": "m0", "model": "fake/m0"}]))


# ------------------------------------------------------------------- 1. a user string becomes a path
@pytest.mark.parametrize("bad", ["../..", "..", "/tmp/somewhere", "a/b", ".hidden", "x\0y", "n" * 101, ""])
@pytest.mark.parametrize("command", ["download", "sample", "rollout"])
def test_a_name_is_one_safe_path_component_or_a_one_line_error(env, command, bad):
    ws, root = env
    sentinel = ws.root.parent / "keep.txt"
    sentinel.write_text("still here")
    before = sorted(p.relative_to(ws.root) for p in ws.root.rglob("*"))
    args = {
        "download": ["download", "--from-dir", root, "--workers", 1],
        "sample": ["sample", "--n", 2, "--split", "all"],
        "rollout": ["rollout", "--backend", "scripted"],
    }[command]
    code, _, err = run_cli(*args, "-w", ws.root, "--name", bad)
    assert_clean_error(code, err, "--name")
    assert sentinel.read_text() == "still here"
    assert sorted(p.relative_to(ws.root) for p in ws.root.rglob("*") if "locks" not in p.parts) == [
        p for p in before if "locks" not in p.parts
    ]


def test_dataset_prompt_and_member_names_are_checked_too(env):
    ws, _ = env
    code, _, err = run_cli("sample", "-w", ws.root, "--dataset", "../w")
    assert_clean_error(code, err, "--dataset")
    code, _, err = run_cli("rollout", "-w", ws.root, "--backend", "scripted", "--prompts", "../../x")
    assert_clean_error(code, err, "--prompts")
    with pytest.raises(UserError, match="member name"):
        effective_members(panel({"name": "../evil", "model": "fake/m"}), None)


def test_the_delete_routine_refuses_anything_outside_its_own_table(env, tmp_path):
    ws, _ = env
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("x")
    (ws.root / "rollouts" / "audiomcq").mkdir(parents=True)
    link = ws.root / "rollouts" / "audiomcq" / "link"
    link.symlink_to(outside, target_is_directory=True)
    for target in (outside, ws.root / "rollouts" / ".." / "items", link, ws.root / "rollouts"):
        with pytest.raises(UserError, match="refusing to delete"):
            ws.remove_tree(target, "rollouts")
    assert (outside / "precious").exists() and (ws.root / "items").is_dir()


# ------------------------------------------------------------------------ 2. --manifest from anywhere
def test_manifest_resolves_inside_the_dataset_root(env, tmp_path):
    ws, root = env
    outside = tmp_path / "secret.jsonl"
    outside.write_text(
        '{"id": "s", "question": "q", "choices": ["a", "b"], "answer": "a", "audio_path": "x.wav"}\n'
    )
    base = ["download", "--from-dir", root, "--layout", "generic", "--workers", 1, "--name", "g"]
    code, _, err = run_cli(*base, "-w", ws.root, "--manifest", os.path.relpath(outside, root))
    assert_clean_error(code, err, "climbs out")
    (root / "link.jsonl").symlink_to(outside)
    code, _, err = run_cli(*base, "-w", ws.root, "--manifest", "link.jsonl")
    assert_clean_error(code, err, "link")
    assert "g" not in ws.datasets()
    # an absolute path is what the user typed on purpose: read as given (documented)
    code, _, err = run_cli(*base, "-w", ws.root, "--manifest", outside)
    assert code == 0, err
    assert ws.datasets()["g"].layout == "generic"


# ---------------------------------------------------------- 3. audio that changed after download
def _swap_clips(ws: Workspace, root: Path, tmp_path: Path) -> dict[str, str]:
    """Replace one prompt's clip by a link to a file outside the root and another's by other bytes;
    returns what each affected item (prompted or not: items may share a clip) must be quarantined for."""
    from adqa_data.core.schema import PROMPTS

    ids = [r["item_id"] for r in ws.read(PROMPTS, "audiomcq", f"all-{N_PROMPTS}-seed0").to_pylist()]
    items = {r["item_id"]: r for r in ws.items("audiomcq").to_pylist()}
    linked, changed = sorted({items[i]["audio_path"] for i in ids})[:2]
    outside = tmp_path / "elsewhere.wav"
    shutil.copy(root / linked, outside)
    (root / linked).unlink()
    (root / linked).symlink_to(outside)
    with open(root / changed, "ab") as f:
        f.write(b"\0\0")
    reason = {linked: "link_escapes_root", changed: "audio_changed"}
    return {i: reason[r["audio_path"]] for i, r in items.items() if r["audio_path"] in reason}


def test_model_stages_quarantine_a_clip_swapped_or_changed_after_download(env, tmp_path):
    ws, root = env
    expected = _swap_clips(ws, root, tmp_path)
    res = rollout(ws, scripted(), name="r")
    q = quarantine_reasons(ws, "rollout", "r")
    assert q and q == {i: r for i, r in expected.items() if i in q} and len(set(q.values())) == 2
    assert res.groups + len(q) == N_PROMPTS
    assert {r["item_id"] for r in ws.read(ROLLOUTS, "audiomcq", "r").to_pylist()}.isdisjoint(q)
    res = filter_dataset(
        ws, panel(), options=FilterOptions(silence_seconds=1.0), backend_factory=scripted_factory
    )
    assert quarantine_reasons(ws, "filter") == expected
    assert res.items + len(expected) == ws.items("audiomcq").num_rows
    from adqa_data.stages.eval import EvalConfig, evaluate

    res = evaluate(ws, EvalConfig(backend="scripted"), name="e")
    assert quarantine_reasons(ws, "eval", "e") == expected
    assert res.items + len(expected) == ws.items("audiomcq").num_rows


@pytest.mark.slow
def test_train_quarantines_a_clip_swapped_or_changed_after_download(env, tmp_path):
    """GRPO drops the whole group of an item whose clip changed since rollout, SFT the item's row; both
    quarantine it with the reason and train on the rest, and the trainer's own reads are checked too."""
    from collections import Counter

    from adqa_data.stages.rollout.contract import check_groups
    from adqa_data.stages.train import train
    from adqa_data.stages.train.data import load_sft_groups
    from adqa_data.testing.models import build_tiny_qwen2_audio
    from adqa_data.train.config import load_config as train_config

    ws, root = env
    model = str(build_tiny_qwen2_audio(tmp_path / "policy"))
    rollout(ws, scripted(), name="r")
    prompted = {r["item_id"] for r in ws.read(ROLLOUTS, "audiomcq", "r").to_pylist()}
    expected = _swap_clips(ws, root, tmp_path)
    settings = {"model": model, "max_steps": 1, "micro_batch_groups": 2, "warmup_ratio": 0.0}
    # scripted rollouts store no sampler log-probs: the ratio's denominator is recomputed
    res = train(ws, train_config(None, old_logp="recompute", beta=0.0, **settings), name="g")
    q = quarantine_reasons(ws, "train", "g")
    assert q == {i: r for i, r in expected.items() if i in prompted} and len(set(q.values())) == 2
    assert res.groups + len(q) == N_PROMPTS and res.steps == 1
    assert res.summary["quarantined"] == dict(Counter(q.values()))
    res = train(ws, train_config(None, method="sft", split="all", **settings), name="s")
    assert quarantine_reasons(ws, "train", "s") == expected
    assert res.groups + len(expected) == ws.items("audiomcq").num_rows and res.steps == 1
    # a clip that changes after the checks stops the run at its read, with the reason
    groups = load_sft_groups(ws, "audiomcq", "all")
    kept, _ = check_groups(ws, "audiomcq", groups)
    for g in groups:
        if g.item_id in expected:
            with pytest.raises(UserError, match=expected[g.item_id]):
                g.load_audio(16000)
    assert kept[0].load_audio(16000).size > 0
    with open(root / kept[0].audio_path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(UserError, match="audio_changed"):
        kept[0].load_audio(16000)


# ------------------------------------------------- 4. a new run replaces a complete set too early
def test_distinct_settings_get_distinct_default_names(env):
    ws, _ = env
    a = rollout(ws, scripted())
    b = rollout(ws, scripted(temperature=0.7))
    c = rollout(ws, scripted(rewards={"correctness": 1.0}))
    assert len({a.name, b.name, c.name}) == 3 and not b.up_to_date and not c.up_to_date
    assert ws.read(ROLLOUTS, "audiomcq", a.name).num_rows == 4 * N_PROMPTS  # the first set is still there
    s1 = sample(ws, n=2, split="all", weights="uniform")
    s2 = sample(ws, n=2, split="all", weights="sound=2,music=1,temporal=1")
    assert s1.name != s2.name


def test_a_failing_run_never_costs_the_complete_set_it_would_replace(env, monkeypatch):
    ws, _ = env
    first = rollout(ws, scripted(), name="keep")
    before = ws.read(ROLLOUTS, "audiomcq", "keep").to_pylist()
    with pytest.raises(UserError, match="other settings"):  # same name, other settings: refused
        rollout(ws, scripted(temperature=0.5), name="keep")
    calls = {"n": 0}
    real = ScriptedBackend.generate

    def fail_on_second_shard(self, queries, sampling):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the machine fell over")
        return real(self, queries, sampling)

    monkeypatch.setattr(ScriptedBackend, "generate", fail_on_second_shard)
    with pytest.raises(RuntimeError, match="fell over"):
        rollout(ws, scripted(temperature=0.5), name="keep", force=True)
    assert ws.read(ROLLOUTS, "audiomcq", "keep").to_pylist() == before
    record = ws.provenance("rollout", "audiomcq", "keep")
    assert record["status"] == "complete" and record["config"]["temperature"] == 1.0
    assert first.name in record["config"]["name"]
    monkeypatch.setattr(ScriptedBackend, "generate", real)
    again = rollout(ws, scripted(temperature=0.5), name="keep", force=True)  # completes, then replaces
    assert again.rows == 4 * N_PROMPTS and not again.up_to_date
    assert ws.provenance("rollout", "audiomcq", "keep")["config"]["temperature"] == 0.5


def test_a_failing_filter_run_keeps_the_previous_scores(env):
    ws, _ = env
    filter_dataset(ws, panel(), options=FilterOptions(silence_seconds=1.0), backend_factory=scripted_factory)
    before = ws.read(ITEM_SCORES, "audiomcq").to_pylist()

    def broken(member, device=None):
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        filter_dataset(
            ws, panel(), options=FilterOptions(silence_seconds=1.0, permutations=2), backend_factory=broken
        )
    assert ws.read(ITEM_SCORES, "audiomcq").to_pylist() == before
    assert ws.provenance("filter", "audiomcq")["status"] == "complete"


# ------------------------------------------------------------------- 5. one bad row stops a stage
def _sparse_wav(path: Path, size: int = 1 << 30) -> None:
    """A WAV header declaring `size` bytes of 16 kHz mono PCM, the file sparse (no disk used)."""
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    with open(path, "wb") as f:
        f.write(
            b"RIFF" + struct.pack("<I", size - 8) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", size - 44)
        )
        f.truncate(size)


def test_one_bad_row_never_stops_download(env, tmp_path):
    _, root = env
    lines = (root / "data.jsonl").read_bytes().splitlines()
    good = json.loads(lines[0])
    os.mkfifo(root / "fifo.wav")
    _sparse_wav(root / "huge.wav")
    bad = {
        "nul": json.dumps({**good, "id": "nul", "audio_path": "AudioCaps/a\u0000.wav"}).encode(),
        "latin1": json.dumps({**good, "id": "latin1"})
        .encode()
        .replace(b'"question": "', b'"question": "caf\xe9 '),
        "options": json.dumps(
            {**good, "id": "options", "choices": [f"o{i}" for i in range(30)], "answer": "o3"}
        ).encode(),
        "text": json.dumps({**good, "id": "text", "question": "x" * 200_000}).encode(),
        "fifo": json.dumps({**good, "id": "fifo", "audio_path": "fifo.wav"}).encode(),
        "huge": json.dumps({**good, "id": "huge", "audio_path": "huge.wav"}).encode(),
        "surrogate": json.dumps({**good, "id": "surrogate"})
        .encode()
        .replace(b'"question": "', b'"question": "\\ud800'),
    }
    (root / "data.jsonl").write_bytes(b"\n".join([*lines, *bad.values()]) + b"\n")
    ws = Workspace(tmp_path / "fresh")
    result: dict = {}
    worker = threading.Thread(
        target=lambda: result.update(r=download(ws, from_dir=root, workers=1)), daemon=True
    )
    worker.start()
    worker.join(120)  # a FIFO must not block the probe
    assert not worker.is_alive(), "download hung"
    res = result["r"]
    assert res.items + res.quarantined == res.input_rows == len(lines) + len(bad)
    q = {r["row_index"]: r["reason"] for r in ws.read(QUARANTINE, "audiomcq", "download").to_pylist()}
    reasons = [q.get(len(lines) + i) for i in range(len(bad))]
    assert reasons == [
        "bad_field",
        "invalid_json",
        "too_many_choices",
        "text_too_long",
        "audio_not_a_file",
        "audio_too_long",
        "bad_field",
    ]


def test_probing_streams_a_huge_file_in_bounded_memory(tmp_path):
    _sparse_wav(tmp_path / "huge.wav")
    tracemalloc.start()
    try:
        with pytest.raises(AudioError) as e:
            probe_audio(tmp_path / "huge.wav", max_seconds=600)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.reason == "audio_too_long"
    assert peak < 64 << 20  # one block, not the 1 GiB file


def test_model_stages_quarantine_prompts_over_the_token_cap(env):
    ws, root = env
    from adqa_data.testing.data import write_demo

    long_root = write_demo(root.parent.parent / "long", n_clips=3)["audiomcq"]
    rows = [json.loads(x) for x in (long_root / "data.jsonl").read_text().splitlines()]
    rows[0]["question"] = "describe " * 600  # 5,400 characters: within download's text limit
    (long_root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    download(ws, from_dir=long_root, name="long", workers=1)
    sample(ws, dataset="long", n=len(rows), split="all")
    res = rollout(ws, scripted(max_prompt_tokens=1000), dataset="long", name="r")
    assert quarantine_reasons_of(ws, "long", "rollout", "r") == {rows[0]["id"]: "prompt_too_long"}
    assert res.groups + 1 == len(rows)
    res = filter_dataset(
        ws,
        panel(),
        dataset="long",
        backend_factory=scripted_factory,
        options=FilterOptions(silence_seconds=1.0, max_prompt_tokens=1000),
    )
    assert quarantine_reasons_of(ws, "long", "filter") == {rows[0]["id"]: "prompt_too_long"}
    assert res.items + 1 == len(rows)


def quarantine_reasons_of(ws: Workspace, dataset: str, *sub: str) -> dict[str, str]:
    return {r["item_id"]: r["reason"] for r in ws.read(QUARANTINE, dataset, *sub).to_pylist()}


# --------------------------------------------------------------- 6. code that runs without being asked
def test_remote_code_needs_the_command_line_and_a_pinned_commit(tmp_path):
    needs = {"name": "m", "model": "org/model", "trust_remote_code": True}
    with pytest.raises(UserError, match="off by default") as e:
        effective_members(panel(needs), None)
    assert "--trust-remote-code" in e.value.fix
    with pytest.raises(UserError, match="pinned commit"):
        effective_members(panel(needs), None, trust_remote_code=True)
    pinned = effective_members(panel({**needs, "revision": "a" * 40}), None, trust_remote_code=True)
    assert pinned[0].trust_remote_code
    plain = effective_members(panel({"name": "m", "model": "org/model"}), None, trust_remote_code=True)
    assert not plain[0].trust_remote_code  # allowing is not asking: only members that need it get it
    # the built-in panel pins the one member that needs it, and runs it only when allowed
    with pytest.raises(UserError, match="kimi-audio"):
        effective_members(resolve_panel("audiomcq"), None)
    assert [m.trust_remote_code for m in effective_members(resolve_panel("audiomcq"), None, True)] == [
        False,
        False,
        True,
    ]
    # a rollout config file cannot allow it; nor can backend options
    cfg = tmp_path / "r.yaml"
    cfg.write_text("backend: transformers\ntrust_remote_code: true\n")
    with pytest.raises(UserError, match="command line"):
        load_config(cfg)
    with pytest.raises(UserError, match="backend options"):
        load_config(None, backend_options={"trust_remote_code": True})
    assert load_config(None, trust_remote_code=True).trust_remote_code


def test_a_reward_plugin_must_have_the_reward_signature_before_any_work(env):
    ws, _ = env
    for plugin in ("os:system", "collections:Counter", "os:sep"):
        code, _, err = run_cli(
            "rollout", "-w", ws.root, "--backend", "scripted", "--reward", f"{plugin}=1", "--name", "p"
        )
        assert_clean_error(code, err, plugin)
    assert not (ws.root / "rollouts").exists()


# ------------------------------------------------------------------------- 7. silently wrong results
def test_a_codec_folder_of_another_model_type_is_refused_naming_it(tmp_path):
    from adqa_data.codecs import resolve_codec

    other = tmp_path / "qwen2-audio"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "qwen2_audio"}))
    with pytest.raises(UserError) as e:
        resolve_codec(f"mimi:{other}")
    assert str(other) in e.value.what


def _drop_one_weight(folder: Path) -> str:
    from safetensors.torch import load_file, save_file

    (path,) = sorted(folder.glob("*.safetensors"))
    tensors = load_file(str(path))
    dropped = sorted(tensors)[len(tensors) // 2]
    del tensors[dropped]
    save_file(tensors, str(path), metadata={"format": "pt"})
    return dropped


@pytest.mark.slow
def test_codec_and_model_loads_are_strict(tmp_path):
    from adqa_data.codecs import load_codec, resolve_codec
    from adqa_data.codecs.registry import clear_loaded
    from adqa_data.inference.transformers_backend import TransformersBackend
    from adqa_data.testing.codecs import build_tiny_codec
    from adqa_data.testing.models import build_demo_models

    codec = build_tiny_codec("mimi", tmp_path / "codec")
    _drop_one_weight(codec)
    clear_loaded()
    with pytest.raises(UserError, match="missing") as e:
        load_codec(resolve_codec(f"mimi:{codec}"))
    assert str(codec) in e.value.what
    model = build_demo_models(tmp_path / "models")["qwen2-audio-s0"]
    _drop_one_weight(Path(model))
    with pytest.raises(UserError, match="missing") as e:
        TransformersBackend(model)
    assert str(model) in e.value.what


# ------------------------------------------------------------------ 8. clear errors, not tracebacks
def test_a_read_only_workspace_reruns_up_to_date_and_reports_work_it_cannot_do(env, tmp_path):
    ws, root = env
    download(ws, from_dir=root, workers=1)  # the copy's root moved: bring it up to date while writable
    py = [sys.executable, "-m", "adqa_data"]
    steps = [
        [*py, "download", "--from-dir", str(root), "-w", str(ws.root), "--workers", "1"],
        [*py, "sample", "--n", str(N_PROMPTS), "--split", "all", "-w", str(ws.root)],
        [*py, "info", "-w", str(ws.root), "--json"],
        [*py, "sample", "--n", "2", "--split", "all", "-w", str(ws.root)],  # new work: a clean error
    ]
    script = (
        " && ".join(" ".join(f"'{a}'" for a in s) for s in steps[:3])
        + "; "
        + " ".join(f"'{a}'" for a in steps[3])
    )
    script += "; echo rc=$?"
    if os.geteuid() != 0:
        for p in [ws.root, *ws.root.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        cmd = ["sh", "-c", script]
    elif (
        shutil.which("unshare")
        and subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0
    ):
        cmd = ["unshare", "-rm", "sh", "-c", f"mount --bind -o ro '{ws.root}' '{ws.root}' && {script}"]
    else:
        pytest.skip("no way to make a read-only folder here (root without user namespaces)")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    finally:
        for p in [ws.root, *ws.root.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("up to date") == 2 and '"items"' in proc.stdout, proc.stderr
    assert "read-only" in proc.stderr and "rc=1" in proc.stdout  # the system: exit 1, as the README says


def test_paths_that_are_files_and_missing_workspaces(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert_clean_error(*run_cli("info", "-w", afile)[::2], "is a file")
    code, _, err = run_cli("demo-data", afile / "sub")
    assert_clean_error(code, err, exit_code=1)
    assert_clean_error(*run_cli("info", "-w", tmp_path / "nonexistent")[::2], "does not exist")


def test_corrupt_registry_provenance_and_shards_name_the_file_and_the_repair(env):
    ws, root = env
    reg = ws.root / "datasets.json"
    good = reg.read_bytes()
    reg.write_text("{not json")
    assert_clean_error(*run_cli("info", "-w", ws.root)[::2], str(reg), "fix:")
    reg.write_bytes(good)
    prov = ws.provenance_path("sample", "audiomcq", f"all-{N_PROMPTS}-seed0")
    prov.write_text("{")
    code, _, err = run_cli("sample", "--n", N_PROMPTS, "--split", "all", "-w", ws.root)
    assert_clean_error(code, err, str(prov), "--force")
    assert (
        run_cli("sample", "--n", N_PROMPTS, "--split", "all", "-w", ws.root, "--force")[0] == 0
    )  # the repair
    shard = ws.table_dir("items", "audiomcq") / "part-00000.parquet"
    shard.write_bytes(b"PAR1 garbage")
    assert_clean_error(*run_cli("info", "-w", ws.root)[::2], str(shard), "--force")


def test_a_panel_model_that_does_not_exist_is_one_line_before_any_load(env, tmp_path):
    ws, _ = env
    p = tmp_path / "panel.yaml"
    p.write_text(
        "name: p\nmin_correct: 1\nmembers:\n  - {name: a, model: ./no-such-model, family: qwen2_audio}\n"
    )
    assert_clean_error(*run_cli("filter", "-w", ws.root, "--panel", p)[::2], "does not exist")
    p.write_text("name: p\nmin_correct: 1\nmembers:\n  - {name: a, model: nobody/no-such-model}\n")
    assert_clean_error(*run_cli("filter", "-w", ws.root, "--panel", p)[::2], "HF_HUB_OFFLINE")


def test_disk_full_and_unexpected_errors_are_one_line_tracebacks_only_on_request(env, monkeypatch):
    ws, _ = env
    import adqa_data.core.workspace as workspace

    def full(path, table, spec):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(workspace, "write_table_atomic", full)
    code, _, err = run_cli("sample", "--n", 2, "--split", "all", "-w", ws.root, "--name", "full")
    assert_clean_error(code, err, "no space left", "rerun", exit_code=1)
    assert len([line for line in err.splitlines() if line.strip()]) <= 3

    def bug(*a, **k):
        raise KeyError("surprise")

    monkeypatch.setattr(workspace, "write_table_atomic", bug)
    code, _, err = run_cli("sample", "--n", 2, "--split", "all", "-w", ws.root, "--name", "bug")
    assert_clean_error(code, err, "KeyError", "--debug", exit_code=1)
    monkeypatch.setenv("ADQA_DEBUG", "0")  # restored after the test: --debug sets it
    with pytest.raises(KeyError):
        run_cli("--debug", "sample", "--n", 2, "--split", "all", "-w", ws.root, "--name", "bug")


def test_small_option_faults(env, tmp_path):
    ws, _ = env
    code, _, err = run_cli("encode", "-w", ws.root, "-n", 0)
    assert_clean_error(code, err, "--num-codebooks")
    from adqa_data.codecs import resolve_codec

    with pytest.raises(UserError, match="HF_HUB_OFFLINE"):  # an unknown hub codec fails at once offline
        resolve_codec("mimi:nobody/no-such-codec")
    code, _, err = run_cli(
        "rollout",
        "-w",
        ws.root,
        "--backend",
        "scripted",
        "--k",
        1,
        "--reward",
        "correctness=1",
        "--reward",
        "format=-0.5",
        "--name",
        "w",
    )
    assert code == 0 and "--k 1" in err and "negative weight" in err
    style = tmp_path / "style.yaml"
    style.write_text(
        'name: mine\nuser: "{question}\\n{options}\\nAnswer with the letter."\nletter_first: true\n'
    )
    code, out, err = run_cli(
        "rollout", "-w", ws.root, "--backend", "scripted", "--prompt-style", style, "--json"
    )
    assert code == 0, err
    assert (
        "Answer with the letter."
        in ws.read(ROLLOUTS, "audiomcq", json.loads(out)["name"]).to_pylist()[0]["prompt"]
    )


def test_pipeline_steps_are_type_checked_before_the_first_runs(tmp_path):
    for bad in ("n: [1, 2]", "n: true", "force: yes_please", "n: abc"):
        p = tmp_path / "p.yaml"
        p.write_text(
            f"workspace: {tmp_path / 'w'}\nsteps:\n  - demo-data: {{out: {tmp_path / 'demo'}}}\n"
            f"  - sample: {{{bad}}}\n"
        )
        code, _, err = run_cli("run", p)
        assert_clean_error(code, err, "step 2")
        assert not (tmp_path / "demo").exists(), bad  # nothing ran
    p.write_text(f"workspace: {tmp_path / 'w'}\nengine: ray\nsteps:\n  - sample: {{n: 2}}\n")
    code, _, err = run_cli("run", p, "--dry-run")
    assert code == 0 and "does not apply to sample" in err


def test_pipeline_paths_follow_one_rule_relative_to_the_working_directory(template, tmp_path, monkeypatch):
    pipes, cwd = tmp_path / "pipes", tmp_path / "cwd"
    pipes.mkdir()
    cwd.mkdir()
    shutil.copytree(template / "data" / "audiomcq", cwd / "data")
    (pipes / "p.yaml").write_text("workspace: w\nsteps:\n  - download: {from_dir: data, workers: 1}\n")
    monkeypatch.chdir(cwd)
    code, _, err = run_cli("run", pipes / "p.yaml")
    assert code == 0, err
    assert (cwd / "w" / "datasets.json").is_file() and not (pipes / "w").exists()
