"""Offline, random-weight models and a trained BPE tokenizer for tests, benchmarks and the offline demo.

Building the tiny random-weight models every offline
test, benchmark and the demo load.

There is no model hub here (and a user's first run may have none either), so everything a test or a
benchmark loads is built from configs and saved with `save_pretrained`; `from_pretrained(out_dir)` then
works exactly as it does for a real checkpoint, through transformers and through vLLM.

Why a *trained* BPE tokenizer rather than a byte-level one: the filter benchmark compares costs that
scale with token counts (a 750-token silent clip against a question suffix), so the suffix must be
tokenized the way a real Qwen tokenizer would (~1.3 tokens per English word, not ~5 bytes). The
tokenizer uses Qwen2's pre-tokenizer regex and byte-level alphabet, and Qwen's special tokens appended
after the learned vocabulary (the order Qwen uses, ids shifted down), so boundary effects such as a
`>` merging with a following letter (docs/models.md#tokenizer-boundary) reproduce here.

Sizes: "tiny" (~2M parameters, a forward in milliseconds) for tests; "bench" (≥20M parameters, so model
compute rather than Python overhead dominates) for benchmarks. Every attention head is 64 wide because
vLLM's CPU kernels support only some head sizes (docs/models.md#vllm).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

# Qwen's special tokens, in Qwen's id order (151643...), appended after the learned vocabulary; then
# Audio Flamingo 3's placeholder, so one tokenizer serves every tiny model.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|AUDIO|>",
    "<|audio_bos|>",
    "<|audio_eos|>",
    "<|vision_bos|>",
    "<|vision_eos|>",
    "<|IMAGE|>",
    "<|VIDEO|>",
    "<sound>",  # Audio Flamingo 3's audio placeholder
]

# A Qwen2-Audio-Instruct-like chat template: string or list content; an audio part renders as
# "Audio N: <|audio_bos|><|AUDIO|><|audio_eos|>\n" (the single placeholder is expanded to one token per
# audio frame by whoever tokenizes: our adapters, or vLLM's processor).
CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'audio' or 'audio' in content or 'audio_url' in content %}"
    "{% set audio_count.value = audio_count.value + 1 %}"
    "Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif 'text' in content %}"
    "{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "<|im_start|>assistant\n"
    "{% endif %}"
)

# ----------------------------------------------------------------------------- realistic question text
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


def _corpus(n_items: int = 3000, seed: int = 1234) -> list[str]:
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


# ---------------------------------------------------------------------------------------- tokenizer
def train_bpe_tokenizer(
    out_dir: str | Path | None = None, vocab_size: int = 4096, corpus: list[str] | None = None
):
    """Train a Qwen2-style byte-level BPE on realistic question text and wrap it as a transformers fast
    tokenizer (`Qwen2Tokenizer`) with Qwen's special tokens and a Qwen-like chat template.

    `vocab_size` counts the learned vocabulary; the special tokens come after it (len(tok) is
    vocab_size + len(SPECIAL_TOKENS)). Saved with `save_pretrained` when `out_dir` is given. Returns the
    tokenizer. Deterministic for a given corpus and size.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus if corpus is not None else _corpus(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    vocab: dict[str, int] = model["vocab"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    n = len(vocab)
    for i, t in enumerate(SPECIAL_TOKENS):  # Qwen order, after the learned vocabulary
        vocab[t] = n + i

    hf = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={
            "audio_token": "<|AUDIO|>",
            "audio_bos_token": "<|audio_bos|>",
            "audio_eos_token": "<|audio_eos|>",
        },
        model_max_length=32768,
    )
    hf.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
    hf.chat_template = CHAT_TEMPLATE
    for t in SPECIAL_TOKENS:
        assert hf.convert_tokens_to_ids(t) == vocab[t], t
    if out_dir is not None:
        hf.save_pretrained(str(out_dir))
    return hf


def _feature_extractor(window_s: int = 30):
    """Qwen2-Audio's and Qwen2.5-Omni's audio front end: Whisper log-mel, 128 bins, 16 kHz, 30 s window."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(
        feature_size=128,
        sampling_rate=16000,
        hop_length=160,
        chunk_length=window_s,
        n_fft=400,
        padding_value=0.0,
    )


# The two sizes. Every attention head is 64 wide (vLLM CPU kernels); "bench" is ≥20M parameters.
_SIZES = {
    "tiny": {
        "hidden": 128,
        "layers": 2,
        "heads": 2,
        "kv_heads": 1,
        "ffn": 384,
        "a_dim": 128,
        "a_layers": 2,
        "a_heads": 2,
        "a_ffn": 256,
    },
    "bench": {
        "hidden": 512,
        "layers": 6,
        "heads": 8,
        "kv_heads": 2,
        "ffn": 1536,
        "a_dim": 256,
        "a_layers": 4,
        "a_heads": 4,
        "a_ffn": 1024,
    },
}


def _size(size: str) -> dict:
    try:
        return _SIZES[size]
    except KeyError:
        raise ValueError(f"size must be one of {sorted(_SIZES)}, not {size!r}") from None


def _generation_config(tokenizer):
    from transformers import GenerationConfig

    eos = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    return GenerationConfig(eos_token_id=eos, pad_token_id=eos[1], do_sample=False)


def hub_layout(path: Path) -> Path:
    """Rewrite a from-scratch Qwen2-Audio checkpoint into the key layout real checkpoints have.

    transformers 5.19 saves a model built from a config as `language_model.model.model.*` (it reverses
    two renaming rules); real Qwen2-Audio checkpoints, and vLLM, use `language_model.model.*`.
    transformers loads either, so the builder writes the real layout and every engine can load it.
    """
    from safetensors.torch import load_file, save_file

    f = Path(path) / "model.safetensors"
    state = load_file(str(f))
    if any(k.startswith("language_model.model.model.") for k in state):
        state = {
            k.replace("language_model.model.model.", "language_model.model.", 1): v for k, v in state.items()
        }
        save_file(state, str(f), metadata={"format": "pt"})
    return Path(path)


def _text_config(tok, s: dict, **extra) -> dict:
    """The Qwen2 language-model config every tiny LALM shares; `extra` adds or overrides keys."""
    return {
        "vocab_size": len(tok),
        "hidden_size": s["hidden"],
        "intermediate_size": s["ffn"],
        "num_hidden_layers": s["layers"],
        "num_attention_heads": s["heads"],
        "num_key_value_heads": s["kv_heads"],
        "max_position_embeddings": 8192,
        "tie_word_embeddings": False,
        "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tok.convert_tokens_to_ids("<|endoftext|>"),
        **extra,
    }


def build_tiny_qwen2_audio(
    out_dir: str | Path, size: str = "tiny", seed: int = 0, tokenizer=None, audio_window_s: int = 30
) -> Path:
    """A random-weight `Qwen2AudioForConditionalGeneration` + `Qwen2AudioProcessor` saved to `out_dir`.

    `from_pretrained(out_dir)` works for the model (transformers and vLLM), `AutoProcessor` and
    `AutoTokenizer`. The config's `audio_token_index` is the tokenizer's `<|AUDIO|>` id. Pass a
    `tokenizer` to reuse one (training takes ~1 s). `audio_window_s`: the encoder's input window
    (Qwen2-Audio's is 30 s: every clip is padded to 3,000 mel frames); a shorter one makes a model for
    short clips far cheaper per clip (the trainer benchmark's 1 s tones use 2 s). Returns `out_dir`.
    """
    import torch
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor

    s = _size(size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer if tokenizer is not None else train_bpe_tokenizer()
    audio_id = tok.convert_tokens_to_ids("<|AUDIO|>")
    config = Qwen2AudioConfig(
        audio_config={
            "num_mel_bins": 128,
            "encoder_layers": s["a_layers"],
            "encoder_attention_heads": s["a_heads"],
            "encoder_ffn_dim": s["a_ffn"],
            "d_model": s["a_dim"],
            "max_source_positions": 50 * audio_window_s,  # the encoder expects exactly this x 2 mel frames
        },
        text_config=_text_config(
            tok, s, model_type="qwen2", bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>")
        ),
        audio_token_index=audio_id,
        ignore_index=-100,  # read by transformers' single-<|AUDIO|> expansion path (ms-swift's) with labels
    )
    torch.manual_seed(seed)
    model = Qwen2AudioForConditionalGeneration(config).eval()
    model.generation_config = _generation_config(tok)
    model.save_pretrained(str(out))
    hub_layout(out)
    processor = Qwen2AudioProcessor(
        feature_extractor=_feature_extractor(audio_window_s), tokenizer=tok, chat_template=CHAT_TEMPLATE
    )
    processor.save_pretrained(str(out))
    processor.feature_extractor.save_pretrained(str(out))  # preprocessor_config.json, for older loaders
    return out


def build_tiny_qwen2_text(out_dir: str | Path, size: str = "tiny", seed: int = 0, tokenizer=None) -> Path:
    """A random-weight text-only `Qwen2ForCausalLM` (the language model the tiny Qwen2-Audio uses) and
    its tokenizer, saved to `out_dir`: what the trainer's comparison with TRL trains (TRL has no audio
    path). Returns `out_dir`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    s = _size(size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer if tokenizer is not None else train_bpe_tokenizer()
    config = Qwen2Config(**_text_config(tok, s, bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>")))
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).eval()
    model.generation_config = _generation_config(tok)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


def build_tiny_qwen25_omni_thinker(
    out_dir: str | Path, size: str = "tiny", seed: int = 0, tokenizer=None
) -> Path:
    """A random-weight `Qwen2_5OmniThinkerForConditionalGeneration` saved to `out_dir` with the tokenizer
    and a `WhisperFeatureExtractor` (no `Qwen2_5OmniProcessor`: it needs torchvision, which cannot be
    installed next to the CPU torch; our adapter computes features and expands `<|AUDIO|>` itself).

    The vision tower is the smallest the config allows (it is never used for audio questions). Returns
    `out_dir`.
    """
    import torch
    from transformers import Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerForConditionalGeneration

    s = _size(size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer if tokenizer is not None else train_bpe_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    head_dim = s["hidden"] // s["heads"]
    section = [head_dim // 8, (head_dim // 2 - head_dim // 8) // 2]
    section.append(
        head_dim // 2 - sum(section)
    )  # [t, h, w] halves summing to head_dim / 2, as Qwen's 16/24/24
    config = Qwen2_5OmniThinkerConfig(
        audio_config={
            "num_mel_bins": 128,
            "encoder_layers": s["a_layers"],
            "encoder_attention_heads": s["a_heads"],
            "encoder_ffn_dim": s["a_ffn"],
            "d_model": s["a_dim"],
            "max_source_positions": 1500,
            "n_window": 100,
            "output_dim": s["hidden"],
        },
        vision_config={
            "depth": 1,
            "hidden_size": 64,
            "intermediate_size": 64,
            "num_heads": 1,
            "out_hidden_size": s["hidden"],
            "fullatt_block_indexes": [0],
        },
        text_config=_text_config(
            tok,
            s,
            bos_token_id=ids["<|endoftext|>"],
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": section},
        ),
        audio_token_index=ids["<|AUDIO|>"],
        image_token_index=ids["<|IMAGE|>"],
        video_token_index=ids["<|VIDEO|>"],
        audio_start_token_id=ids["<|audio_bos|>"],
        audio_end_token_id=ids["<|audio_eos|>"],
        vision_start_token_id=ids["<|vision_bos|>"],
        vision_end_token_id=ids["<|vision_eos|>"],
        user_token_id=tok.convert_tokens_to_ids("user") if "user" in tok.get_vocab() else ids["<|im_start|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2_5OmniThinkerForConditionalGeneration(config).eval()
    model.generation_config = _generation_config(tok)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    _feature_extractor().save_pretrained(str(out))
    return out


def build_tiny_audio_flamingo3(
    out_dir: str | Path, size: str = "tiny", seed: int = 0, tokenizer=None
) -> Path:
    """A random-weight `AudioFlamingo3ForConditionalGeneration` + `AudioFlamingo3Processor` saved to
    `out_dir` (`<sound>` is the audio placeholder; 30 s windows of Whisper-128 features). Returns `out_dir`."""
    import torch
    from transformers import (
        AudioFlamingo3Config,
        AudioFlamingo3ForConditionalGeneration,
        AudioFlamingo3Processor,
    )

    s = _size(size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer if tokenizer is not None else train_bpe_tokenizer()
    config = AudioFlamingo3Config(
        audio_config={
            "num_mel_bins": 128,
            "num_hidden_layers": s["a_layers"],
            "num_attention_heads": s["a_heads"],
            "intermediate_size": s["a_ffn"],
            "hidden_size": s["a_dim"],
            "max_source_positions": 1500,
        },
        text_config=_text_config(tok, s, model_type="qwen2"),
        audio_token_id=tok.convert_tokens_to_ids("<sound>"),
    )
    torch.manual_seed(seed)
    model = AudioFlamingo3ForConditionalGeneration(config).eval()
    model.generation_config = _generation_config(tok)
    model.save_pretrained(str(out))
    processor = AudioFlamingo3Processor(
        feature_extractor=_feature_extractor(), tokenizer=tok, chat_template=CHAT_TEMPLATE
    )
    processor.save_pretrained(str(out))
    processor.feature_extractor.save_pretrained(str(out))
    return out


def count_parameters(path_or_model) -> int:
    """Parameter count of a model object or of the safetensors saved under a directory."""
    if hasattr(path_or_model, "parameters"):
        return sum(p.numel() for p in path_or_model.parameters())
    from safetensors import safe_open

    total = 0
    for f in Path(path_or_model).glob("*.safetensors"):
        with safe_open(str(f), "pt") as st:
            total += sum(math.prod(st.get_slice(k).get_shape()) for k in st.keys())  # noqa: SIM118 (safe_open is not iterable)
    return total


def build_demo_models(out_dir: str | Path, size: str = "tiny") -> dict[str, Path]:
    """The offline demo panel's models (`pipelines/panels/tiny.yaml`): two Qwen2-Audio with different
    seeds and one Qwen2.5-Omni thinker, sharing one tokenizer. Returns name -> path."""
    out = Path(out_dir)
    tok = train_bpe_tokenizer()
    return {
        "qwen2-audio-s0": build_tiny_qwen2_audio(out / "qwen2-audio-s0", size=size, seed=0, tokenizer=tok),
        "qwen2-audio-s1": build_tiny_qwen2_audio(out / "qwen2-audio-s1", size=size, seed=1, tokenizer=tok),
        "qwen25-omni-thinker-s0": build_tiny_qwen25_omni_thinker(
            out / "qwen25-omni-thinker-s0", size=size, seed=0, tokenizer=tok
        ),
    }
