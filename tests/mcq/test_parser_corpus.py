"""The answer parser on the independent corpus (tests/support/parser_corpus_independent.py): outputs in the
styles and languages real models write, graded by the commitment principle by someone who never read the
parser. Each output must be read as graded, or as one of the case's marked second readings."""

from __future__ import annotations

import pytest
from support.parser_corpus_independent import CASES

from adqa_data.mcq.answers import LETTERS, parse_answer

# Known disagreements with the grading, each argued; empty while the parser reads every case as graded.
KNOWN_DISAGREEMENTS: dict[str, str] = {}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_corpus_case_is_read_as_graded(case: dict) -> None:
    if case["id"] in KNOWN_DISAGREEMENTS:
        pytest.skip(KNOWN_DISAGREEMENTS[case["id"]])
    got = parse_answer(case["output"], case["options"])
    allowed = {case["expected"], *case.get("also", [])}
    assert got.letter in allowed, (case["output"], got)
    if got.letter is not None:
        assert got.text == case["options"][LETTERS.index(got.letter)]


def test_corpus_is_large_and_wrong_credits_are_rare() -> None:
    assert len(CASES) >= 300
    wrong = [
        c["id"]
        for c in CASES
        if (letter := parse_answer(c["output"], c["options"]).letter) is not None
        and letter not in {c["expected"], *c.get("also", [])}
    ]
    assert len(wrong) <= 1, wrong
