"""The answer parser on tests/support/parser_cases_languages.py: self-corrections, bare ordinals, ordinals
beside an option's text, marked markdown tables, spelled-out numbers, true/false options with an
explanation and CJK answer cues after eliminations, in English, Chinese, Japanese, Spanish, French and
German. Each output must be read as graded (or as a marked second reading); the negative controls credit
nothing."""

from __future__ import annotations

from collections import Counter

import pytest
from support.parser_cases_languages import CASES

from adqa_data.mcq.answers import LETTERS, parse_answer


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case_is_read_as_graded(case: dict) -> None:
    got = parse_answer(case["output"], case["options"])
    allowed = {case["expected"], *case.get("also", [])}
    assert got.letter in allowed, (case["output"], got)
    if got.letter is not None:
        assert got.text == case["options"][LETTERS.index(got.letter)]


def test_every_class_has_cases_and_negative_controls() -> None:
    per_class = Counter(c["cls"] for c in CASES)
    negatives = Counter(c["cls"] for c in CASES if c["expected"] is None)
    assert len(per_class) == 7
    assert all(n >= 8 for n in per_class.values()), per_class
    assert all(negatives[cls] >= 2 for cls in per_class), negatives
    assert {c["lang"] for c in CASES} == {"en", "zh", "ja", "es", "fr", "de"}
