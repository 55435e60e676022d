"""`adqa-data encode`: RVQ codes into the content-addressed cache."""

from __future__ import annotations

from typing import Any

from . import render
from .app import DEFAULT_WS, EngineOpt, ForceOpt, JsonOpt, WorkspaceOpt, app, print_json
from .options import build_settings, settings_options
from .stage_run import run_stage


def _settings_model() -> Any:
    from ..stages.encode.config import EncodeConfig

    return EncodeConfig


@app.command()
@settings_options(_settings_model())
def encode(
    settings: dict[str, Any],
    workspace: WorkspaceOpt = DEFAULT_WS,
    engine: EngineOpt = "local",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Decode each distinct clip once and cache its RVQ codes by content; index items to their codes.

    Reruns are cache hits, a killed run resumes from its finished shards, bad audio is quarantined.
    """
    from ..stages.encode import EncodeConfig, run

    config = build_settings(EncodeConfig, settings, "encode")
    res = run_stage(run, workspace, config, progress=("encoding audio", "clips"), engine=engine, force=force)
    summary = {k: v for k, v in res.__dict__.items() if k != "provenance"}
    summary["quarantine_reasons"] = summary.pop("reasons")
    if as_json:
        print_json(summary)
    elif res.up_to_date:
        render.log(
            f"up to date: {res.dataset} under {res.codec_key} ({res.indexed} items indexed, "
            f"{res.quarantined} quarantined); --force redoes it"
        )
    else:
        speed = res.audio_seconds / res.seconds if res.seconds else 0.0
        render.result(
            f"{res.dataset} -> {res.codec_key}: {res.indexed} items indexed, {res.quarantined} quarantined; "
            f"{res.distinct_audio} distinct clips: {res.cache_hits} cached, {res.encoded} encoded "
            f"({res.audio_seconds:.0f} s of audio, {speed:.1f} s/s, padding x{res.padding_waste:.3f}) "
            f"in {res.seconds:.1f} s"
        )
        if res.reasons:
            render.counts("quarantined items", "reason", res.reasons)
        render.result(f"cache: {res.cache_dir}")
