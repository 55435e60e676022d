"""Red-team cases for `adqa-data demo-models OUT`: the recorded recipe (OUT/recipe.json), the "already built"
no-op rerun, and the refusal (one `error:` line plus a `fix:` line, no traceback, nothing in OUT touched) of
a folder built by other options or holding models with a missing / corrupt / huge / non-object / unreadable
recipe. A finished `--priors` folder is faked from a plain build with the story recipe written in."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from support.faults import run_cli


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "built"
    code, stdout, err = run_cli("demo-models", out, "--size", "tiny")
    assert code == 0, err
    assert (out / "panel.yaml").is_file() and (out / "codec-mimi" / "config.json").is_file()
    return out


def _copy(built: Path, tmp_path: Path) -> Path:
    out = tmp_path / "m"
    shutil.copytree(built, out, symlinks=True)
    return out


def _snapshot(out: Path) -> dict:
    snap = {}
    for p in sorted(out.rglob("*")):
        rel = str(p.relative_to(out))
        if p.is_symlink():
            snap[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            st = p.stat()
            snap[rel] = ("dir", st.st_mtime_ns)
        elif not p.is_file():
            st = p.stat()
            snap[rel] = ("special", st.st_mtime_ns)
        else:
            st = p.stat()
            h = hashlib.sha256(p.read_bytes()).hexdigest() if st.st_size < 64 << 20 else None
            snap[rel] = ("file", st.st_mtime_ns, st.st_size, h)
    snap["."] = ("dir", out.stat().st_mtime_ns)
    return snap


def _assert_refused(code: int, err: str) -> None:
    assert code != 0, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.lstrip().startswith("error:")]
    fixes = [ln for ln in lines if ln.lstrip().startswith("fix:")]
    assert len(errors) == 1, f"want exactly one error: line, got {errors!r}; stderr={err!r}"
    assert len(fixes) >= 1, f"no fix: line; stderr={err!r}"


def _refuse_untouched(out: Path, *args: object) -> str:
    before = _snapshot(out)
    code, _, err = run_cli("demo-models", out, *args)
    _assert_refused(code, err)
    assert _snapshot(out) == before, "a refused run touched files in OUT"
    return err


# ------------------------------------------------------------------------------------------ the record
def test_recipe_recorded(built):
    assert json.loads((built / "recipe.json").read_text()) == {"models": "random", "size": "tiny"}


def test_same_options_rerun_is_a_noop(built, tmp_path):
    out = _copy(built, tmp_path)
    before = _snapshot(out)
    code, stdout, err = run_cli("demo-models", out, "--size", "tiny")
    assert code == 0, err
    assert "already built" in stdout + err
    assert _snapshot(out) == before


def test_default_size_equals_explicit_tiny(built, tmp_path):
    out = _copy(built, tmp_path)
    before = _snapshot(out)
    code, stdout, err = run_cli("demo-models", out)
    assert code == 0 and "already built" in stdout + err, err
    assert _snapshot(out) == before


def test_rerun_through_a_relative_path(built, tmp_path, monkeypatch):
    out = _copy(built, tmp_path)
    before = _snapshot(out)
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_cli("demo-models", "m")
    assert code == 0 and "already built" in stdout + err, err
    assert _snapshot(out) == before


def test_rerun_with_json_prints_one_json_object(built, tmp_path):
    out = _copy(built, tmp_path)
    before = _snapshot(out)
    code, stdout, err = run_cli("demo-models", out, "--json")
    assert code == 0, err
    json.loads(stdout)  # --json: one JSON object on stdout, also for the no-op
    assert _snapshot(out) == before


# ------------------------------------------------------------------------------------ other options
def test_bench_on_a_tiny_folder_is_refused(built, tmp_path):
    _refuse_untouched(_copy(built, tmp_path), "--size", "bench")


def test_priors_on_a_tiny_folder_is_refused(built, tmp_path):
    _refuse_untouched(_copy(built, tmp_path), "--priors")


def test_priors_bench_on_a_tiny_folder_is_refused(built, tmp_path):
    _refuse_untouched(_copy(built, tmp_path), "--priors", "--size", "bench")


def test_tiny_on_a_bench_recipe_is_refused(built, tmp_path):
    out = _copy(built, tmp_path)
    (out / "recipe.json").write_text(json.dumps({"models": "random", "size": "bench"}, indent=2) + "\n")
    _refuse_untouched(out, "--size", "tiny")


def _fake_priors(built: Path, tmp_path: Path) -> Path:
    from adqa_data.demo.prior_panel import recipe

    out = _copy(built, tmp_path)
    (out / "recipe.json").write_text(json.dumps(recipe(), indent=2) + "\n")
    return out


def test_plain_on_a_priors_folder_is_refused(built, tmp_path):
    _refuse_untouched(_fake_priors(built, tmp_path))


def test_bench_on_a_priors_folder_is_refused(built, tmp_path):
    _refuse_untouched(_fake_priors(built, tmp_path), "--size", "bench")


def test_priors_rerun_on_a_priors_folder_is_a_noop(built, tmp_path):
    out = _fake_priors(built, tmp_path)
    before = _snapshot(out)
    code, stdout, err = run_cli("demo-models", out, "--priors")
    assert code == 0 and "already built" in stdout + err, err
    assert _snapshot(out) == before


def test_older_priors_recipe_is_refused(built, tmp_path):
    """A story folder from an older recipe (other steps) is another recipe: refused, not reused."""
    from adqa_data.demo.prior_panel import recipe

    out = _copy(built, tmp_path)
    old = dict(recipe(), steps=recipe()["steps"] + 1)
    (out / "recipe.json").write_text(json.dumps(old))
    _refuse_untouched(out, "--priors")


def test_recipe_with_an_extra_key_is_refused(built, tmp_path):
    out = _copy(built, tmp_path)
    (out / "recipe.json").write_text(json.dumps({"models": "random", "size": "tiny", "x": 1}))
    _refuse_untouched(out)


# ------------------------------------------------------------------------------------ bad recipe files
def test_missing_recipe_is_refused(built, tmp_path):
    out = _copy(built, tmp_path)
    (out / "recipe.json").unlink()
    _refuse_untouched(out)


def test_missing_recipe_is_refused_for_priors(built, tmp_path):
    out = _copy(built, tmp_path)
    (out / "recipe.json").unlink()
    _refuse_untouched(out, "--priors")


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"\x00\x01\x02", b'\xff\xfe{"models": 1}', b'{"models": "random", "size": "tiny"'],
    ids=["garbage", "empty", "binary", "bad-utf8", "truncated"],
)
def test_corrupt_recipe_is_refused(built, tmp_path, content):
    out = _copy(built, tmp_path)
    (out / "recipe.json").write_bytes(content)
    _refuse_untouched(out)


@pytest.mark.parametrize(
    "value",
    ['["random", "tiny"]', '"tiny"', "null", "42", "true", '[{"models": "random", "size": "tiny"}]'],
    ids=["list", "string", "null", "number", "bool", "list-of-recipe"],
)
def test_non_object_recipe_is_refused(built, tmp_path, value):
    out = _copy(built, tmp_path)
    (out / "recipe.json").write_text(value)
    _refuse_untouched(out)


def test_non_object_recipe_is_refused_for_priors(built, tmp_path):
    out = _copy(built, tmp_path)
    (out / "recipe.json").write_text("[]")
    _refuse_untouched(out, "--priors")


def test_huge_recipe_is_refused(built, tmp_path):
    out = _copy(built, tmp_path)
    with open(out / "recipe.json", "wb") as f:
        f.write(b'{"models": "random", "size": "tiny", "pad": "')
        f.write(b"x" * (200 << 20))
        f.write(b'"}')
    _refuse_untouched(out)


def test_deeply_nested_recipe_is_refused(built, tmp_path):
    out = _copy(built, tmp_path)
    (out / "recipe.json").write_text("[" * 100_000 + "]" * 100_000)
    _refuse_untouched(out)


def test_recipe_that_is_a_directory_is_refused(built, tmp_path):
    out = _copy(built, tmp_path)
    (out / "recipe.json").unlink()
    (out / "recipe.json").mkdir()
    _refuse_untouched(out)


def test_recipe_that_is_a_dangling_symlink_is_refused(built, tmp_path):
    out = _copy(built, tmp_path)
    (out / "recipe.json").unlink()
    (out / "recipe.json").symlink_to(tmp_path / "nowhere.json")
    _refuse_untouched(out)


def test_recipe_that_is_a_fifo_does_not_hang(built, tmp_path):
    """A FIFO named recipe.json: reading it would block forever; it must be refused as unreadable."""
    import signal

    out = _copy(built, tmp_path)
    (out / "recipe.json").unlink()
    os.mkfifo(out / "recipe.json")

    def boom(*_):
        raise TimeoutError("demo-models hung reading a FIFO recipe.json")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(20)
    try:
        _refuse_untouched(out)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file")
def test_unreadable_recipe_is_refused(built, tmp_path):
    out = _copy(built, tmp_path)
    (out / "recipe.json").chmod(0)
    try:
        _refuse_untouched(out)
    finally:
        (out / "recipe.json").chmod(0o644)


def test_out_is_a_file_is_refused(tmp_path):
    out = tmp_path / "m"
    out.write_text("hello")
    code, _, err = run_cli("demo-models", out)
    _assert_refused(code, err)
    assert out.read_text() == "hello"


def test_unknown_size_is_refused(tmp_path):
    out = tmp_path / "m"
    code, _, err = run_cli("demo-models", out, "--size", "huge")
    assert code != 0 and "Traceback" not in err and "error" in err.lower(), err
    assert not out.exists() or not any(out.iterdir())
