"""`adqa-data demo-data` / `demo-models`: the offline demo's synthetic data and tiny models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import render
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, print_json


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Argument(help="Folder to write the demo datasets into.")],
    clips: Annotated[
        int | None,
        typer.Option(
            "--clips",
            help="Number of AudioMCQ-layout items (default 24; with --design 576, dev a sixth, eval a twelfth).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    defects: Annotated[
        bool, typer.Option("--defects", help="Also plant one row of every kind download quarantines.")
    ] = False,
    design: Annotated[
        bool,
        typer.Option(
            "--design",
            help="Write the designed sets instead: text-prior items (the question gives the answer away) "
            "mixed with audio-only ones (pitch, timbre), each labelled needs_audio, and the warm start's "
            "format set (the same questions over silence, random gold options).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write small synthetic datasets (tones, noise, clicks) in the AudioMCQ and DCASE 2026 layouts."""
    from ..core.errors import UserError

    if design:
        from ..demo.design import write_designed

        if defects:
            raise UserError(
                "--defects plants rows in the plain demo set only", fix="drop --design or --defects"
            )
        n = 576 if clips is None else clips
        if n < 12:
            raise UserError(f"--clips must be at least 12 with --design, got {n}")
        roots = write_designed(
            out,
            n_audio=(2 * n) // 3,
            n_text=n - (2 * n) // 3,
            n_dev=max(12, n // 6),
            n_eval=max(12, n // 12),
            seed=seed,
        )
    else:
        from ..testing.data import write_demo

        roots = write_demo(out, n_clips=24 if clips is None else clips, seed=seed, defects=defects)
    if as_json:
        print_json({"datasets": roots})
        return
    render.table("demo datasets", ["layout", "root"], list(roots.items()))
    render.log(f"next: adqa-data download --from-dir {roots['audiomcq']} --workspace adqa-work")


@app.command("demo-models")
def demo_models(
    out: Annotated[Path, typer.Argument(help="Folder for the tiny models and their panel.yaml.")],
    size: Annotated[
        str, typer.Option("--size", help="tiny (tests, seconds) or bench (>=20M parameters).")
    ] = "tiny",
    priors: Annotated[
        bool,
        typer.Option(
            "--priors",
            help="Build the story demo's models instead: a random policy (policy-init, 2 s audio window) and "
            "a panel of tiny Qwen2-Audio fine-tuned on question text only (prior-s0..2), which answer what "
            "a question gives away and refuse the rest.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build random-weight tiny LALMs offline (two Qwen2-Audio, one Qwen2.5-Omni thinker), a panel.yaml
    naming them, and a tiny Mimi codec (OUT/codec-mimi, use with --codec mimi:OUT/codec-mimi), so encode,
    filter and rollout run end to end with no model hub. Their answers and codes are noise."""
    import yaml

    from ..core.atomic_files import write_json_atomic
    from ..core.errors import UserError
    from ..demo.prior_panel import recipe as story_recipe
    from ..testing.codecs import build_tiny_codec
    from ..testing.models import build_demo_models

    codec, panel_file, recipe_file = out / "codec-mimi", out / "panel.yaml", out / "recipe.json"
    recipe = story_recipe() if priors else {"models": "random", "size": size}
    paths: dict[str, Path] = {}
    if panel_file.is_file() and (codec / "config.json").is_file():
        # rebuilding would rewrite the weights and make every later stage's input look new; a folder built
        # by another recipe (other options, an older adqa-data) is refused, never silently reused
        built = _recorded_recipe(recipe_file)
        if built != recipe:
            if built is None:
                why = "none recorded"
            elif built.get("models") != recipe["models"]:
                why = f"{built.get('models')!r} models there, {recipe['models']!r} asked"
            else:
                keys = sorted(set(built) | set(recipe))
                why = "; ".join(
                    f"{k} {built.get(k)!r} there, {recipe.get(k)!r} asked"
                    for k in keys
                    if built.get(k) != recipe.get(k)
                )
            raise UserError(
                f"{out} holds demo models built by another recipe ({why})",
                fix=f"delete {out} to rebuild it, or choose another folder",
            )
        render.log(f"already built: {out} (delete it to rebuild)")
    elif priors:
        from ..demo.prior_panel import build_story_models, story_panel

        paths = build_story_models(out)
        codec = build_tiny_codec("mimi", codec)
        write_json_atomic(recipe_file, recipe)  # before panel.yaml, the mark of a finished build
        panel_file.write_text(yaml.safe_dump(story_panel(paths), sort_keys=False))
    else:
        paths = build_demo_models(out, size=size)
        codec = build_tiny_codec("mimi", codec)
        write_json_atomic(recipe_file, recipe)  # before panel.yaml, the mark of a finished build
        families = {
            "qwen2-audio-s0": "qwen2_audio",
            "qwen2-audio-s1": "qwen2_audio",
            "qwen25-omni-thinker-s0": "qwen25_omni",
        }
        panel = {
            "name": "tiny",
            "description": "random tiny models from 'adqa-data demo-models'",
            "min_correct": 2,
            "members": [
                {
                    "name": f"tiny-{name}",
                    "model": f"./{name}",
                    "family": families[name],
                    "backend": "transformers",
                    "dtype": "float32",
                }
                for name in paths
            ],
        }
        panel_file.write_text(yaml.safe_dump(panel, sort_keys=False))
    if as_json:
        print_json({"built": bool(paths), "models": paths, "panel": panel_file, "codec": f"mimi:{codec}"})
        return
    if paths:
        render.table("demo models", ["model", "path"], list(paths.items()))
    render.result(f"panel: {panel_file}\ncodec: mimi:{codec}")


@app.command("demo-summary")
def demo_summary(
    train: Annotated[str, typer.Option("--train", help="The filtered training dataset.")] = "audiomcq",
    dev: Annotated[str, typer.Option("--dev", help="The evaluated dev dataset.")] = "dcase2026-dev",
    before: Annotated[
        str, typer.Option("--before", help="Prediction set of the policy before GRPO.")
    ] = "before",
    after: Annotated[str, typer.Option("--after", help="Prediction set of the trained policy.")] = "after",
    workspace: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """The story demo's figures, read from the workspace: how often the filter's weak/strong split agrees
    with the designed needs_audio label, and dev accuracy with the clip and with silence on the items that
    need the audio, before and after training (the audio-dependency gap), and where the report page is."""
    from ..core.workspace import Workspace
    from ..demo.story import story
    from ..report.build import default_out

    ws = Workspace(workspace)
    res = story(ws, train, dev, before, after)
    page = default_out(ws, None) / "index.html"
    res["report"] = str(page) if page.is_file() else None
    if as_json:
        print_json(res)
        return
    split = res["split"]
    rows = []
    for cond in ("audio", "silence"):
        vals = [res["eval"][k]["accuracy"].get(cond, {}).get("audio-only") for k in ("before", "after")]
        rows.append(
            (f"dev accuracy, audio-only items, {cond}", *("-" if v is None else f"{v:.3f}" for v in vals))
        )
    gaps = [res["eval"][k]["gap_audio_only"] for k in ("before", "after")]
    rows.append(
        ("audio-dependency gap (audio - silence)", *("-" if g is None else f"{g:+.3f}" for g in gaps))
    )
    for cond in ("audio", "silence"):
        vals = [res["eval"][k]["accuracy"].get(cond, {}).get("text-prior") for k in ("before", "after")]
        rows.append(
            (f"dev accuracy, text-prior items, {cond}", *("-" if v is None else f"{v:.3f}" for v in vals))
        )
    render.table("what the demo shows", ["figure", f"before ({before})", f"after ({after})"], rows)
    if split is None:
        render.result(f"weak/strong split of {train}: no needs_audio design labels to compare with")
    else:
        render.result(
            f"weak/strong split of {train} agrees with the designed needs_audio label on "
            f"{split['agreement']:.1%} of {split['items']} items ({', '.join(f'{k}: {v}' for k, v in split['counts'].items())})"
        )
    if page.is_file():
        render.result(f"report: {page} (open it in a browser)")
    else:
        render.log(f"no report yet: 'adqa-data report -w {workspace}' writes {page}")


def _recorded_recipe(path: Path) -> dict | None:
    """The recipe a demo-models folder records (None: none, or not a small JSON object)."""
    import json

    try:
        if path.stat().st_size > 1 << 16:
            return None
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
