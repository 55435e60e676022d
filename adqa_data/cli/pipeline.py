"""`adqa-data run PIPELINE.yaml`: chain stages with the same options the commands take.

A pipeline is a workspace plus an ordered list of stage steps; each step is exactly one CLI command with
its options written as YAML keys (`from_dir: demo/audiomcq` is `--from-dir demo/audiomcq`), so a
pipeline can do nothing a command cannot, and every step is as resumable as the command itself: rerun
a pipeline after a crash and the finished steps report up to date.

    workspace: adqa-work
    engine: local            # passed to every step that takes --engine
    steps:
      - download: {from_dir: demo/audiomcq}
      - sample: {n: 8, split: all}

Relative paths, the workspace's and the steps' alike, are relative to the directory the pipeline is run
from, exactly as on the command line (a path-or-name option such as `--model org/name` cannot be told
from a relative path, so no other rule could be applied to every option). Every step's options are
checked against its command, types included, before the first step runs. A pipeline file, like a
command line, can run code: reward plugins, `trust_remote_code: true`; read it before running it.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ConfigDict, field_validator

from ..core.errors import UserError
from .app import app

NOT_A_STEP = {"run"}
# commands whose body checks its option values and then calls `app.options_checked()` before any work:
# a pipeline runs each of these up to that call before its first step (tests/faults/test_faults_inputs.py
# checks that each stops there)
VALUE_CHECKED = frozenset(
    {
        "download",
        "encode",
        "filter",
        "sample",
        "rollout",
        "train",
        "eval",
        "export",
        "check-leakage",
        "submit",
        "info",
        "stats",
    }
)


class Pipeline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace: str = "adqa-work"
    engine: str | None = None
    steps: list[dict[str, dict[str, Any] | None]]

    @field_validator("steps")
    @classmethod
    def one_command_per_step(cls, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, step in enumerate(steps):
            if len(step) != 1:
                raise ValueError(f"step {i + 1} must name exactly one command, got {sorted(step)}")
        return steps


def load(path: Path) -> Pipeline:
    from ..core.config_files import load_yaml_model

    return load_yaml_model(
        path, Pipeline, "pipeline file", fix="see adqa-data run --help and pipelines/demo.yaml"
    )


def to_argv(
    command: str,
    options: dict[str, Any] | None,
    params: set[str],
    flags: dict[str, tuple[str, str | None]] | None = None,
) -> list[str]:
    """YAML options -> the command's argv. Booleans become flags, lists repeat the option. `flags`: an
    option's declared (flag, off flag) by parameter name, where they are not `--name` / `--no-name`
    (train's `learning_rate` is `--lr`, `train_audio: false` is `--freeze-audio`)."""
    argv = [command]
    for key, value in (options or {}).items():
        name = key.replace("_", "-")
        if name.lstrip("-") == "out" and "out" in params:  # positional argument (demo-data OUT)
            argv.append(str(value))
            continue
        flag, off = (flags or {}).get(name.lstrip("-").replace("-", "_"), (None, None))
        flag = flag or f"--{name.lstrip('-')}"
        if isinstance(value, bool):
            argv.append(flag if value else off or f"--no-{name.lstrip('-')}")
        elif isinstance(value, list):
            for v in value:
                argv += [flag, str(v)]
        elif isinstance(value, dict):
            for k, v in value.items():
                argv += [flag, f"{k}={v}"]
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def _check_value(where: str, command: str, key: str, value: Any, param: Any) -> None:
    """A YAML value has the shape its option takes: a flag is true/false; a single-value option one
    scalar; a repeatable option a scalar, a list of scalars or (NAME=VALUE options) a mapping."""
    scalar = (str, int, float)
    if value is None:
        return
    if getattr(param, "is_flag", False):
        if not isinstance(value, bool):
            raise UserError(
                f"{where}: {key} is a yes/no flag, not {value!r}", fix=f"write {key}: true or {key}: false"
            )
        return
    if isinstance(value, bool):
        raise UserError(
            f"{where}: {key} takes a value, not {str(value).lower()}", fix=f"run 'adqa-data {command} --help'"
        )
    if getattr(param, "multiple", False):
        items = (
            list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
        )
        if not all(isinstance(v, scalar) and not isinstance(v, bool) for v in items):
            raise UserError(f"{where}: {key} takes plain values, not {value!r}")
        return
    if not isinstance(value, scalar):
        raise UserError(f"{where}: {key} takes one value, not a {type(value).__name__} ({value!r})")


def _by_flag(params: dict[str, Any], key: str) -> Any:
    """The parameter whose option is `--<key>` where that differs from its name (a settings field
    `cache_dir` declared as `--cache` takes the key `cache` too, as the command line does)."""
    flag = f"--{key.replace('_', '-')}"
    return next((p for p in params.values() if flag in getattr(p, "opts", ())), None)


def plan(pipe: Pipeline) -> list[list[str]]:
    """The argv of every step, checked against the commands (names, types, values) before anything runs."""
    from typer.main import get_command

    from ..core.progress import console

    group = get_command(app)  # a click-style group (typer vendors its own click)
    argvs = []
    no_engine: list[str] = []
    for i, step in enumerate(pipe.steps):
        ((command, options),) = step.items()
        cmd = group.commands.get(command)
        if cmd is None or command in NOT_A_STEP:
            known = ", ".join(sorted(set(group.commands) - NOT_A_STEP))
            raise UserError(f"step {i + 1}: unknown command {command!r}", fix=f"use one of: {known}")
        where = f"step {i + 1} ({command})"
        params = {p.name: p for p in cmd.params}
        options = dict(options or {})
        for key, value in options.items():
            param = params.get(key.replace("-", "_")) or _by_flag(params, key)
            if param is None:
                raise UserError(f"{where}: unknown option {key!r}", fix=f"run 'adqa-data {command} --help'")
            _check_value(where, command, key, value, param)
        if "workspace" in params:
            options.setdefault("workspace", pipe.workspace)
        if pipe.engine:
            if "engine" in params:
                options.setdefault("engine", pipe.engine)
            else:
                no_engine.append(command)
        declared = {
            n: (
                next((o for o in p.opts if o.startswith("--")), None),
                next((o for o in getattr(p, "secondary_opts", []) if o.startswith("--")), None),
            )
            for n, p in params.items()
        }
        argv = to_argv(command, options, set(params), declared)
        try:  # parse and convert every value now, as the command would, without running it
            ctx = cmd.make_context(command, argv[1:])
        except Exception as e:  # typer vendors click: match its usage errors by shape
            if hasattr(e, "format_message"):
                raise UserError(
                    f"{where}: {e.format_message()}", fix=f"run 'adqa-data {command} --help'"
                ) from None
            raise
        if command in VALUE_CHECKED:
            check_values(cmd, ctx, where)
        argvs.append(argv)
    if no_engine and pipe.engine != "local":
        names = ", ".join(sorted(set(no_engine)))
        console.print(
            f"note: engine: {pipe.engine} does not apply to {names} (no --engine: they run in-process)",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    return argvs


def check_values(cmd: Any, ctx: Any, where: str) -> None:
    """Run a command's body up to its `options_checked()` call (its settings built and validated, nothing
    read or written): a value it refuses (`split: sometimes`, `loss_type: ppo`) fails here, naming the
    step, before the pipeline's first step runs."""
    from .app import CHECKING_OPTIONS, OptionsChecked

    token = CHECKING_OPTIONS.set(True)
    try:
        with ctx:
            cmd.invoke(ctx)
    except OptionsChecked:
        return
    except UserError as e:
        raise UserError(f"{where}: {e.what}", where=e.where, fix=e.fix) from None
    finally:
        CHECKING_OPTIONS.reset(token)
    raise RuntimeError(f"{where}: the command ran past its option checks in a check pass")


def run(path: Path, dry_run: bool = False) -> list[list[str]]:
    from typer.main import get_command

    from ..core.progress import console

    pipe = load(path)
    argvs = plan(pipe)
    group = get_command(app)
    times: list[tuple[int, str, float, float]] = []
    for i, argv in enumerate(argvs):
        console.rule(f"[bold]step {i + 1}/{len(argvs)}: adqa-data {' '.join(argv)}", align="left")
        if dry_run:
            continue
        wall, cpu = time.perf_counter(), _cpu_seconds()
        try:
            group.main(argv, prog_name="adqa-data", standalone_mode=False)
        except SystemExit as e:
            if e.code:
                raise UserError(f"step {i + 1} ({argv[0]}) exited with code {e.code}") from None
        except UserError:
            raise
        except Exception as e:
            # typer vendors click, so match its Exit / usage errors by shape rather than by class
            if type(e).__name__ == "Exit":
                if getattr(e, "exit_code", 0):
                    raise UserError(f"step {i + 1} ({argv[0]}) exited with code {e.exit_code}") from None
                continue
            if hasattr(e, "format_message"):
                raise UserError(f"step {i + 1} ({argv[0]}): {e.format_message()}") from None
            raise
        finally:
            times.append((i + 1, argv[0], time.perf_counter() - wall, _cpu_seconds() - cpu))
    if times:
        _time_table(times)
    return argvs


def _cpu_seconds() -> float:
    """CPU seconds of this process (every thread) and its finished worker processes: on a shared machine
    the CPU a step used says more about its cost than the wall clock."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _time_table(times: list[tuple[int, str, float, float]]) -> None:
    """Each step's wall and CPU seconds, and the totals: where a pipeline's time goes."""
    from . import render

    rows = [(i, command, round(wall, 1), round(cpu, 1)) for i, command, wall, cpu in times]
    rows.append(("", "total", round(sum(t[2] for t in times), 1), round(sum(t[3] for t in times), 1)))
    render.table("step times", ["step", "command", "wall s", "CPU s"], rows, right=["step"])


@app.command("run")
def run_pipeline(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML: workspace, engine, and a list of steps.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the commands without running them.")
    ] = False,
) -> None:
    """Run a pipeline: each step is one command with its options as YAML keys (see pipelines/demo.yaml).

    Relative paths in the file, the workspace's included, are taken from the current directory, as on the
    command line. Every step is checked before the first runs. Rerunning after a crash skips the finished
    steps (each reports up to date).
    """
    run(pipeline, dry_run=dry_run)
