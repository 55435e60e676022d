"""The MiMo-Audio GPU recipe (pipelines/mimo-grpo.yaml) is a valid pipeline: every step parses against
its command, and the policy steps read the codes the encode steps write (no model is loaded)."""

from __future__ import annotations

from pathlib import Path

from adqa_data.cli.pipeline import load, plan
from adqa_data.codecs.registry import parse_codec_name

RECIPE = Path(__file__).parents[2] / "pipelines" / "mimo-grpo.yaml"


def _opt(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_recipe_steps_parse_and_chain_through_the_codes():
    argvs = plan(load(RECIPE))
    commands = [a[0] for a in argvs]
    assert commands[:3] == ["download", "download", "encode"]
    assert (
        commands.index("encode")
        < commands.index("filter")
        < commands.index("sample")
        < commands.index("rollout")
        < commands.index("train")
        < commands.index("eval")
    )
    encoded = {_opt(a, "--dataset") for a in argvs if a[0] == "encode"}
    families = {parse_codec_name(_opt(a, "--codec"))[0] for a in argvs if a[0] == "encode"}
    assert families == {"mimo"} and {"audiomcq", "dcase2026-dev"} <= encoded
    (roll,) = [a for a in argvs if a[0] == "rollout"]
    (train,) = [a for a in argvs if a[0] == "train"]
    (ev,) = [a for a in argvs if a[0] == "eval"]
    assert parse_codec_name(_opt(roll, "--codec"))[0] == "mimo"
    assert _opt(train, "--rollouts") == _opt(roll, "--name") and _opt(train, "--model") == _opt(
        roll, "--model"
    )
    assert _opt(ev, "--model").endswith(f"runs/audiomcq/{_opt(train, '--name')}/policy")
    assert _opt(ev, "--dataset") in encoded
    header = RECIPE.read_text().split("workspace:")[0]
    for must in (
        "GPU",
        "XiaomiMiMo/MiMo-Audio-7B-Instruct",
        "XiaomiMiMo/MiMo-Audio-Tokenizer",
        "ADQA_MIMO_AUDIO_SRC",
        "flash-attn",
        "HF_HUB_OFFLINE",
    ):
        assert must in header
