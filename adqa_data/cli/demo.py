"""`adqa-data demo-data` / `demo-models`: the offline demo's synthetic data and tiny models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import render
from .app import JsonOpt, app, print_json


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Argument(help="Folder to write the demo datasets into.")],
    clips: Annotated[int, typer.Option("--clips", help="Number of AudioMCQ-layout clips.")] = 24,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    defects: Annotated[
        bool, typer.Option("--defects", help="Also plant one row of every kind download quarantines.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write small synthetic datasets (tones, noise, clicks) in the AudioMCQ and DCASE 2026 layouts."""
    from ..demo.data import write_demo

    roots = write_demo(out, n_clips=clips, seed=seed, defects=defects)
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
    as_json: JsonOpt = False,
) -> None:
    """Build random-weight tiny LALMs offline (two Qwen2-Audio, one Qwen2.5-Omni thinker), a panel.yaml
    naming them, and a tiny Mimi codec (OUT/codec-mimi, use with --codec mimi:OUT/codec-mimi), so encode,
    filter and rollout run end to end with no model hub. Their answers and codes are noise."""
    import yaml

    from ..demo.codecs import build_tiny_codec
    from ..demo.models import build_demo_models

    codec, panel_file = out / "codec-mimi", out / "panel.yaml"
    paths: dict[str, Path] = {}
    if panel_file.is_file() and (codec / "config.json").is_file():
        # rebuilding would rewrite the weights and make every later stage's input look new
        render.log(f"already built: {out} (delete it to rebuild)")
    else:
        paths = build_demo_models(out, size=size)
        codec = build_tiny_codec("mimi", codec)
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
