"""`names.safe_name`, the one validator a user string passes before it becomes a path component.

Hostile names are refused with a one-line `UserError` that says why (and exit code 2): climbing out
(`..`), absolute paths, separators of either OS, NUL and other control characters, Unicode lookalikes of
`.` `/` and letters, hidden or option-like names (the workspace's own `.staging`/`.trash` folders start
with a dot), the empty string, non-strings and names over `MAX_NAME_LENGTH`. Plain names pass unchanged,
and every accepted name stays one component directly under its parent. `name_part` and `bounded_name`
turn free text into names the validator accepts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adqa_data.core.errors import UserError
from adqa_data.core.names import MAX_NAME_LENGTH, bounded_name, is_safe_name, name_part, safe_name

GOOD = ["demo", "r1", "AudioMCQ", "qwen2.5-omni", "set_01", "a+b=c", "me@host", "0", "x" * MAX_NAME_LENGTH]

# value -> the reason the message must give
HOSTILE = {
    "..": "path separator|relative path|start with",
    ".": "relative path|start with",
    "../etc": "path separator",
    "../../home/me": "path separator",
    "/etc/passwd": "path separator",
    "/": "path separator",
    "C:\\Windows": "path separator",
    "a\\b": "path separator",
    "a/b": "path separator",
    "a\0b": "NUL",
    "\0": "NUL",
    "": "is empty",
    ".hidden": "start with a letter or a digit",
    ".staging": "start with a letter or a digit",
    ".trash": "start with a letter or a digit",
    "-rf": "start with a letter or a digit",
    "--name": "start with a letter or a digit",
    "_x": "start with a letter or a digit",
    "x" * (MAX_NAME_LENGTH + 1): f"longer than {MAX_NAME_LENGTH}",
    "a b": "outside the allowed set",
    "a\nb": "outside the allowed set",
    "a\tb": "outside the allowed set",
    "a\x7fb": "outside the allowed set",
    "name;rm": "outside the allowed set",
    "$HOME": "start with a letter or a digit",
    "a*": "outside the allowed set",
    "~user": "start with a letter or a digit",
    # Unicode lookalikes: fullwidth/one-dot leaders for `.`, division and fraction slashes for `/`,
    # Cyrillic `а` for Latin `a`, a zero-width space, a right-to-left override
    "\u2024\u2024": "start with a letter or a digit",
    "\uff0e\uff0e": "start with a letter or a digit",
    "a\u2215b": "outside the allowed set",
    "a\u2044b": "outside the allowed set",
    "\u0430dmin": "start with a letter or a digit",
    "dem\u043e": "outside the allowed set",
    "demo\u200b": "outside the allowed set",
    "a\u202eb": "outside the allowed set",
    "\u00e9t\u00e9": "start with a letter or a digit",
    "r\u00e9sum\u00e9": "outside the allowed set",
}


@pytest.mark.parametrize("value", GOOD)
def test_plain_names_pass_unchanged_and_stay_one_component(value, tmp_path):
    assert safe_name(value, "--name") == value and is_safe_name(value)
    joined = (tmp_path / value).resolve()
    assert joined.parent == tmp_path.resolve() and joined.name == value


@pytest.mark.parametrize("value", list(HOSTILE), ids=[ascii(v)[:24] for v in HOSTILE])
def test_hostile_names_are_refused_with_the_reason(value):
    assert not is_safe_name(value)
    with pytest.raises(UserError) as err:
        safe_name(value, "--name")
    e = err.value
    assert e.exit_code == 2 and e.what.startswith("--name ")
    assert any(why in e.what for why in HOSTILE[value].split("|")), e.what
    assert "letters, digits" in (e.fix or "")
    # one line: a control character in the name is shown escaped, never printed raw
    assert "\n" not in e.what and "\0" not in e.what


@pytest.mark.parametrize("value", [None, 7, 1.5, b"demo", ["demo"], Path("demo")])
def test_non_strings_are_refused(value):
    assert not is_safe_name(value)
    with pytest.raises(UserError, match="must be a string"):
        safe_name(value, "dataset name")


def test_a_very_long_name_is_shown_cut():
    with pytest.raises(UserError) as err:
        safe_name("y" * 10_000, "--name")
    assert len(err.value.what) < 300 and "..." in err.value.what


@pytest.mark.parametrize(
    "text",
    [
        "Qwen/Qwen2-Audio-7B-Instruct",
        "/models/my model (v2)/",
        "../../x",
        "..",
        "\0",
        "",
        "é" * 50,
        "a" * 500,
    ],
)
def test_name_part_always_gives_a_safe_name(text):
    part = name_part(text)
    assert is_safe_name(part) and len(part) <= 40
    assert name_part("Qwen/Qwen2-Audio-7B-Instruct") == "Qwen_Qwen2-Audio-7B-Instruct"


def test_bounded_name_stays_within_the_limit_and_keeps_heads_apart():
    assert bounded_name("short", ".r1") == "short.r1"
    long_a, long_b = "a" * 150 + "1", "a" * 150 + "2"
    got_a, got_b = bounded_name(long_a, "-k4"), bounded_name(long_b, "-k4")
    assert got_a != got_b and len(got_a) == len(got_b) == MAX_NAME_LENGTH
    assert got_a.endswith("-k4") and is_safe_name(got_a) and is_safe_name(got_b)
