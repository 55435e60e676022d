"""The layered answer parser, shared by filter (generate mode), rollout (correctness and format rewards)
and eval: the single source of truth for what a model's output names.

`parse_answer(text, choices)` returns the option a model's output names, the layer that found it, or
the reason it credits nothing. Peers are either too strict (R1-AQA: regex then exact string; NeMo-RL:
alphanumerics only, exact compare) or hackable (substring matching credits `<answer></answer>`,
and outputs listing several options). This parser recovers malformed outputs (the layered fallback
of the DCASE 2026 MiMo-Audio report) but never credits an output that does not name exactly one option,
nor a letter the output rejects.

Reading copy. Output and option texts are read after the same normalisation (`normalize`): invisible
format characters (zero-width space and joiners, soft hyphen, BOM, direction marks) are dropped, then
NFKC turns fullwidth letters and punctuation ("Ａ", "［Ｄ］", "（Ｂ）", "："), mathematical letters
(bold, italic, sans-serif, script, double-struck, monospace), circled letters, NBSP and the ideographic
space into ASCII; the CJK full stop and comma, CJK brackets and curly quotes are mapped to ASCII too.
Outside the strict and text layers, LaTeX wrappers around a letter read as brackets: `\\boxed{B}`,
`\\text{B}`, `$B$` are "(B)" (so `<answer>\\boxed{B}</answer>` is ``answer_letter``, not the template).
Before anything is read, what a rendered reply does not show is blanked (`strip_hidden`): HTML comments
(an unclosed one hides the rest), `[//]: # (...)` lines, elements styled `display:none`/`hidden`; a
letter only there names nothing. The credited `text` is the option exactly as given.

Layers, tried in order; the first that applies decides (a refusal stops the search, too):

1. ``strict``        every answer block is a single letter: `<answer>B</answer>`, tolerating spaces,
                     brackets, a trailing `.`/`)`/`:`, markdown `**`/backticks/quotes and lower case
                     (`<answer> (b). </answer>`).
2. ``answer_text``   the block's whole text is one option's text (case, punctuation, spacing and a
                     leading article followed by a space ignored, so "A car horn" is the text but "A. car
                     horn" is a label and a text; a `"A. "` prefix on the options, as in DCASE 2025, is
                     ignored too). Tried before letters, since options may contain letters ("Room A").
                     When the block holds no letter, its option texts are read as outside blocks
                     (`<answer>It is heavy rain</answer>`): exactly one option's whole text credits it,
                     the texts of several options make the block ``unparseable_answer``. Whole texts
                     only, word-bounded: no substring of a word, never an empty text.
3. ``answer_letter`` a letter inside the block, read as a statement (below): `<answer>C. dog
                     barking</answer>`, `<answer>The answer is (C)</answer>`, `<answer>D, since the tempo
                     rises</answer>`, `<answer>choice c</answer>`, `<answer>C dog barking</answer>` (letter
                     then that option's text; a block starting with an out-of-range label, "E. ...", is
                     ``letter_out_of_range``).
4. ``after_think``   no answer block: the statement after the last `</think>`, when it holds a letter.
5. ``last_letter``   no answer block and no letter after `</think>`: the last answer-looking letter,
                     read within its statement; letters heading the lines of an option list ("A. dog
                     barking\\nB. cat meowing", "- A: no bark\\n- C: no chirp", "Option A is ...\\nOption B
                     is ...": two or more lines, letters rising; and a bullet or bold heading led by a
                     letter, "* Option B (Siren): ...", even alone) are not answers there, so a listing
                     of the options, finished or truncated, credits nothing.
6. ``option_text``   no answer block and no letter naming an option (none, or only rejected ones): the
                     option texts (`option_reading`, below), or a markdown table marking one option.

Answer first, explanation after (layers 4 and 5, not in reasoning, i.e. layer 5 only when the output has
no think tag): when the first line holding a letter (lists aside) has an answer cue, opens the text or
follows an "Answer" heading, and credits one option, that option is the answer and the lines after it are
its explanation ("**Answer: B**\\n\\nOption A would sound deeper ..." credits B) — unless a later line
has an answer cue, a letter alone on its line or a rejection of that option (then the usual reading
applies: "The answer is B.\\nActually, B is wrong; the answer is C." credits C).

Answer blocks are authoritative: when the output has any `<answer>` block (an unclosed one at the end,
as in a truncated output, counts, but is reported as ``answer_letter`` at best), layers 4-6 are not
tried. Every non-empty block must name the same option; empty blocks beside a valid one are ignored;
when blocks are refused for different reasons, the first of multiple_options, letter_text_conflict,
letter_out_of_range, negated_only, unparseable_answer is reported.

Answer-looking letters (layers 3-5) are letters of the item's options (A-D for four options) in one of
these forms, never a bare capital inside a sentence ("A dog barks", "Vitamin C is good", "Plan B is"):
- after an answer cue, up to two adverbs between: "answer is B", "answer: B", "the answer is most likely
  B", "I choose B", "I'd go with (B)";
- after a label word: "option B", "choice (B)". Only here and after an answer cue is a lower-case
  letter read, when it is bracketed or ends the phrase, or one of is/was/seems/fits/matches/because/since
  follows ("choice c", "option (b).", "the answer is (b)", "Answer: c"; "the answer is a dog" is the
  article); a bare "a" or "i" in prose never is;
- `(B)` `[B]`, `**B**`, a letter alone on a line; `B.` `B)` (not `A.M.`) and a letter ending its line or
  the text, except right after a noun that names things by letter ("vitamin C.", "plan B", "Speaker B.")
  or another capitalised word ("Room B.") that is no lead-in or verb of choosing ("So B.", "It is B.",
  "Pick B" read), and except when the option's own text follows ("... barking B. cat meowing" is a label);
- beside CJK text: "答案是B", "正解はCです";
- at a sentence or clause start (a line start, after . ! ? ; : or a comma, optionally after a lead-in word:
  so, thus, hence, therefore, then, overall, and, but, or, nor, while, whereas, because, since, though,
  although, yet, however, maybe, perhaps, any adverb in -ly (clearly, definitely, certainly, probably), yes,
  well, ok, hmm, that, it's, it is, that's, this is, I think, I believe, I guess, I'd say; or right after an
  opening bracket: "B (C is wrong)") and followed by a comma, colon, semicolon, dash or bracket, or
  by a word of this closed list: is, isn't, are, was, wasn't, seems, seemed, appears, looks, sounds, fits,
  matches, describes, corresponds, aligns, captures, reflects, makes, remains, works, wins, would, wouldn't,
  should, must, could, couldn't, might, does, doesn't, did, didn't, has, can't, cannot, won't, fails,
  because, since, as, rather than, instead of. So "A, given the hiss", "A seems right", "B because the tempo
  rises" and "so C fits" name the letter, while "A dog barks", "A man speaks" and "A given recording" keep
  the article ("given" is left out of the list for that reason), and "I" is never read this way (the
  pronoun).
Letters inside an option's text are never answer letters: where the text of an option holding a letter
token ("Room C", "Speaker A talks first") appears in the output, its letters are not read, so "The
answer is Room C" names no letter.

Negation. A letter is rejected when
- one of these stands right before it (a label word, "the" or a bracket may come between): no, rather
  than, instead of, other than, anything but, except (for), excluding, exclude, eliminate, rule out,
  unlike, reject, dismiss, discard, cross out, neither, nor; 不, 非, 没, 无, 排除 (then 是 or 选);
- "not", "n't", "never" or "cannot" precedes it by at most eight words within its clause (no punctuation
  but a bracketed letter, and none of so, thus, therefore, hence, but, because, since, while, whereas,
  and, then, however, yet, although, though, instead, rather between): "definitely not D", "it isn't
  B", "I don't think it's D", "not a dog barking (A) or a car horn (D)"; but "Not sure, but B" and "It
  doesn't bark so the answer is B" affirm B;
- a rejecting predicate follows it: "D is wrong", "(D) is clearly incorrect", "(D) can be ruled out",
  "D is not", "D isn't", "D does not fit", "D fails", "D: wrong", (都/也)错/不对/不正确/不是/不符/不可能/間違/
  違う/ではない/ではありません — unless what follows is an option's own text ("D: not a dog").
A rejection before the first or after the last letter of a hedged list ("A or B", "A, B and C", "A, B, or
C", "A和B"; a semicolon ends a list) covers the whole list: "not A or B", "A and B are wrong", "not A, C",
"A和B都不对" reject every letter of it. "B or maybe C" ("or/and" then maybe, perhaps, possibly, probably,
even or also) is a hedge but no list: "C rather than A, or maybe B" rejects A only, and names C and B.
In a statement, a letter rejected anywhere is never credited ("It could be A. Definitely not A." credits
nothing); the one letter affirmed beside rejected ones is credited ("C, not A", "C rather than A", "C
instead of A", "not A but C", "B; A is wrong"): exactly one option is affirmed, and "X, not Y" is how models
commit. A statement whose letters are all rejected credits nothing (``negated_only``), whatever the options
left: "not D" does not name one of A-C. Rejected letters make no hedge.

Letter and text. Where the credited letter has an option's whole text beside it — after it, past a
comma, colon, stop, dash, bracket or "i.e.", up to a punctuation mark ("D, the trumpet", "C. dog
barking", "B (cat)"), or before it when it is bracketed (the phrase from the last punctuation mark or
answer cue, or its ending: "the trumpet (D)", "the tone is angry (B)") — that text must be the same
option's, else ``letter_text_conflict``; in every
layer. A label with its own option's text is one option even when the text holds another letter: with
options "Room C", "Room A", "Room D", "Room B", "Choice B: Room A" credits B and "Choice A: Room A" is a
conflict. A following sentence that only starts with an option's words is no text ("D. The trumpet is
not heard." credits D).

Naming two options is refused (``multiple_options``): two different affirmed letters, or a hedge such as "A
or B", "A, C", "A/B", "A and B", "A B C D", "A-D", "not only A but also B", "A as well as B", "option a or
option b", "B or maybe C", "A或B", "\\boxed{A} or \\boxed{B}" in the statement that is read. The statement
is the whole block (layers 1-3), everything after `</think>` (layer 4; an answer given first: its line), or,
for layer 5, the line of the last answer-looking letter, starting at its last
"answer is"-style cue when it has one (so "Option A is a cat, option B a dog, so the answer is B." credits
B, "The answer is A or B" credits nothing). Hedges look at letters A-H whatever the option count, so "B or
E" is refused on a four-option item while "B, I think" is not; an "A" followed by a lower-case word that is
not in the verb list above is read as the article, so "(B) A dog barks" is not a hedge but "B or A would
fit" is. When text follows `</think>` but holds no letter, layer 5 reads the whole output, reasoning
included ("... so the answer is B</think> It barks." credits B).

Option texts (`option_text.find_texts`): every option's normalised texts in one regex alternation,
longest first, so one left-to-right pass finds them and the longest option wins where options overlap
("church bell" over "bell"; "an old man" is not "a man"); case, quotes, punctuation, spacing, a leading
article and the plural of the last word are free; a number is its digits or its word ("two taps" is "2"),
and in Chinese or Japanese numerals before a counter ("三次"); CJK texts need no word boundary ("答案是鸟鸣").
Options that look like letters ("Type A", "Gate D") are texts, and their letters are never answer
letters. A yes/no option ("Yes", "No", "是") counts only standing alone ("No, it is not.", not "no
doubt"). Texts that label a letter ("B. Siren", "Siren (B)"), stand on an option list's lines or a
table's rows, or come three or more in one run ("footsteps, siren, thunder and applause") are a listing,
no answer. A text is rejected like a letter ("not the siren", "rule out a woman singing", "the siren is
wrong", "more like a siren than thunder"; a rejection before or after a run "the siren or the thunder"
covers it). Which texts count (`TextReader.read`): after the last answer cue ("answer:", "final answer",
"I'd say", "I think", "it's", "la respuesta es", "答案", `"answer": `) the statement it opens; else all of
them, when they affirm one option, provided the output asserts it (some mention in a finished sentence
that is no question, condition or walk through the options, and a longer output not cut off
mid-sentence); else what follows the last correction or conclusion; else a first sentence that is the
text alone. Affirming two options is ``multiple_options``, only rejecting is ``negated_only``; a text
whose option's letter the output rejects commits to nothing ("It is not C ... like thunder"). After a
letter reading, a text cued past the letter's statement is the later commitment ("... heavy rain (A).
Conclusion: hail" credits hail).

Ordinals (`ordinals`): "the third option", "option two", "the 2nd choice", "the last one", "la tercera
opción", "la troisième", "die dritte Option", "第三个", "3番目" are a mention of that position's letter,
read like a letter (rejected by "not the first option", checked against the text beside it: "option
one, i.e. the siren" is a conflict when the siren is option two).

The last commitment wins (`commitment`): a statement naming two options that corrects or concludes
itself names what follows its last correction or conclusion, when that names one option ("B. Wait, no —
D.", "A? Hmm. Maybe C... Final: C", "Je dirais A. Non, plutôt C.", "鸟鸣……不对，是狗叫"); "between B
and C" (entre, zwischen, 在B和C之间) names neither, so an elimination ending in a conclusion credits the
conclusion ("Not A, not D. Between B and C, the timbre says C."). A conclusion after every mention that
chooses nothing ("Final answer: it is impossible to tell", "no se puede determinar", "无法确定")
refuses whatever came before.

Corrections, ordinals, numbers, true/false and tables in all six languages: "corrijo", "mejor dicho",
"je corrige", "plutôt", "korrigiere", "ich meine", "eher", 改为/更正/应该是/还是, 訂正/やっぱり/に変更 restart
the statement; bare ordinals after their article ("die zweite.", "la tercera.", "el último", 最后一个, 三つ目,
最後の選択肢) count when only punctuation, a verb of fitting or a clause word follows; numbers spelled in
Spanish, French and German ("cuatro", "drei", "quatre", "vier Mal") and digits before a CJK counter
("4回") are digits; true/false-style options (Correct, Richtig, Vrai, 正确, 正しい ...) count standing alone
before a dash, comma or colon; a CJK cue (答案是, 答え：, 正解は, 所以选) opens the last statement, so an
elimination chain before it is no hedge. Tables: a mark in any column (the first too) marks its row; a
column headed Fits/Match/Verdict/Answer/符合/一致/Passt/Coincide/Correspond holding yes/no marks decides alone.

Other languages: cues "la respuesta es (la) B", "la réponse est C", "c'est la réponse C", "die Antwort
ist D", "je choisis", "elijo", "ich wähle"; labels opción/réponse/respuesta; rejections "ni A ni C", "weder
C noch D, sondern A", "pas A", "A ist falsch", "A n'est pas", "no es la B", "sauf", "statt", "en lugar de";
Chinese and Japanese as above ("不是A，是C", "答えはBです").

A markdown table (`tables`) whose rows name the options (a letter cell, with or without its text, or a
text cell) and mark exactly one as the match (✅ ✔ ✓ ☑, or "yes" where the table has no check marks)
credits that option (``option_text``) when nothing outside its rows names one; so does a list of the
options whose lines are each marked, one as the match ("- B: Siren — yes", "B) ✅", the others "no"/❌).
"Between B and C", "left with B and C", "B vs C" compare two options and name neither.

Cost: every pattern is tried once per region or in bounded windows around a mention (negation hints
are found in one pass, span lookups bisect, only the last few corrections are re-read), so reading is
linear in the output's length; nothing raises on hostile input (50k characters, nested tags, lone
surrogates).

Refusal reasons (`NoCredit`): ``no_answer``, ``empty_answer``, ``multiple_options``,
``letter_text_conflict``, ``letter_out_of_range`` (a block holding one letter beyond the options),
``unparseable_answer`` (a non-empty block naming no option), ``negated_only``.
"""

from __future__ import annotations

from .normalise import (
    ANSWER_BLOCK,
    ANSWER_CLOSE,
    ANSWER_OPEN,
    ANSWER_UNCLOSED,
    ANY_TAG,
    THINK_CLOSE,
    THINK_OPEN,
    normalize,
)
from .reading import _parse, parse_answer
from .verdict import BLOCK_LAYERS, LETTERS, Layer, NoCredit, ParsedAnswer, letter_for

__all__ = [
    "ANSWER_BLOCK",
    "ANSWER_CLOSE",
    "ANSWER_OPEN",
    "ANSWER_UNCLOSED",
    "ANY_TAG",
    "BLOCK_LAYERS",
    "LETTERS",
    "THINK_CLOSE",
    "THINK_OPEN",
    "Layer",
    "NoCredit",
    "ParsedAnswer",
    "_parse",
    "letter_for",
    "normalize",
    "parse_answer",
]
