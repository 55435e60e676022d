"""YAML settings files -> pydantic models: every failure is one line naming the file, the key and a fix."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field

from adqa_data.core.config_files import load_yaml_model
from adqa_data.core.errors import UserError


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int = Field(4, ge=1)
    name: str = "x"
    nested: dict[str, float] = Field(default_factory=dict)


def _load(tmp_path, text: str | None, **overrides):
    p = tmp_path / "s.yaml"
    if text is not None:
        p.write_text(text)
    return load_yaml_model(p, Settings, "settings file", fix="see the docs", overrides=overrides)


def test_valid_file_and_overrides(tmp_path):
    assert _load(tmp_path, "k: 3\nname: a\n") == Settings(k=3, name="a")
    assert _load(tmp_path, "k: 3\n", k=5, name=None) == Settings(k=5)  # None overrides are ignored
    assert _load(tmp_path, "") == Settings()  # an empty file is the defaults


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "no such settings file"),
        ("k: [1\n", "settings file is not valid YAML"),
        ("- 1\n- 2\n", "must be a mapping of settings, not a list"),
        ("kk: 3\n", "settings file: kk: unknown key"),
        ("k: 0\n", "settings file: k: Input should be greater than or equal to 1"),
        ("nested: {a: high}\n", "settings file: nested.a: "),
        ("k: 0\nkk: 1\n", "(and 1 more problem)"),
    ],
)
def test_each_failure_is_one_user_error_with_file_key_and_fix(tmp_path, text, message):
    with pytest.raises(UserError) as e:
        _load(tmp_path, text)
    assert message in e.value.what and "\n" not in e.value.what
    assert e.value.fix == "see the docs"
    if text is not None:
        assert e.value.where == str(tmp_path / "s.yaml")


def test_settings_without_a_file_are_the_defaults_with_overrides():
    from adqa_data.core.config_files import load_settings

    assert load_settings(None, Settings, "settings", overrides={"k": 2, "name": None}) == Settings(k=2)
    with pytest.raises(UserError, match="settings: kk: unknown key"):
        load_settings(None, Settings, "settings", overrides={"kk": 2})
