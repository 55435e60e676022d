"""Synthetic English question text for the offline builders: AudioMCQ-style questions and options
(`synthetic_items`), and the corpus the tiny BPE tokenizer is trained on (`tokenizer_corpus`).

The text must read like real items, not random words, because the filter benchmark compares costs that
scale with token counts: the tokenizer trained on this text must split English the way a real Qwen
tokenizer does (~1.3 tokens per word).
"""

from __future__ import annotations

import random

_SOURCES = """dog|cat|car engine|motorcycle|train|church bell|violin|piano|electric guitar|drum kit|female speaker
|male speaker|child|crowd|bird|rooster|thunderstorm|waterfall|vacuum cleaner|siren|helicopter|typewriter|door
|clock|saxophone|choir|baby|sheep|frog|lawn mower|hair dryer|kettle|airplane|bus|trumpet|cello|flute|harp
|accordion|banjo|harmonica|organ|synthesizer|bass guitar|tambourine|xylophone|marimba|clarinet|trombone|tuba
|orchestra|string quartet|jazz band|rock band|brass section|drum machine|turntable|radio host|news anchor
|narrator|teenager|elderly man|elderly woman|toddler|audience|teacher|student|customer|waiter|police officer
|firefighter|pilot|conductor|announcer|commentator|vendor|crow|owl|pigeon|seagull|duck|goose|chicken|horse
|cow|pig|goat|donkey|wolf|lion|elephant|monkey|cricket|bee|mosquito|whale|dolphin|ambulance|fire truck
|garbage truck|tractor|bulldozer|jackhammer|chainsaw|drill|hammer|saw|sewing machine|printer|keyboard
|telephone|smartphone|alarm clock|doorbell|microwave|dishwasher|washing machine|refrigerator|blender|toaster
|faucet|shower|toilet|fountain|river|ocean wave|stream|rainstorm|hailstorm|blizzard|campfire|fireworks
|gunshot|explosion|engine|subway|tram|ferry|sailboat|speedboat|skateboard|bicycle|scooter|truck|van
|steam locomotive|escalator|elevator|ventilation system|air conditioner|heater|wind chime|bell tower
|grandfather clock|metronome|cash register|vending machine|slot machine|pinball machine|video game""".replace(
    "\n", ""
).split("|")
_ADJ = """loud|faint|distant|rhythmic|muffled|sharp|steady|intermittent|high-pitched|low|echoing|soft|harsh
|melodic|repetitive|sudden|continuous|gentle|noisy|quiet|bright|dark|warm|cold|metallic|wooden|hollow|deep
|shrill|raspy|smooth|rough|crisp|dull|booming|thin|thick|resonant|reverberant|dry|wet|fast|slow|brief|long
|irregular|regular|periodic|chaotic|calm|tense|cheerful|melancholic|aggressive|peaceful|playful|anxious
|excited|bored|angry|sad|happy|nervous|confident|hesitant|whispered|amplified|distorted|clean|compressed
|layered|sparse|dense|busy|empty|crowded|urban|rural|natural|artificial|electronic|acoustic|mechanical
|organic|synthetic|ancient|modern|traditional|experimental|classical|folk|ambient|energetic|relaxed
|dramatic|subtle|obvious|mysterious|familiar|strange|unusual|ordinary|pleasant|unpleasant""".replace(
    "\n", ""
).split("|")
_VERBS = """barking|idling|passing by|ringing|playing a melody|speaking|laughing|singing|chirping|rumbling
|humming|whistling|clicking|knocking|ticking|crying|shouting|whispering|coughing|sneezing|clapping
|stomping|running|walking|breathing|snoring|purring|growling|howling|hissing|buzzing|beeping|honking
|screeching|squeaking|rattling|clanging|banging|crashing|splashing|dripping|pouring|sizzling|crackling
|popping|tapping|scraping|rustling|flapping|accelerating|braking|starting up|shutting down|vibrating
|echoing|fading away|growing louder|repeating a phrase|counting numbers|reading aloud|giving directions
|telling a story|making an announcement|calling for help|tuning an instrument|practicing scales""".replace(
    "\n", ""
).split("|")
_PLACES = """in a busy street|inside a small room|near a river|in a large hall|at a train station|in a forest
|on a windy beach|in an office|in a kitchen|during a concert|in a park|in a parking garage|on a farm
|in a classroom|inside a moving vehicle|in a cathedral|in a stadium|at an airport|in a shopping mall
|in a restaurant|in a hospital|in a library|in a factory|on a construction site|in a subway tunnel
|at a harbor|on a mountain trail|in a cave|in a recording studio|in a living room|in a bathroom
|in a garden|in a backyard|at a playground|at a market|at a wedding|at a sports game|in a gym
|in a swimming pool|in a laboratory|on a balcony|in a courtyard|near a highway|under a bridge""".replace(
    "\n", ""
).split("|")
_BACKGROUND = """rain falls steadily|people talk quietly|wind blows across the microphone|traffic hums
|music plays softly|water drips|footsteps approach|a fan whirs|birds sing|machinery operates|applause rises
|a television murmurs|dishes clatter|children play nearby|leaves rustle|an engine idles|thunder rolls
|a dog barks occasionally|a phone rings twice|a crowd cheers|waves crash|insects buzz|a door slams
|someone types on a keyboard|a kettle whistles|glasses clink|a bell tolls|an alarm beeps""".replace(
    "\n", ""
).split("|")
_ASKS = """which sound source is most prominent throughout the recording
|what is the most likely setting where this audio was captured|which event happens first in the clip
|what emotion does the speaker most likely convey|which instrument carries the main melody
|how does the loudness of the main sound change over time|what is the most plausible cause of the background noise
|which description best matches the overall acoustic scene|how many distinct sound events can be identified
|what is the approximate tempo of the music|what genre best describes the music
|what is the speaker's most likely intention|which sound occurs last|what is the relationship between the two speakers
|what kind of weather is suggested by the sounds|what activity is most likely taking place
|which animal can be heard in the background|what is the gender of the main speaker
|how would you describe the recording quality|what is the most likely time of day
|which object is producing the repetitive sound|what mood does the music create""".replace("\n", "").split(
    "|"
)
# Common English words for chain-of-thought-like filler, so the tokenizer's vocabulary is English-wide.
_COMMON = """the of and to in is that it was for on are as with his they at be this from have or by one had
not but what all were when we there can an your which their said if do will each about how up out them then
she many some so these would other into has more her two like him see time could no make than first been
its who now people my made over did down only way find use may water long little very after words called
just where most know get through back much go good new write our me man too any day same right look think
also around another came come work three word must because does part even place well such here take why
things help put years different away again off went old number great tell men say small every found still
between name should home big give air line set own under read last never us left end along while might next
sound below saw something thought both few those always looked show large often together asked house
world going want school important until form food keep children feet land side without boy once animals life
enough took sometimes four head above kind began almost live page got earth need far hand high year mother
light parts country father let night following picture being study second eyes soon times story boys since
white days ever paper hard near sentence better best across during today others however sure means knew
try told young miles sun ways thing whole hear example heard several change answer room sea against top
turned learn point city play toward five using himself usually money seen car morning body upon family
later turn move face door cut done group true leave color red friends easy question questions clear
evidence suggests indicates likely unlikely therefore because although whereas option options choice correct
incorrect reasoning analysis audio clip recording listener speaker sounds background foreground frequency
pitch volume duration rhythm tempo melody harmony timbre texture genre instrument vocal voice tone emotion
environment scene location event events sequence order before after during simultaneously overlapping
distinct identify describe determine compare contrast consider notice observe detect recognize conclude
infer estimate measure count rank select eliminate remaining plausible implausible consistent inconsistent
matches contradicts supports confirms excludes primary secondary dominant subtle prominent noticeable
audible inaudible present absent throughout beginning middle ending gradually suddenly repeatedly briefly
continuously occasionally mostly rarely clearly partially strongly weakly approximately exactly roughly
indoor outdoor natural human animal vehicle machine weather nature speech music noise silence echo
reverberation distortion quality loudness softness brightness darkness warmth coldness speed slowness
beat bars measures chorus verse bridge solo accompaniment lyrics language accent dialect conversation
interview lecture podcast broadcast advertisement announcement warning instruction request greeting
farewell apology complaint compliment question statement exclamation laughter crying shouting singing
whistling humming breathing footsteps traffic engines machines tools appliances animals birds insects
""".split()  # noqa: SIM905 (a word list reads better as text)
_CONNECTIVES = [
    "First,",
    "Next,",
    "Then,",
    "Also,",
    "However,",
    "Therefore,",
    "Because",
    "Although",
    "Since",
    "Overall,",
]


_OPENERS = [
    "Listen carefully to the audio clip.",
    "Consider the recording you just heard.",
    "Pay attention to both the foreground and the background sounds.",
    "Think about the acoustic details of the clip.",
    "Focus on the sequence of events.",
    "",
]


def _words(s: str) -> int:
    return len(s.split())


def synthetic_question(rng: random.Random, min_words: int = 25, max_words: int = 40) -> str:
    """An English audio question of `min_words`–`max_words` words, in the style of AudioMCQ items."""
    while True:
        src, adj, verb, place = (
            rng.choice(_SOURCES),
            rng.choice(_ADJ),
            rng.choice(_VERBS),
            rng.choice(_PLACES),
        )
        parts = [
            rng.choice(_OPENERS),
            f"In this recording a {adj} {src} can be heard {verb} {place} while {rng.choice(_BACKGROUND)}.",
        ]
        if rng.random() < 0.6:
            parts.append(f"Later, a {rng.choice(_ADJ)} {rng.choice(_SOURCES)} joins the scene.")
        parts.append(f"Based on what you hear, {rng.choice(_ASKS)}?")
        q = " ".join(p for p in parts if p)
        if min_words <= _words(q) <= max_words:
            return q


def synthetic_option(rng: random.Random, min_words: int = 2, max_words: int = 6) -> str:
    """A 2–6 word answer option."""
    while True:
        form = rng.randrange(5)
        if form == 0:
            o = f"A {rng.choice(_ADJ)} {rng.choice(_SOURCES)}"
        elif form == 1:
            o = f"The {rng.choice(_SOURCES)} {rng.choice(_VERBS)}"
        elif form == 2:
            o = f"{rng.choice(_PLACES).capitalize()}"
        elif form == 3:
            o = f"{rng.choice(_SOURCES).capitalize()} and {rng.choice(_SOURCES)}"
        else:
            o = (
                f"It becomes {rng.choice(_ADJ)}er"
                if rng.random() < 0.3
                else f"{rng.choice(_ADJ).capitalize()} and {rng.choice(_ADJ)}"
            )
        if min_words <= _words(o) <= max_words:
            return o


def synthetic_items(n: int, seed: int = 0, num_choices: int = 4) -> list[tuple[str, list[str], int]]:
    """`n` (question, choices, answer_index) triples of realistic length; distinct choices per item."""
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        q = synthetic_question(rng)
        choices: list[str] = []
        while len(choices) < num_choices:
            o = synthetic_option(rng)
            if o not in choices:
                choices.append(o)
        items.append((q, choices, rng.randrange(num_choices)))
    return items


def _filler_sentence(rng: random.Random) -> str:
    words = [w.capitalize() if rng.random() < 0.25 else w for w in rng.sample(_COMMON, rng.randint(8, 16))]
    return f"{rng.choice(_CONNECTIVES)} {' '.join(words)}."


def tokenizer_corpus(n_items: int = 3000, seed: int = 1234) -> list[str]:
    """Training text: questions, options, and the prompt scaffolding the adapters render (letters lists,
    the R1-AQA list-repr prompt, <think>/<answer> replies), so their frequent pieces get merged."""
    rng = random.Random(seed)
    lines = []
    for q, choices, ans in synthetic_items(n_items, seed=seed):
        letter = "ABCD"[ans]
        lines.append(q)
        lines.append("\n".join(f"{'ABCD'[i]}. {c}" for i, c in enumerate(choices)))
        lines.append(
            f"{q} Please choose the answer from the following options: {choices!r}. "
            "Output the final answer in <answer> </answer>."
        )
        lines.append("Answer with the option's letter from the given choices directly.")
        lines.append(f"<think>The clip contains {choices[ans].lower()}, so the answer is {letter}.</think>")
        lines.append(" ".join(_filler_sentence(rng) for _ in range(3)))
        lines.append(f"<answer>{letter}</answer> <answer>{choices[ans]}</answer> {letter}. {choices[ans]}")
        if rng.random() < 0.2:
            lines.append(
                "You are an audio understanding model that answers multiple choice questions based on audio content."
            )
    return lines
