"""`--json` keeps stdout to the one JSON object: what a library prints while the command runs — a Python
`print`, a logging handler bound to stdout before the command began (DeepSpeed's is), a write to fd 1
from C code, a child process's output — goes to stderr, so a script can parse stdout."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

NOISE = ("py-print noise", "handler noise", "fd noise", "child noise")

# `adqa-data train --json` whose stage prints all four kinds of noise and returns a result
SCRIPT = textwrap.dedent(
    """
    import logging, os, subprocess, sys

    import adqa_data.stages.train as stage
    from adqa_data.cli.app import main
    from adqa_data.stages.train import TrainResult

    library = logging.getLogger("some_library")  # bound to stdout at import, as DeepSpeed's logger
    library.addHandler(logging.StreamHandler(sys.stdout))
    library.propagate = False

    def noisy_run(ws, config, **kwargs):
        print("py-print noise")
        library.warning("handler noise")
        os.write(1, b"fd noise\\n")
        subprocess.run([sys.executable, "-c", "print('child noise')"], check=True)
        return TrainResult(
            dataset="d", name="n", method="grpo", up_to_date=True, steps=0, total_steps=0, groups=0,
            resumed_from=None, run_dir="r", policy_dir="p", averaged_dir=None,
        )

    stage.run = noisy_run
    sys.argv = ["adqa-data", "train", "-w", sys.argv[1], "--json"]
    main()
    """
)


def _run(tmp_path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "w"), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_library_output_during_a_json_command_goes_to_stderr(tmp_path):
    res = _run(tmp_path)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)  # nothing but the object
    assert (out["name"], out["up_to_date"]) == ("n", True)
    for noise in NOISE:
        assert noise not in res.stdout and noise in res.stderr, (noise, res.stdout)


def test_after_a_json_command_stdout_and_logging_are_as_before(tmp_path):
    """The redirection ends with the command: fd 1 and the library's handler write to stdout again."""
    script = SCRIPT.replace(
        "\nmain()\n",
        "\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        "library.warning('after')\nos.write(1, b'fd after\\n')\n",
    )
    assert script != SCRIPT
    res = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "w")], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    head, _, tail = res.stdout.rpartition("}")
    json.loads(head + "}")
    assert "after" in tail and "fd after" in tail
