"""The answer parser on two blind holdout corpora, kept as test tables: each was written by someone who
never read the parser or its tests, from the class descriptions alone (answers as option text, ordinals,
corrections, rejections and refusals in English, Chinese, Japanese, Spanish, French and German), and
graded by the commitment principle. The first (230 cases) was measured before the language rounds (93.5%),
the second (160) after them (96.9%, two wrong credits); both are read as graded now."""

from __future__ import annotations

import pytest
from support.parser_holdout_first import CASES as FIRST
from support.parser_holdout_second import CASES as SECOND

from adqa_data.mcq.answers import parse_answer

CASES = [{**c, "corpus": "first"} for c in FIRST] + [{**c, "corpus": "second"} for c in SECOND]


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c['corpus']}-{i}-{c.get('klass') or c.get('cls')}" for i, c in enumerate(CASES)]
)
def test_holdout_case_is_read_as_graded(case: dict) -> None:
    got = parse_answer(case["output"], case["options"])
    assert got.letter in {case["expected"], *case.get("also", [])}, (case["output"], got)


def test_holdouts_cover_every_language_and_refusals() -> None:
    assert len(FIRST) >= 200 and len(SECOND) >= 150
    for corpus in (FIRST, SECOND):
        assert {c["lang"] for c in corpus} >= {"en", "zh", "ja", "es", "fr", "de"}
        assert sum(c["expected"] is None for c in corpus) >= 20
