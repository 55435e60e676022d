"""Options generated from a settings model (`cli.options`): one declaration gives the flag, its type, its
help with the default, and a one-line error naming the flag; the command sees only what was given."""

from __future__ import annotations

from typing import Any, Literal

import pytest
import typer
from pydantic import BaseModel, ConfigDict, Field
from typer.testing import CliRunner

from adqa_data.cli.options import build_settings, settings_options
from adqa_data.core.errors import UserError


class Demo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(3, ge=1, description="optimizer steps")
    mode: Literal["fast", "exact"] = Field("fast", description="how to run")
    verbose: bool = Field(False, description="say more")
    tags: list[str] = Field(default_factory=list, description="labels")
    rewards: dict[str, float] | None = Field(None, description="reward weights")
    learning_rate: float = Field(1e-3, gt=0, description="peak rate", json_schema_extra={"cli": ["--lr"]})


def _app(seen: list[dict[str, Any]]) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @settings_options(Demo)
    def go(settings: dict[str, Any], label: str = "x") -> None:
        seen.append({"label": label, **settings})
        build_settings(Demo, settings, "go")

    @app.command()
    def other() -> None:  # two commands: typer keeps `go` as a subcommand
        pass

    return app


def test_only_given_options_reach_the_command_converted_to_the_field_types():
    seen: list[dict[str, Any]] = []
    args = [
        "go",
        "--steps",
        "5",
        "--verbose",
        "--tags",
        "a",
        "--tags",
        "b",
        "--rewards",
        "fmt=0.5",
        "--lr",
        "0.1",
    ]
    res = CliRunner().invoke(_app(seen), args)
    assert res.exit_code == 0, res.output
    assert seen == [
        {
            "label": "x",
            "steps": 5,
            "verbose": True,
            "tags": ["a", "b"],
            "rewards": {"fmt": "0.5"},
            "learning_rate": 0.1,
        }
    ]
    seen.clear()
    assert CliRunner().invoke(_app(seen), ["go", "--no-verbose"]).exit_code == 0
    assert seen == [{"label": "x", "verbose": False}]  # an unset option is absent, not its default


def test_help_is_the_description_with_choices_and_default():
    res = CliRunner().invoke(_app([]), ["go", "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    out = res.output
    assert "Optimizer steps. Default: 3." in out
    assert "fast | exact" in out and "Default: fast." in out
    assert "--verbose" in out and "--no-verbose" in out
    assert "--lr" in out and "--learning-rate" not in out
    assert "NAME=VALUE, repeatable" in out


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"steps": 0}, "--steps: Input should be greater than or equal to 1"),
        ({"mode": "slow"}, "unknown mode 'slow'"),
        ({"learning_rate": -1.0}, "--lr:"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_flag(settings, needle):
    with pytest.raises(UserError) as e:
        build_settings(Demo, settings, "go")
    assert needle in e.value.what and "\n" not in e.value.what
    assert e.value.fix == "see 'adqa-data go --help'"


def test_a_mapping_value_without_equals_is_a_one_line_error():
    res = CliRunner().invoke(_app([]), ["go", "--rewards", "fmt"])
    assert isinstance(res.exception, UserError) and "NAME=VALUE" in res.exception.what


def test_settings_file_values_are_the_base_and_the_command_line_wins():
    cfg = build_settings(Demo, {"steps": 9}, "go", base={"steps": 2, "mode": "exact"})
    assert (cfg.steps, cfg.mode) == (9, "exact")
