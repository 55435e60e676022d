"""Answer-parser cases for three classes a blind corpus found after the language rounds: a first
impression taken back ("At first I thought X, but ..." in six languages: the turn starts the last
statement), text options negated as a pair ("Neither X nor Y": none committed), and a negation with an
article between it and the option's text ("Ce ne sont pas des oiseaux", "No son unos pájaros").
Fresh wordings, not the corpus's; negative controls credit nothing."""

from __future__ import annotations

import pytest

from adqa_data.mcq.answers import parse_answer

SFX = ["Footsteps", "Siren", "Thunder", "Applause"]
INSTR = ["Piano", "Violin", "Trumpet", "Drums"]
ZH = ["狗叫", "猫叫", "鸟鸣", "汽车喇叭"]
JA = ["雨の音", "波の音", "風の音", "雷の音"]
ES = ["Lluvia", "Aplausos", "Tráfico", "Pájaros"]
FR = ["Pluie", "Applaudissements", "Circulation", "Oiseaux"]
DE = ["Regen", "Applaus", "Verkehr", "Vögel"]

CASES = [
    (SFX, "At first I took it for thunder, but the rhythmic claps make it applause.", "D"),
    (SFX, "Initially I heard B, but listening again it's C.", "C"),
    (ES, "Al principio me pareció lluvia, pero son pájaros cantando.", "D"),
    (ES, "Primero elegí la A, pero no; la respuesta es la C.", "C"),
    (FR, "D'abord j'ai pensé à la pluie, mais c'est la circulation.", "C"),
    (DE, "Zuerst dachte ich an Regen, aber es ist eindeutig Applaus.", "B"),
    (ZH, "起初我以为是猫叫，但是仔细听是汽车喇叭。", "D"),
    (JA, "初めは雨の音かと思いましたが、これは波の音です。", "B"),
    (INSTR, "Neither the piano nor the drums; it's the violin.", "B"),
    (ES, "No son unos pájaros, es tráfico.", "C"),
    # negative controls
    (INSTR, "Neither piano nor drums.", None),
    (FR, "Ce ne sont pas des oiseaux.", None),
    (SFX, "At first I thought it was thunder, but now I am torn between thunder and applause.", None),
    (ES, "Al principio pensé en la A, pero no estoy seguro: quizá B o C.", None),
]


@pytest.mark.parametrize(("options", "output", "expected"), CASES, ids=[c[1][:40] for c in CASES])
def test_read_as_graded(options, output, expected):
    assert parse_answer(output, options).letter == expected
