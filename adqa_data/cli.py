"""The `adqa-data` command: one thin command per stage. Options are parsed here; the work is done in
`adqa_data.stages.*`, imported lazily so that `adqa-data --help` never imports torch."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="adqa-data",
    help=(
        "Turn audio multiple-choice data into GRPO post-training data for audio-language models that "
        "listen.\n\nThe chain: download -> encode -> filter -> sample -> rollout -> train -> eval. Every "
        "stage writes Parquet shards into one workspace, is resumable, and is a no-op when up to date."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", help="Workspace directory holding every stage's tables.")
]
DatasetOpt = Annotated[
    Optional[str], typer.Option("--dataset", "-d", help="Dataset name in the workspace (default: the only one).")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Redo the stage even when it is up to date.")]
EngineOpt = Annotated[
    str, typer.Option("--engine", help="'local' (in-process, default) or 'ray' (a Ray cluster; RAY_ADDRESS).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]
DEFAULT_WS = Path("adqa-work")


def print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    from .errors import UserError

    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"--map {pair!r} is not FIELD=COLUMN", fix="e.g. --map question=q --map choices=options")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


# Commands are defined below, one per stage, each a thin wrapper over adqa_data.stages.<stage>.


@app.command()
def download(
    from_dir: Annotated[Optional[Path], typer.Option("--from-dir", help="Local dataset root (manifest + audio folders).")] = None,
    hub: Annotated[Optional[str], typer.Option("--hub", help="A pinned hub dataset from manifests/, e.g. audiomcq-strongac-geminicot.")] = None,
    revision: Annotated[Optional[str], typer.Option("--revision", help="Override the pinned hub revision.")] = None,
    layout: Annotated[Optional[str], typer.Option("--layout", help="audiomcq | dcase2026-dev | dcase2026-eval | generic (default: detected).")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Dataset name in the workspace (default: the layout name).")] = None,
    manifest: Annotated[Optional[str], typer.Option("--manifest", help="Generic layout: the JSONL/Parquet file, relative to the root.")] = None,
    mapping: Annotated[list[str], typer.Option("--map", help="Generic layout: FIELD=COLUMN, repeatable (fields: item_id, question, choices, answer, audio_path, source_dataset, question_type, cot).")] = [],
    split: Annotated[Optional[str], typer.Option("--split", help="Generic layout: split name to record.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Processes probing audio (default: CPU count; 1 = in-process).")] = None,
    engine: EngineOpt = "local",
    strict: Annotated[bool, typer.Option("--strict", help="Exit non-zero when any row is quarantined.")] = False,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Normalise a dataset into the canonical item table; probe every audio file once; quarantine bad rows.

    Sources: --from-dir DIR (AudioMCQ `data.jsonl`, DCASE 2026 `dev.jsonl` / `eval-noanswer.jsonl`, detected
    automatically; or --layout generic with --manifest and --map), or --hub NAME for a pinned hub snapshot.
    """
    from .engine import check_engine
    from .progress import console, progress_bar
    from .stages.download import download as run_download
    from .workspace import Workspace

    with progress_bar("probing audio", "files") as on_progress:
        res = run_download(
            Workspace(workspace), from_dir=from_dir, hub=hub, revision=revision, layout=layout, name=name,
            manifest=manifest, mapping=parse_mapping(mapping) or None, split=split, engine=check_engine(engine),
            workers=workers, force=force, on_progress=on_progress,
        )
    summary = {"dataset": res.dataset, "root": res.root, "up_to_date": res.up_to_date, "input_rows": res.input_rows,
               "items": res.items, "quarantined": res.quarantined, "quarantine_reasons": res.reasons,
               "probed_files": res.probed_files, "seconds": res.seconds}
    if as_json:
        print_json(summary)
    elif res.up_to_date:
        console.print(f"[green]up to date[/]: {res.dataset} ({res.items} items, {res.quarantined} quarantined); --force redoes it")
    else:
        console.print(f"[bold]{res.dataset}[/]: {res.input_rows} rows -> [green]{res.items} items[/], "
                      f"[yellow]{res.quarantined} quarantined[/] ({res.probed_files} files probed, {res.seconds:.1f} s)")
        for reason, count in res.reasons.items():
            console.print(f"  quarantine  {reason:<24} {count}")
        if res.quarantined:
            console.print(f"  details: quarantine/{res.dataset}/download/ in the workspace")
    if strict and res.quarantined:
        raise typer.Exit(1)


@app.command()
def info(workspace: WorkspaceOpt = DEFAULT_WS, dataset: DatasetOpt = None, as_json: JsonOpt = False) -> None:
    """Counts by dataset, source and question type; durations; quarantine by reason."""
    from .stages.info import info as run_info
    from .stages.info import render
    from .workspace import Workspace

    report = run_info(Workspace(workspace), dataset)
    print_json(report) if as_json else render(report)


@app.command()
def encode(
    codec: Annotated[str, typer.Option("--codec", help="mimo-audio (default) | mimi | encodec | dac | xcodec, or FAMILY:HUB_ID_OR_DIR (optionally @REVISION), or a hub id / directory.")] = "mimo-audio",
    num_codebooks: Annotated[Optional[int], typer.Option("--num-codebooks", "-n", help="Keep the first N RVQ codebooks (default: 8 for mimo-audio, else all).")] = None,
    cache: Annotated[Optional[Path], typer.Option("--cache", help="Code cache directory, shareable between workspaces (default: <workspace>/cache/codes).")] = None,
    device: Annotated[str, typer.Option("--device", help="cpu | cuda.")] = "cpu",
    dtype: Annotated[str, typer.Option("--dtype", help="auto (bf16 on cuda, fp32 on cpu) | float32 | float16 | bfloat16.")] = "auto",
    batch_seconds: Annotated[Optional[float], typer.Option("--batch-seconds", help="Padded audio per model call (default: 30 on cpu, 600 on cuda).")] = None,
    max_batch_size: Annotated[int, typer.Option("--max-batch-size", help="Clips per model call at most.")] = 64,
    decode_workers: Annotated[int, typer.Option("--decode-workers", help="Threads decoding and resampling ahead of the codec.")] = 2,
    threads: Annotated[Optional[int], typer.Option("--threads", help="torch CPU threads for the codec (default on cpu: the cores left after --decode-workers, at least 1).")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    engine: EngineOpt = "local",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Decode each distinct clip once and cache its RVQ codes by content; index items to their codes.

    Reruns are cache hits, a killed run resumes from its finished shards, bad audio is quarantined.
    """
    from .engine import check_engine
    from .progress import console, progress_bar
    from .stages.encode import encode as run_encode
    from .workspace import Workspace

    with progress_bar("encoding audio", "clips") as on_progress:
        res = run_encode(
            Workspace(workspace), dataset, codec=codec, num_codebooks=num_codebooks, cache_dir=cache, device=device,
            dtype=dtype, batch_seconds=batch_seconds, max_batch_size=max_batch_size, decode_workers=decode_workers,
            threads=threads, engine=check_engine(engine), force=force, on_progress=on_progress,
        )
    summary = {k: v for k, v in res.__dict__.items() if k != "provenance"}
    summary["quarantine_reasons"] = summary.pop("reasons")
    if as_json:
        print_json(summary)
    elif res.up_to_date:
        console.print(f"[green]up to date[/]: {res.dataset} under {res.codec_key} ({res.indexed} items indexed, "
                      f"{res.quarantined} quarantined); --force redoes it")
    else:
        speed = res.audio_seconds / res.seconds if res.seconds else 0.0
        console.print(f"[bold]{res.dataset}[/] -> {res.codec_key}: [green]{res.indexed} items indexed[/], "
                      f"[yellow]{res.quarantined} quarantined[/]; {res.distinct_audio} distinct clips: "
                      f"{res.cache_hits} cached, {res.encoded} encoded ({res.audio_seconds:.0f} s of audio, "
                      f"{speed:.1f} s/s, padding x{res.padding_waste:.3f}) in {res.seconds:.1f} s")
        for reason, count in res.reasons.items():
            console.print(f"  quarantine  {reason:<24} {count}")
        console.print(f"  cache: {res.cache_dir}")


@app.command()
def sample(
    n: Annotated[int, typer.Option("--n", help="Number of prompts to draw.")] = 1000,
    split: Annotated[str, typer.Option("--split", help="Pool: strong | weak (from 'filter') | all (every answered item).")] = "strong",
    weights: Annotated[str, typer.Option("--weights", help="Per question type: uniform | proportional | TYPE=W,TYPE=W,...")] = "uniform",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    name: Annotated[Optional[str], typer.Option("--name", help="Prompt set name (default: <split>-<n>-seed<seed>).")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Draw a prompt set from a split, balanced by question type, without replacement, seeded."""
    from .stages.sample import render
    from .stages.sample import sample as run_sample
    from .workspace import Workspace

    res = run_sample(Workspace(workspace), dataset, n=n, split=split, weights=weights, seed=seed, name=name, force=force)
    if as_json:
        print_json(res.__dict__)
        return
    if res.up_to_date:
        from .progress import console

        console.print(f"[green]up to date[/]: prompt set {res.name} ({res.n} prompts); --force redoes it")
    render(res)


@app.command("filter")
def filter_cmd(
    panel: Annotated[str, typer.Option("--panel", help="Panel YAML file, or a built-in panel name (pipelines/panels/: audiomcq, tiny).")] = "audiomcq",
    condition: Annotated[list[str], typer.Option("--condition", help="Extra condition besides audio and silence, repeatable: noise | swap.")] = [],
    mode: Annotated[Optional[str], typer.Option("--mode", help="letters | options | generate for every member (default: each member's own, letters).")] = None,
    permutations: Annotated[int, typer.Option("--permutations", "-k", help="Score each item under K cyclic rotations of its options and average; K = the number of options (4) fully cancels a letter-position bias.")] = 1,
    min_correct: Annotated[Optional[int], typer.Option("--min-correct", help="Weak when at least this many members are correct on silence (default: the panel's, 2).")] = None,
    silence_seconds: Annotated[float, typer.Option("--silence-seconds", help="Length of the silent (and noise) clip.")] = 30.0,
    noise_color: Annotated[str, typer.Option("--noise-color", help="noise condition: white | pink.")] = "white",
    noise_level: Annotated[float, typer.Option("--noise-level", help="noise condition: RMS level in dBFS.")] = -30.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the noise clip and the swap draws.")] = 0,
    chunk_items: Annotated[int, typer.Option("--chunk-items", help="Items per votes shard (the unit of resume).")] = 256,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="generate mode: reply length limit.")] = 256,
    device: Annotated[Optional[str], typer.Option("--device", help="cpu | cuda (default: cuda when available).")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    engine: EngineOpt = "local",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Audio-contribution filtering: a panel of LALMs answers every item with its audio and with silence;
    items that at least --min-correct members answer without listening are weak, the rest strong.

    Writes votes, item_scores, splits/<dataset>/{weak,strong}.txt and statistics (also in the provenance).
    Resumable per (model, condition) shard; each model is loaded once; a rerun with the same config is a no-op.
    """
    from .engine import check_engine
    from .progress import console, progress_bar
    from .stages.filter import FilterOptions, filter_dataset
    from .stages.filter_stats import render
    from .workspace import Workspace

    options = FilterOptions(
        conditions=("audio", "silence", *condition), mode=mode, permutations=permutations, min_correct=min_correct,
        silence_seconds=silence_seconds, noise_color=noise_color, noise_level_dbfs=noise_level, seed=seed,
        chunk_items=chunk_items, max_new_tokens=max_new_tokens, device=device,
    )
    with progress_bar("panel votes", "shards") as on_progress:
        res = filter_dataset(Workspace(workspace), panel, dataset, options, engine=check_engine(engine), force=force,
                             on_progress=on_progress)
    if as_json:
        print_json(res.to_json())
        return
    if res.up_to_date:
        console.print(f"[green]up to date[/]: {res.dataset} with panel {res.panel}; --force redoes it")
    else:
        console.print(f"{res.chunks_run} votes shards written, {res.chunks_reused} reused, {res.seconds:.1f} s")
    render(res.to_json())
    console.print(f"splits: {Path(workspace) / 'splits' / res.dataset}/{{weak,strong}}.txt")


@app.command("run")
def run_pipeline(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML: workspace, engine, and a list of steps.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the commands without running them.")] = False,
) -> None:
    """Run a pipeline: each step is one command with its options as YAML keys (see pipelines/demo.yaml).

    Relative paths in the file are taken from the current directory; the workspace from the file's folder
    when relative. Rerunning after a crash skips the finished steps (each reports up to date).
    """
    from .pipeline import run

    run(pipeline, dry_run=dry_run)


@app.command()
def rollout(
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="The policy: a checkpoint directory or hub id.")] = None,
    backend: Annotated[Optional[str], typer.Option("--backend", help="transformers (default) | vllm | scripted (no model: dry runs, tests).")] = None,
    prompts: Annotated[Optional[str], typer.Option("--prompts", help="Prompt set from 'sample' (default: the only one).")] = None,
    k: Annotated[Optional[int], typer.Option("--k", "-k", help="Completions per prompt (default 4).")] = None,
    temperature: Annotated[Optional[float], typer.Option("--temperature", help="Sampling temperature (default 1.0: the policy itself).")] = None,
    top_p: Annotated[Optional[float], typer.Option("--top-p", help="Nucleus sampling (default 1.0: off).")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option("--max-new-tokens", help="Completion length limit (default 512).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Completion s of item i is seeded by (seed, item_id, s) (default 0).")] = None,
    prompt_style: Annotated[Optional[str], typer.Option("--prompt-style", help="Prompt style (default: think).")] = None,
    reward: Annotated[list[str], typer.Option("--reward", help="NAME=WEIGHT, repeatable; the rewards listed replace the default set (correctness=1, format=0.25, anchoring=0.5). NAME: correctness | format | anchoring | package.module:function.")] = [],
    baseline: Annotated[Optional[str], typer.Option("--baseline", help="Advantage baseline: mean (GRPO, default) | leave-one-out.")] = None,
    shard_size: Annotated[Optional[int], typer.Option("--shard-size", help="Groups per shard: the unit of resume and of a Ray task (default 64).")] = None,
    family: Annotated[Optional[str], typer.Option("--family", help="Model adapter family (default: from config.json).")] = None,
    device: Annotated[Optional[str], typer.Option("--device", help="cpu | cuda (default: cuda when available).")] = None,
    dtype: Annotated[Optional[str], typer.Option("--dtype", help="float32 | bfloat16 | float16 | auto.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML of rollout settings (see pipelines/rollout.yaml); options given here override it.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Rollout set name (default: <prompts>-<model>-k<K>-seed<seed>).")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    engine: EngineOpt = "local",
    workers: Annotated[Optional[int], typer.Option("--workers", help="--engine ray: shards in flight at once (default: as many as fit).")] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Sample K completions per prompt from the policy, parse and reward them, rank them within their group.

    Writes rollouts/<dataset>/<name>/part-*.parquet: one row per completion, whole groups per shard, with
    token ids, log-probs, one reward_<name> column per reward, the weighted total and the group advantage.
    Resumable per shard; a rerun with the same settings is a no-op.
    """
    from .engine import check_engine
    from .progress import console, progress_bar
    from .stages.rollout import load_config, parse_reward_weights, render
    from .stages.rollout import rollout as run_rollout
    from .workspace import Workspace

    cfg = load_config(
        config, model=model, backend=backend, k=k, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
        seed=seed, prompt_style=prompt_style, rewards=parse_reward_weights(reward) or None, baseline=baseline,
        shard_size=shard_size, family=family, device=device, dtype=dtype,
    )
    with progress_bar("rollout groups", "groups") as on_progress:
        res = run_rollout(Workspace(workspace), cfg, dataset=dataset, prompts=prompts, name=name,
                          engine=check_engine(engine), workers=workers, force=force, on_progress=on_progress)
    if as_json:
        print_json(res.__dict__)
        return
    render(res)
    console.print(f"read it: polars.read_parquet('{res.out_dir}/part-*.parquet')", soft_wrap=True, highlight=False)


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Argument(help="Folder to write the demo datasets into.")],
    clips: Annotated[int, typer.Option("--clips", help="Number of AudioMCQ-layout clips.")] = 24,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    defects: Annotated[bool, typer.Option("--defects", help="Also plant one row of every kind download quarantines.")] = False,
) -> None:
    """Write small synthetic datasets (tones, noise, clicks) in the AudioMCQ and DCASE 2026 layouts."""
    from .demo import write_demo
    from .progress import console

    roots = write_demo(out, n_clips=clips, seed=seed, defects=defects)
    for layout, root in roots.items():
        console.print(f"{layout:<16} {root}")
    console.print(f"next: adqa-data download --from-dir {roots['audiomcq']} --workspace adqa-work")


@app.command("demo-models")
def demo_models(
    out: Annotated[Path, typer.Argument(help="Folder for the tiny models and their panel.yaml.")],
    size: Annotated[str, typer.Option("--size", help="tiny (tests, seconds) or bench (>=20M parameters).")] = "tiny",
) -> None:
    """Build random-weight tiny LALMs offline (two Qwen2-Audio, one Qwen2.5-Omni thinker), a panel.yaml
    naming them, and a tiny Mimi codec (OUT/codec-mimi, use with --codec mimi:OUT/codec-mimi), so encode,
    filter and rollout run end to end with no model hub. Their answers and codes are noise."""
    import yaml

    from .codecs.tiny import build_tiny_codec
    from .progress import console
    from .tiny_models import build_demo_models

    codec = out / "codec-mimi"
    if (out / "panel.yaml").is_file() and (codec / "config.json").is_file():
        # rebuilding would rewrite the weights and make every later stage's input look new
        console.print(f"already built: {out} (delete it to rebuild)")
        return
    paths = build_demo_models(out, size=size)
    codec = build_tiny_codec("mimi", codec)
    families = {"qwen2-audio-s0": "qwen2_audio", "qwen2-audio-s1": "qwen2_audio",
                "qwen25-omni-thinker-s0": "qwen25_omni"}
    panel = {
        "name": "tiny", "description": "random tiny models from 'adqa-data demo-models'", "min_correct": 2,
        "members": [{"name": f"tiny-{name}", "model": f"./{name}", "family": families[name],
                     "backend": "transformers", "dtype": "float32"} for name in paths],
    }
    (out / "panel.yaml").write_text(yaml.safe_dump(panel, sort_keys=False))
    for name, path in paths.items():
        console.print(f"{name:<24} {path}")
    console.print(f"panel: {out / 'panel.yaml'}\ncodec: mimi:{codec}")


def main() -> None:
    """Entry point: user mistakes become one clear message and exit code 2, not a traceback."""
    from .errors import UserError

    try:
        app()
    except UserError as e:
        from .progress import console

        # soft_wrap: paths in messages stay on one line, so they can be copied
        console.print(f"[bold red]error:[/] {e.what}", soft_wrap=True, highlight=False)
        if e.where:
            console.print(f"  [dim]where:[/] {e.where}", soft_wrap=True, highlight=False)
        if e.fix:
            console.print(f"  [dim]fix:[/]   {e.fix}", soft_wrap=True, highlight=False)
        sys.exit(2)
