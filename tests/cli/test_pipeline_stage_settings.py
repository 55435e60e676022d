"""A pipeline's steps of download, check-leakage, submit, info and stats are checked against their
stage's settings model before the first step runs: a bad value names the step and the option, exits 2,
and nothing is written."""

from __future__ import annotations

import pytest
from support.faults import assert_clean_error, run_cli


@pytest.mark.parametrize(
    ("step", "needles"),
    [
        ("download: {from_dir: DEMO, max_options: 11}", ("--max-options",)),
        ("download: {max_audio_seconds: 5}", ("exactly one source",)),
        ("check-leakage: {method: [audio_sha256, bogus]}", ("--method", "bogus")),
        ("check-leakage: {template_min: -1}", ("--template-min",)),
        ("stats: {section: [items, nope]}", ("--section", "nope")),
        ("info: {dataset: x, plots: true}", ("unknown option",)),
    ],
)
def test_stage_settings_are_checked_before_the_first_step(tmp_path, step, needles):
    p = tmp_path / "p.yaml"
    step = step.replace("DEMO", str(tmp_path / "demo"))
    p.write_text(
        f"workspace: {tmp_path / 'w'}\nsteps:\n  - demo-data: {{out: {tmp_path / 'demo'}}}\n  - {step}\n"
    )
    code, _, err = run_cli("run", p)
    assert_clean_error(code, err, "step 2", *needles)
    assert not (tmp_path / "demo").exists() and not (tmp_path / "w").exists()  # nothing ran


def test_submit_settings_file_values_are_checked_before_the_first_step(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(
        f"workspace: {tmp_path / 'w'}\nsteps:\n  - demo-data: {{out: {tmp_path / 'demo'}}}\n"
        "  - submit: {predictions: [a, b]}\n"
    )
    code, _, err = run_cli("run", p)
    assert_clean_error(code, err, "step 2", "predictions")
    assert not (tmp_path / "demo").exists()
