"""The answer parser's table of outputs and their expected readings, shared by the parser's tests and the
format reward's (which must agree with the parser on every case).

A case is (output, expected option index or None, expected layer or refusal reason); each table comes
with the option texts it is read against.
"""

from __future__ import annotations

from adqa_data.mcq.answers import Layer, NoCredit

Case = tuple[str, int | None, str]

CHOICES = ["dog barking", "cat meowing", "bird singing", "car horn"]
T = "<think>The clip has a high-pitched repeated call.</think>"

S, AT, AL, TH, LL = Layer.STRICT, Layer.ANSWER_TEXT, Layer.ANSWER_LETTER, Layer.AFTER_THINK, Layer.LAST_LETTER
OT = Layer.OPTION_TEXT
MULTI, EMPTY, NONE = NoCredit.MULTIPLE_OPTIONS, NoCredit.EMPTY_ANSWER, NoCredit.NO_ANSWER
CONFLICT, NEG, OOR = NoCredit.LETTER_TEXT_CONFLICT, NoCredit.NEGATED_ONLY, NoCredit.OUT_OF_RANGE
UNPARSEABLE = NoCredit.UNPARSEABLE

CASES: list[Case] = [
    # layer 1: strict
    (f"{T}<answer>B</answer>", 1, S),
    (f"{T}\n<answer> C </answer>\n", 2, S),
    (f"{T}<answer>B.</answer>", 1, S),
    (f"{T}<answer>(D)</answer>", 3, S),
    (f"{T}<answer>b</answer>", 1, S),
    (f"{T}<answer>**A**</answer>", 0, S),
    (f"{T}< Answer >C</ answer >", 2, S),
    (f"{T}<ANSWER>A)</ANSWER>", 0, S),
    (f"{T}<answer>B</answer><answer>B</answer>", 1, S),  # agreeing blocks
    ("<think>Format: <answer> </answer>.</think><answer>D</answer>", 3, S),  # echoed empty template
    ("<think>Maybe A or B? It is high-pitched.</think><answer>C</answer>", 2, S),  # hedging while thinking
    (f"{T}<answer>B</answer> Not A.", 1, S),  # the answer block is authoritative
    # layer 2: the block is one option's text
    (f"{T}<answer>Cat meowing</answer>", 1, AT),
    (f"{T}<answer>  bird   singing. </answer>", 2, AT),
    (f"{T}<answer>A car horn</answer>", 3, AT),  # leading article
    # layer 3: a letter inside the block
    (f"{T}<answer>The answer is C</answer>", 2, AL),
    (f"{T}<answer>C. bird singing</answer>", 2, AL),
    (f"{T}<answer>(B) cat meowing</answer>", 1, AL),
    (f"{T}<answer>Answer: **D**</answer>", 3, AL),
    (f"{T}<answer>option B</answer>", 1, AL),
    (f"{T}<answer>C bird singing</answer>", 2, AL),  # letter then that option's text
    (f"{T}<answer>B", 1, AL),  # truncated: unclosed block at the end
    # layer 4: after </think>
    (f"{T}B", 1, TH),
    (f"{T}\n\nThe answer is C.\n", 2, TH),
    (f"{T}A dog barks in the distance, so the answer is (D).", 3, TH),  # article "A" is no letter
    (f"{T}(B) A cat is meowing.", 1, TH),  # "(B) A cat": article, not a hedge
    (f"{T}A", 0, TH),
    # layer 5: the last answer-looking letter
    ("The sound is a meow. Final answer: B", 1, LL),
    ("Option A is a dog, option B a cat, so the answer is B.", 1, LL),
    ("I think it is **D**.", 3, LL),
    ("<think>It purrs, so the answer is B.</think> A cat.", 1, LL),  # nothing after </think>: reasoning
    ("Reasoning first.\nC\nHope this helps!", 2, LL),
    ("I'd go with C", 2, LL),
    ("<think>the answer is C", 2, LL),  # truncated inside the reasoning
    # refusals: reward hacks and outputs naming several options
    (f"{T}<answer></answer>", None, EMPTY),
    (f"{T}<answer> </answer>", None, EMPTY),
    (f"{T}<answer> . </answer>", None, EMPTY),
    (f"{T}<answer>A or B</answer>", None, MULTI),
    (f"{T}<answer>A, C</answer>", None, MULTI),
    (f"{T}<answer>A/B</answer>", None, MULTI),
    (f"{T}It is not only A but also B.", None, MULTI),  # "not only" affirms: no negation, a hedge
    (f"{T}<answer>A as well as C</answer>", None, MULTI),
    (f"{T}It is not only the bark; so A.", 0, TH),
    (f"{T}<answer>A B C D</answer>", None, MULTI),
    (f"{T}<answer>A-D</answer>", None, MULTI),
    (f"{T}<answer>B or E</answer>", None, MULTI),  # hedging with a non-option still names two
    (f"{T}<answer>A. dog barking B. cat meowing C. bird singing D. car horn</answer>", None, MULTI),
    (f"{T}<answer>A</answer><answer>B</answer>", None, MULTI),
    ("<think>I write <answer>A</answer>, no:</think><answer>B</answer>", None, MULTI),
    (f"{T}<answer>C. or maybe D</answer>", None, MULTI),
    (f"{T}The answer is A and B.", None, MULTI),
    (f"{T}(A) or (B)", None, MULTI),
    (f"{T}Option A and option C are both plausible.", None, MULTI),
    ("The answer is A or B", None, MULTI),
    ("A. B. C. D.", None, MULTI),
    (f"{T}<answer>C. dog barking</answer>", None, CONFLICT),
    (f"{T}<answer>A. car horn</answer>", None, CONFLICT),  # "A." is a label, not the article
    (f"{T}<answer>(A) car horn</answer>", None, CONFLICT),
    (f"{T}<answer>C dog barking</answer>", None, CONFLICT),
    (f"{T}<answer>E</answer>", None, OOR),
    (f"{T}<answer>E. a cat</answer>", None, OOR),
    (
        f"{T}<answer>The sound is a dog barking</answer>",
        0,
        AT,
    ),  # one option's full text (issue 19; was UNPARSEABLE)
    (f"{T}<answer>dog barking cat meowing bird singing car horn</answer>", None, UNPARSEABLE),
    (f"{T}<answer>ABCD</answer>", None, UNPARSEABLE),
    (f"{T}<answer>I don't know</answer><answer>B</answer>", None, UNPARSEABLE),
    # no answer at all: capitals that are not answers
    ("", None, NONE),
    ("A cat meows loudly.", None, NONE),
    (f"{T}The answer is a cat meowing", 1, OT),  # a text after a cue (issue 19; was NONE)
    ("Take vitamin E.", None, NONE),  # out of range for four options
    ("It was recorded at 9 A.M. in a park", None, NONE),
    ("Vitamin C is good for you.", None, NONE),  # a capital after a noun, even before a verb
    ("Plan B is better here.", None, NONE),
    # negation: a rejected letter is never credited; one affirmed letter beside rejected ones is
    ("definitely not D", None, NEG),
    (f"{T}Not D.", None, NEG),
    (f"{T}<answer>not D</answer>", None, NEG),
    (f"{T}<answer>definitely not (B)</answer>", None, NEG),
    (f"{T}<answer>B is wrong</answer>", None, NEG),
    ("D is wrong.", None, NEG),
    (f"{T}Option C is clearly incorrect.", None, NEG),
    ("It isn't B.", None, NEG),
    ("The answer can't be A.", None, NEG),
    ("I don't think it's D.", None, NEG),  # within the clause: up to six words after the negation
    ("We can rule out A.", None, NEG),
    ("Anything but C.", None, NEG),
    ("Neither A nor B.", None, NEG),
    ("A and B are both wrong.", None, NEG),  # a rejection after a list covers the list
    (f"{T}<answer>not A or B</answer>", None, NEG),  # ... and before it
    ("not A, C", None, NEG),  # "not A, C" is read as a list: nothing affirmed
    ("It could be A. Definitely not A.", None, NEG),  # rejected anywhere in the statement
    ("答案不是B。", None, NEG),
    ("C rather than A", 2, LL),
    (f"{T}<answer>C rather than A</answer>", 2, AL),
    (f"{T}C, not A.", 2, TH),
    (f"{T}<answer>C, not A</answer>", 2, AL),
    ("The answer is C instead of A.", 2, LL),
    ("not A but C", 2, LL),
    (f"{T}<answer>Not A but D</answer>", 3, AL),
    ("Neither A nor B; it's C.", 2, LL),
    (f"{T}The answer is B. Option A is incorrect and D is ruled out.", 1, TH),
    ("A or B is wrong, so the answer is D.", 3, LL),
    ("The answer can't be D, so it is C.", 2, LL),
    (f"{T}C. Not B, not D, definitely not A.", 2, TH),
    ("B isn't it. The answer is A.", 0, LL),
    ("B; A is wrong.", 1, LL),  # a semicolon ends a list: the rejection covers A only
    ("The answer is definitely B, not D.", 1, LL),
    ("the answer is most likely C", 2, LL),
    (f"{T}The answer is C. It is not a dog barking (A) or a car horn (D).", 2, TH),
    ("D does not fit.", None, NEG),
    ("(D) can be ruled out.", None, NEG),
    ("答案不是B，是C", 2, LL),
    ("Not sure, but B.", 1, LL),  # the comma ends the negation's clause
    ("It doesn't bark so the answer is C.", 2, LL),  # and so does "so"
    ("There is no barking, so the answer is C.", 2, LL),
    (f"{T}<answer>A or B, not C</answer>", None, MULTI),  # a negation does not undo a hedge
    (f"{T}C rather than A, or maybe B", None, MULTI),
    # a sentence-initial capital before a comma, verb or conjunction is the letter; before a noun, the article
    ("A, given the hiss.", 0, LL),
    (f"{T}A seems right.", 0, TH),
    (f"{T}A is correct because it barks.", 0, TH),
    ("B because the tempo rises", 1, LL),
    (f"{T}So C fits best.", 2, TH),
    ("I think D would be the one.", 3, LL),
    ("Since it chirps, C is correct.", 2, LL),
    (f"{T}It's C \u2014 the bird.", 2, TH),
    ("- C matches the recording", 2, LL),
    (f"{T}A is a dog and C is a bird.", None, MULTI),
    ("Either B or A would fit.", None, MULTI),
    (f"{T}A dog barks.", None, NONE),
    ("A man speaks over a car horn.", 3, OT),  # one option's full text in a caption (issue 19; was NONE)
    ("A given recording can hold many sounds.", None, NONE),  # "given": not in the verb list
    ("I, for one, hear a bird.", None, NONE),  # "I," is the pronoun
    # a letter with its reason inside the block, closed or truncated
    (f"{T}<answer>D, since the tempo rises</answer>", 3, AL),
    (f"{T}<answer>C seems right as the hum", 2, AL),
    (f"{T}<answer>B because it meows</answer>", 1, AL),
    (f"{T}<answer>A, as the bark is clear", 0, AL),
    (f"{T}<answer>D: the horn honks twice</answer>", 3, AL),
    (f"{T}<answer>B since it meows, though A is possible</answer>", None, MULTI),
    # a label word with a lower-case letter; never a bare "a" or "i" in prose
    (f"{T}<answer>choice c</answer>", 2, AL),
    (f"{T}<answer>option b</answer>", 1, AL),
    (f"{T}<answer>Option (a)</answer>", 0, AL),
    ("the answer is option (c)", 2, LL),
    (f"{T}I'd go with choice d.", 3, TH),
    (f"{T}<answer>option a or option c</answer>", None, MULTI),
    (f"{T}<answer>options b and d</answer>", None, MULTI),
    ("The choice a listener would make is unclear.", None, NONE),
    ("the answer is c", 2, LL),  # lower case after an answer cue, ending the phrase
    ("Answer: (b)", 1, LL),
    (f"{T}the answer is d.", 3, TH),
    ("The answer is a", 0, LL),
    (f"{T}I choose b, since it meows.", 1, TH),
    ("the answer is a dog barking", 0, OT),  # the article, not the letter: the text (issue 19; was NONE)
    (f"{T}the answer is (a) or (c)", None, MULTI),
    (f"{T}answer: b or c", None, MULTI),
    ("i think a dog barks", None, NONE),
    # Unicode: read after NFKC, invisible characters dropped
    ("Ａ", 0, LL),
    (f"{T}<answer>Ｂ</answer>", 1, S),
    (f"{T}<answer>［Ｄ］</answer>", 3, S),
    (f"{T}<answer>（ｃ）</answer>", 2, S),
    (f"{T}答えは（Ｂ）です。", 1, TH),
    (f"{T}The answer is 𝖢.", 2, TH),  # mathematical sans-serif
    (f"{T}<answer>𝘋</answer>", 3, S),  # italic
    (f"{T}<answer>𝐀</answer>", 0, S),  # bold
    ("Final answer: 𝑩", 1, LL),  # bold italic
    ("正解はＣです", 2, LL),
    ("答案是B", 1, LL),
    (f"{T}答案：Ｃ。", 2, TH),
    (f"{T}<answer>\u200bB\u200d</answer>", 1, S),
    (f"{T}The answer\u00a0is\u00a0D.", 3, TH),
    (f"{T}<answer>Ａ或Ｂ</answer>", None, MULTI),
    (f"{T}<answer>Ｅ</answer>", None, OOR),
]

# option texts with articles: the letter-text agreement outside answer blocks
INSTRUMENTS = ["the trumpet", "the violin", "the piano", "the flute"]
INSTRUMENT_CASES: list[Case] = [
    ("So I pick D, the trumpet.", None, CONFLICT),
    ("I pick A, the trumpet.", 0, LL),
    (f"{T}The answer is B (the trumpet).", None, CONFLICT),
    (f"{T}The answer is the trumpet (A).", 0, TH),
    ("Final answer: the flute (C)", None, CONFLICT),
    (f"{T}<answer>D, the trumpet</answer>", None, CONFLICT),
    (f"{T}<answer>B, the violin, since it is bowed</answer>", 1, AL),
    ("The answer is C, i.e. the violin.", None, CONFLICT),
    (f"{T}Answer: C - violin", None, CONFLICT),
    ("The answer is D. The trumpet is not heard.", 3, LL),  # a sentence, not an option's whole text
    (f"{T}<answer>the piano</answer>", 2, AT),
    ("D: Trumpet", None, CONFLICT),
    ("B \u2014 violin", 1, LL),
    ("The answer is B: piano.", None, CONFLICT),
]

# option texts that contain letters: letters inside a matched option text are never answer letters
ROOMS = ["Room C", "Room A", "Room D", "Room B"]
ROOM_CASES: list[Case] = [
    ("Choice A: Room A", None, CONFLICT),  # option A by label, option B by text
    ("Choice B: Room A", 1, LL),  # label and text agree: one option
    (f"{T}<answer>Choice A: Room A</answer>", None, CONFLICT),
    (f"{T}<answer>Choice B: Room A</answer>", 1, AL),
    (f"{T}<answer>Room A</answer>", 1, AT),
    (f"{T}<answer>room c</answer>", 0, AT),
    (f"{T}<answer>C</answer>", 2, S),
    (f"{T}<answer>B. Room A</answer>", 1, AL),
    (f"{T}<answer>A. Room A</answer>", None, CONFLICT),
    (f"{T}<answer>D Room A</answer>", None, CONFLICT),
    (f"{T}<answer>A Room A</answer>", 1, AT),  # the article reading, as in "A car horn"
    ("I pick D (Room B).", 3, LL),
    ("I pick D (Room A).", None, CONFLICT),
    (f"{T}Room A, so the answer is B.", 1, TH),
    ("The answer is B, Room A, not Room C.", 1, LL),
    ("Room C", 0, OT),  # a bare option text is that option, not the letter C (issue 19; was NONE)
    (f"{T}The speaker is in Room C.", 0, OT),  # option A's text, not the letter C (issue 19; was NONE)
    (f"{T}<answer>Room A or Room B</answer>", None, UNPARSEABLE),
]

# red-team outputs in the styles of chatty, think-style and CJK models, on the same options
REDTEAM_CASES: list[Case] = [
    # LaTeX: \boxed{B} reads as (B), mid-sentence too; two boxes are a hedge
    ("The answer is $\\boxed{B}$ because the sound is a meow.", 1, LL),
    ("\\boxed{\\text{(B) cat meowing}}", 1, LL),
    ("Therefore, the answer is \\(\\boxed{D}\\).", 3, LL),
    (f"{T}<answer>\\boxed{{C}}</answer>", 2, AL),  # not the strict template
    ("\\boxed{A} or \\boxed{B}", None, MULTI),
    ("\\boxed{E}", None, NONE),
    # hedges with an adverb, a parenthetical second letter, the Oxford comma
    ("B or maybe C", None, MULTI),
    ("B or perhaps C.", None, MULTI),
    ("B (C is also possible)", None, MULTI),
    ("The answer is B (C is wrong).", 1, LL),
    ("It's not A, B, or C, so D.", 3, LL),
    ("A, B, and C are wrong, so D.", 3, LL),
    # an adverb before a sentence-initial letter
    ("Certainly B, not C or D.", 1, LL),
    ("Definitely B, not C.", 1, LL),
    # a capital named by the noun before it is no letter; after a copula or a lead-in it is
    ("I take vitamin C.", None, NONE),
    ("We went with plan B", None, NONE),
    ("The sound comes from Room B.", None, NONE),
    ("Speaker B. So A.", 0, LL),
    ("It is B.", 1, LL),
    ("My guess is B.", 1, LL),
    ("Prediction: B\nConfidence: high", 1, LL),
    (f"{T}A. dog barking B. cat meowing", None, MULTI),  # labels with their texts: a list, a hedge
    # CJK lists and rejections
    ("A和B都不对，选C。", 2, LL),
    ("Aではありません。", None, NEG),
    ("AではなくC。", 2, LL),
    ("排除A和D，答案是B。", 1, LL),
    ("可能是A或者B。", None, MULTI),
    # an option's text ending the phrase before a bracketed letter
    ("It sounds like a dog barking (B).", None, CONFLICT),
    ("It sounds like a cat meowing (B).", 1, LL),
    # option lists are no answer; an answer after a list is
    (
        "Let's analyze each option:\n\n- A. dog barking\n- B. cat meowing\n- C. bird singing\n- D. car horn",
        None,
        NONE,
    ),
    (
        "<think>Let me go through the options.\nA. dog barking: there is no bark.\nB. cat meowing: this",
        None,
        NONE,
    ),
    ("A. dog barking\nB. cat meowing\nC. bird singing\nD. car horn\nAnswer: B", 1, LL),
    # an answer given first, then explained (other letters in the explanation)
    (
        "**Answer: B) cat meowing**\n\nExplanation: A dog bark (A) would be lower, a car horn (D) steady.",
        1,
        LL,
    ),
    ("**Answer: B**\n\nOption A would sound deeper, and option C would be more melodic.", 1, LL),
    ("### Answer\n**B. cat meowing**\n\n### Reasoning\n- No barking (A) or honking (D) is heard.", 1, LL),
    ("The answer is B.\n\nA is wrong because there is no bark.", 1, LL),
    (f"{T}The answer is B.\n\nWhy not the others: A has no bark, C has no chirp and D has no honk.", 1, TH),
    ("The answer is B.\n\nActually, B is wrong; the answer is C.", 2, LL),  # a later cue corrects it
    ("The answer is B.\n\nB is wrong, it is C.", 2, LL),  # ... and so does a later rejection
    ("<think>The answer is A.\nHmm, the pitch is high, so it's B.", 1, LL),  # reasoning: the last letter
]

EMOTIONS = ["happy", "sad", "angry", "neutral"]
EMOTION_CASES: list[Case] = [
    ("The tone is angry (B).", None, CONFLICT),
    ("The tone is angry (C).", 2, LL),
    ("Not sad, not angry: neutral. D.", 3, LL),
]

# options that start with the article "A"
CAPTIONS = ["A man speaking", "A woman singing", "A child laughing", "A dog barking"]
CAPTION_CASES: list[Case] = [
    (f"{T}<answer>A woman singing</answer>", 1, AT),
    (f"{T}<answer>A. A woman singing</answer>", None, CONFLICT),
    ("The answer is B: A woman singing.", 1, LL),
    ("A woman singing.", 1, OT),  # an option's text outside a block is that option (issue 19; was NONE)
    ("A, a man speaking.", 0, LL),
]

# options that hold a negation: their own text is no rejection
NO_MUSIC = [
    "There is no music",
    "Music plays throughout",
    "Music does not start until the end",
    "Speech, not music",
]
NO_MUSIC_CASES: list[Case] = [
    ("The answer is C, music does not start until the end.", 2, LL),
    ("C: Music does not start until the end", 2, LL),
    ("There is no music, so A.", 0, LL),
    ("The answer is not C; it's A.", 0, LL),
    ("A - there is no music.", 0, LL),
    (f"{T}<answer>speech, not music</answer>", 3, AT),
]

YES_NO = ["Yes", "No"]
YES_NO_CASES: list[Case] = [
    ("No, the answer is A.", 0, LL),
    (f"{T}<answer>No</answer>", 1, AT),
    ("A (Yes), not B (No)", 0, LL),
    ("No.", 1, OT),  # the option's text (issue 19; was NONE)
    (f"{T}<answer>C</answer>", None, OOR),
]

TABLES: list[tuple[list[str], list[Case]]] = [
    (CHOICES, REDTEAM_CASES),
    (EMOTIONS, EMOTION_CASES),
    (CAPTIONS, CAPTION_CASES),
    (NO_MUSIC, NO_MUSIC_CASES),
    (YES_NO, YES_NO_CASES),
    (CHOICES, CASES),
    (INSTRUMENTS, INSTRUMENT_CASES),
    (ROOMS, ROOM_CASES),
]
ALL_CASES: list[tuple[list[str], str, int | None, str]] = [
    (choices, *case) for choices, cases in TABLES for case in cases
]
