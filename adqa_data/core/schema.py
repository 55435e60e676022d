"""The Arrow schema of every table the toolkit writes, with its version.

Every stage reads and writes through here (`workspace.write_table_atomic` / `workspace.read_table` check
it), so a table's layout is defined once. A schema version is stored in each Parquet file's metadata under
`adqa.table` / `adqa.schema_version`; readers refuse files of another table or version with a clear error.

Tables, in the order data flows:
    probes      one row per distinct audio file: what decoding it found (download)
    items       the canonical item table (download)
    quarantine  rows a stage refused, with a reason code and the original line (every stage)
    codes       RVQ codes per (audio content, codec) (encode)
    code_index  item -> codes key (encode)
    votes       one panel answer per (model, item, condition, permutation) (filter)
    filter_audit a vote against the member's generated answer, on --audit items (filter)
    item_scores audio contribution per item, the vote and the split (filter)
    prompts     the sampled prompt set (sample)
    rollouts    one row per completion, written whole group by whole group (rollout)
    predictions one row per (item, condition, sample) a model answered (eval)
    audio_fingerprints  a spectral fingerprint per distinct audio file (check-leakage)
    leakage     training items whose audio or question also appears in a dev/eval set (check-leakage)
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

META_TABLE = b"adqa.table"
META_VERSION = b"adqa.schema_version"


@dataclass(frozen=True)
class TableSpec:
    name: str
    version: int
    schema: pa.Schema
    doc: str = ""

    def with_metadata(self) -> pa.Schema:
        meta = dict(self.schema.metadata or {})
        meta[META_TABLE] = self.name.encode()
        meta[META_VERSION] = str(self.version).encode()
        return self.schema.with_metadata(meta)

    def empty(self) -> pa.Table:
        return self.with_metadata().empty_table()

    def from_pylist(self, rows: list[dict]) -> pa.Table:
        return pa.Table.from_pylist(rows, schema=self.with_metadata())


TABLES: dict[str, TableSpec] = {}


def _register(spec: TableSpec) -> TableSpec:
    TABLES[spec.name] = spec
    return spec


# --------------------------------------------------------------------------------------------- download
PROBES = _register(
    TableSpec(
        "probes",
        1,
        pa.schema(
            [
                pa.field("audio_path", pa.string(), nullable=False),  # relative to the dataset root
                pa.field("size_bytes", pa.int64()),
                pa.field("mtime_ns", pa.int64()),
                pa.field("sha256", pa.string()),
                pa.field("duration_s", pa.float64()),
                pa.field("sample_rate", pa.int32()),
                pa.field("num_channels", pa.int16()),
                pa.field("num_frames", pa.int64()),
                pa.field("format", pa.string()),  # libsndfile container, e.g. WAV, FLAC, OGG, MP3
                pa.field("error_reason", pa.string()),  # null when the file decoded whole
                pa.field("error_detail", pa.string()),
            ]
        ),
        "One row per distinct audio file, decoded once: content hash, true duration, or why it failed.",
    )
)

ITEMS = _register(
    TableSpec(
        "items",
        1,
        pa.schema(
            [
                pa.field("item_id", pa.string(), nullable=False),
                pa.field("dataset", pa.string(), nullable=False),  # workspace name of the download
                pa.field("split", pa.string(), nullable=False),  # upstream split: train / dev / eval
                pa.field("source_dataset", pa.string()),  # upstream corpus, e.g. AudioCaps
                pa.field("question_type", pa.string()),
                pa.field("question", pa.string(), nullable=False),
                pa.field("choices", pa.list_(pa.string()), nullable=False),
                pa.field("answer_index", pa.int8()),  # null when the answer is withheld (eval sets)
                pa.field("answer_text", pa.string()),
                pa.field("audio_path", pa.string(), nullable=False),  # relative to the dataset root
                pa.field("audio_sha256", pa.string(), nullable=False),
                pa.field("duration_s", pa.float64(), nullable=False),
                pa.field("sample_rate", pa.int32(), nullable=False),
                pa.field("num_channels", pa.int16(), nullable=False),
                pa.field("cot", pa.string()),  # reference chain of thought, when upstream has one
                pa.field("row_index", pa.int64(), nullable=False),  # 0-based line/row in the source file
                pa.field("upstream_json", pa.string()),  # upstream columns we do not model, verbatim JSON
            ]
        ),
        "The canonical item table every later stage reads.",
    )
)

QUARANTINE = _register(
    TableSpec(
        "quarantine",
        1,
        pa.schema(
            [
                pa.field("dataset", pa.string(), nullable=False),
                pa.field("stage", pa.string(), nullable=False),
                pa.field("row_index", pa.int64()),
                pa.field("item_id", pa.string()),
                pa.field("reason", pa.string(), nullable=False),  # a code from QuarantineReason
                pa.field("detail", pa.string()),
                pa.field("raw", pa.string()),  # the original line or row, verbatim
            ]
        ),
        "Rows a stage refused, with a reason code; nothing is dropped silently.",
    )
)


class QuarantineReason:
    """Reason codes. Stable strings: users filter and count by them."""

    INVALID_JSON = "invalid_json"
    MISSING_FIELD = "missing_field"
    BAD_FIELD = "bad_field"  # a field of the wrong type or shape
    TOO_FEW_CHOICES = "too_few_choices"
    DUPLICATE_CHOICES = "duplicate_choices"
    ANSWER_NOT_IN_CHOICES = "answer_not_in_choices"
    DUPLICATE_ID = "duplicate_id"
    ABSOLUTE_PATH = "absolute_path"
    PATH_ESCAPES_ROOT = "path_escapes_root"
    LINK_ESCAPES_ROOT = "link_escapes_root"
    AUDIO_MISSING = "audio_missing"
    AUDIO_UNREADABLE = "audio_unreadable"
    AUDIO_TRUNCATED = "audio_truncated"
    AUDIO_EMPTY = "audio_empty"
    AUDIO_CHANGED = "audio_changed"  # a later stage: the file's bytes no longer match the item's audio_sha256
    AUDIO_NOT_A_FILE = "audio_not_a_file"  # a FIFO, device or folder where an audio file should be
    AUDIO_TOO_LONG = "audio_too_long"  # declared or decoded length over --max-audio-seconds
    AUDIO_NONFINITE = "audio_nonfinite"  # a float file with inf or NaN samples (it would poison a model)
    TOO_MANY_CHOICES = "too_many_choices"  # more options than --max-options (at most the 10 letters A-J)
    TEXT_TOO_LONG = "text_too_long"  # question plus options over --max-text-chars
    PROMPT_TOO_LONG = "prompt_too_long"  # model stages: prompt text over --max-prompt-tokens of the model
    ENCODE_FAILED = "encode_failed"  # encode: the codec raised on this clip alone
    ANSWER_WITHHELD = "answer_withheld"  # filter: no gold answer (eval sets), so no audio contribution


# ----------------------------------------------------------------------------------------------- encode
CODES = _register(
    TableSpec(
        "codes",
        1,
        pa.schema(
            [
                pa.field("audio_sha256", pa.string(), nullable=False),
                pa.field("codec_key", pa.string(), nullable=False),  # codec fingerprint + N + rate
                pa.field("num_codebooks", pa.int16(), nullable=False),
                pa.field("num_frames", pa.int32(), nullable=False),
                # row-major [num_codebooks, num_frames]; uint16 whenever every codebook has <= 65536 entries
                pa.field("codes", pa.list_(pa.uint16())),
                pa.field("codes_wide", pa.list_(pa.int32())),  # used instead when a codebook is larger
                # sha256 of the entry's codes (`codecs.cache.entry_hash`), checked when the entry is loaded;
                # null in shards written before it existed (those entries are not checked)
                pa.field("codes_sha256", pa.string()),
            ]
        ),
        "Content-addressed RVQ codes: byte-identical audio is encoded once per codec setting.",
    )
)

CODE_INDEX = _register(
    TableSpec(
        "code_index",
        1,
        pa.schema(
            [
                pa.field("dataset", pa.string(), nullable=False),
                pa.field("item_id", pa.string(), nullable=False),
                pa.field("audio_sha256", pa.string(), nullable=False),
                pa.field("codec_key", pa.string(), nullable=False),
                pa.field("num_codebooks", pa.int16(), nullable=False),
                pa.field("num_frames", pa.int32(), nullable=False),
                # absolute path of the cache shard holding the codes (the cache may live outside the workspace)
                pa.field("cache_file", pa.string(), nullable=False),
            ]
        ),
        "Which cached codes belong to which item, and where they are.",
    )
)

# ----------------------------------------------------------------------------------------------- filter
# v2: `letter_mass` (a votes unit is keyed by this version, so `filter` recomputes v1 votes)
VOTES = _register(
    TableSpec(
        "votes",
        2,
        pa.schema(
            [
                pa.field("model", pa.string(), nullable=False),  # panel member name
                pa.field("dataset", pa.string(), nullable=False),
                pa.field("item_id", pa.string(), nullable=False),
                pa.field("condition", pa.string(), nullable=False),  # audio | silence | noise | swap
                # cyclic rotation of the options: shown position j held original option (j + p) % n
                pa.field("permutation", pa.int8(), nullable=False),
                pa.field("mode", pa.string(), nullable=False),  # letters | options | generate
                pa.field("predicted_index", pa.int8()),  # in the item's original option order; null = none
                pa.field("correct", pa.bool_(), nullable=False),  # predicted_index == answer_index
                # original option order; sums to 1 (letters/options); one-hot or null (generate)
                pa.field("option_probs", pa.list_(pa.float32())),
                pa.field("audio_item_id", pa.string()),  # whose clip was played (audio: itself, swap: donor)
                pa.field("raw_text", pa.string()),  # generate mode only
                # generate mode only: answers.Layer, or the NoCredit reason
                pa.field("parse_layer", pa.string()),
                # letters mode only: the full-vocabulary probability the shown option letters held at the
                # read position before renormalising (low = the letter is read where the model would not
                # write it); null in options and generate mode
                pa.field("letter_mass", pa.float32()),
            ]
        ),
        "One panel answer per (model, item, condition, permutation).",
    )
)

FILTER_AUDIT = _register(
    TableSpec(
        "filter_audit",
        1,
        pa.schema(
            [
                pa.field("model", pa.string(), nullable=False),  # panel member name
                pa.field("dataset", pa.string(), nullable=False),
                pa.field("item_id", pa.string(), nullable=False),
                pa.field("condition", pa.string(), nullable=False),  # audio | silence
                pa.field("mode", pa.string(), nullable=False),  # the member's vote mode (letters | options)
                # the vote's answer: argmax of the permutation-averaged probabilities; null = a tie
                pa.field("vote_index", pa.int8()),
                pa.field("vote_index_same_prompt", pa.int8()),  # the vote of rotation 0 alone (same prompt)
                pa.field("generated_index", pa.int8()),  # parsed from the greedy reply; null = unparseable
                pa.field("agree", pa.bool_()),  # vote_index == generated_index; null when unparseable
                pa.field("raw_text", pa.string(), nullable=False),  # the greedy reply, verbatim
                pa.field("parse_layer", pa.string()),  # answers.Layer, or the NoCredit reason
            ]
        ),
        "filter --audit: a vote against the same member's generated answer, per (model, item, condition).",
    )
)

ITEM_SCORES = _register(
    TableSpec(
        "item_scores",
        1,
        pa.schema(
            [
                pa.field("dataset", pa.string(), nullable=False),
                pa.field("item_id", pa.string(), nullable=False),
                pa.field("source_dataset", pa.string()),
                pa.field("question_type", pa.string()),
                pa.field("models", pa.list_(pa.string())),
                # per model, same order as `models`: 1[correct|audio] - 1[correct|silence], each read
                # from the permutation-averaged option probabilities
                pa.field("audio_contribution", pa.list_(pa.int8())),
                # per model: P(correct|audio) - P(correct|silence), permutation-averaged
                pa.field("model_contribution_scores", pa.list_(pa.float32())),
                pa.field("silence_correct", pa.int16()),  # panel members correct on silence
                pa.field("audio_correct", pa.int16()),
                pa.field("noise_correct", pa.int16()),  # null when the noise condition was not run
                pa.field("swap_correct", pa.int16()),  # null when the swap condition was not run
                # mean over models of P(correct|audio) - P(correct|silence), in [-1, 1]
                pa.field("contribution_score", pa.float32()),
                pa.field("min_correct", pa.int16()),  # the vote threshold used
                pa.field("split", pa.string(), nullable=False),  # weak | strong
            ]
        ),
        "Audio contribution per item, the panel vote and the resulting split.",
    )
)

# ----------------------------------------------------------------------------------------------- sample
PROMPTS = _register(
    TableSpec(
        "prompts",
        1,
        pa.schema(
            [
                pa.field("dataset", pa.string(), nullable=False),
                pa.field("item_id", pa.string(), nullable=False),
                pa.field("question_type", pa.string()),
                pa.field("source_dataset", pa.string()),
                pa.field("draw", pa.int32(), nullable=False),  # order in which the item was drawn
            ]
        ),
        "A prompt set drawn from a split, balanced by question type.",
    )
)

# ---------------------------------------------------------------------------------------------- rollout
# Reward columns. The built-in rewards have fixed columns (`reward_correctness`, `reward_format`,
# `reward_anchoring`) so every consumer can rely on them; a plugin reward `<name>` adds a float32 column
# `reward_<name>` after the spec's own (workspace.conform keeps extra columns). Columns rather than a map:
# polars, datasets and Arrow filter and aggregate them directly, and a typo in a name fails loudly.
# `reward` is the weighted total of the rewards configured for the run (weights in its provenance).
BUILTIN_REWARD_COLUMNS = ("reward_correctness", "reward_format", "reward_anchoring")

# v2: `anchoring_profile` (the run key holds this version, so `rollout` redoes v1 sets)
ROLLOUTS = _register(
    TableSpec(
        "rollouts",
        2,
        pa.schema(
            [
                pa.field("group_id", pa.string(), nullable=False),  # <rollout set>:<item_id>, one per prompt
                pa.field("dataset", pa.string(), nullable=False),
                pa.field("item_id", pa.string(), nullable=False),
                pa.field("question_type", pa.string()),
                pa.field("source_dataset", pa.string()),
                pa.field("rollout_index", pa.int16(), nullable=False),  # 0..k-1 within the group
                pa.field("k", pa.int16(), nullable=False),
                # the run's seed: completion s of item i is sampled with a generator seeded from
                # (seed, item_id, s), so it does not depend on batching, shard size or shard order
                pa.field("seed", pa.int64(), nullable=False),
                pa.field("policy", pa.string(), nullable=False),  # the sampling model (path or hub id)
                pa.field("prompt_style", pa.string(), nullable=False),
                pa.field("prompt", pa.string(), nullable=False),  # the full templated prompt text
                pa.field("choices", pa.list_(pa.string()), nullable=False),
                pa.field("answer_index", pa.int8(), nullable=False),
                pa.field("answer_text", pa.string()),
                pa.field("audio_path", pa.string()),  # relative to the dataset root
                pa.field("audio_sha256", pa.string()),  # key into the codes cache (encode stage)
                pa.field("prompt_token_ids", pa.list_(pa.int32())),  # audio placeholders expanded
                pa.field("completion_token_ids", pa.list_(pa.int32()), nullable=False),
                pa.field("completion_text", pa.string(), nullable=False),
                # the sampling policy's log-probability of each completion token (importance ratio)
                pa.field("completion_logprobs", pa.list_(pa.float32())),
                pa.field("finish_reason", pa.string()),  # stop | length
                pa.field("completion_length", pa.int32(), nullable=False),  # tokens
                pa.field("parsed_index", pa.int8()),  # the option the answer parser credited; null = none
                pa.field("parse_layer", pa.string()),  # answers.Layer when credited
                pa.field("parse_reason", pa.string()),  # answers.NoCredit when not
                pa.field("reward_correctness", pa.float32(), nullable=False),  # always computed
                pa.field("reward_format", pa.float32(), nullable=False),  # always computed
                pa.field("reward_anchoring", pa.float32()),  # null when anchoring is not configured
                pa.field("reward", pa.float32(), nullable=False),  # weighted total
                pa.field("advantage", pa.float32(), nullable=False),  # group-relative
                pa.field("zero_signal", pa.bool_(), nullable=False),  # spread < min_spread: advantage 0
                # the anchoring pass's attention along the clip (rewards.anchoring.attention_profile):
                # PROFILE_BINS equal spans of the clip's audio tokens, each the share of the reasoning
                # rows' attention on it (sums to CON); null where no pass ran (wrong, or no anchoring)
                pa.field("anchoring_profile", pa.list_(pa.float32())),
            ]
        ),
        "One row per completion; a shard always holds whole groups of K. Plugin rewards: extra reward_<name> columns.",
    )
)


# ------------------------------------------------------------------------------------------------- eval
PREDICTIONS = _register(
    TableSpec(
        "predictions",
        1,
        pa.schema(
            [
                pa.field("dataset", pa.string(), nullable=False),
                pa.field("item_id", pa.string(), nullable=False),
                pa.field("condition", pa.string(), nullable=False),  # audio | silence
                pa.field("sample_index", pa.int16(), nullable=False),  # 0..samples-1
                pa.field("samples", pa.int16(), nullable=False),  # completions per (item, condition)
                pa.field("model", pa.string(), nullable=False),  # as named: a path, a hub id, or the backend
                pa.field("model_fingerprint", pa.string(), nullable=False),  # fingerprints.model_fingerprint
                pa.field("prompt_style", pa.string(), nullable=False),
                pa.field("prompt_fingerprint", pa.string(), nullable=False),  # hash of the style's definition
                pa.field("seed", pa.int64(), nullable=False),
                pa.field("temperature", pa.float32(), nullable=False),
                pa.field("raw_output", pa.string(), nullable=False),  # the completion text, verbatim
                pa.field("finish_reason", pa.string()),  # stop | length
                pa.field("predicted_index", pa.int8()),  # the option the parser credited; null = none
                pa.field("predicted_letter", pa.string()),
                pa.field("predicted_text", pa.string()),  # the option's exact text
                pa.field("parse_layer", pa.string()),  # answers.Layer when credited
                pa.field("parse_reason", pa.string()),  # answers.NoCredit when not
                # majority vote over the (item, condition)'s samples; equal on each of its rows
                pa.field("voted_index", pa.int8()),
                pa.field("voted_text", pa.string()),
                pa.field("vote_count", pa.int16(), nullable=False),  # samples naming the voted option
                pa.field("num_choices", pa.int8(), nullable=False),
                pa.field("answer_index", pa.int8()),  # gold; null when withheld (evaluation sets)
                pa.field("correct", pa.bool_()),  # predicted_index == answer_index; null without gold
                pa.field("voted_correct", pa.bool_()),  # voted_index == answer_index; null without gold
                pa.field("question_type", pa.string()),
                pa.field("source_dataset", pa.string()),
                pa.field("part", pa.string()),  # DCASE dev part when known (see stages/eval), else null
                # --letter-scores, audio condition: option-letter probabilities (shown order) and argmax
                pa.field("letter_probs", pa.list_(pa.float32())),
                pa.field("letter_argmax", pa.int8()),
            ]
        ),
        "One row per (item, condition, sample) a model answered in generate mode, parsed and voted.",
    )
)

# -------------------------------------------------------------------------------------- check-leakage
AUDIO_FINGERPRINTS = _register(
    TableSpec(
        "audio_fingerprints",
        1,
        pa.schema(
            [
                pa.field("audio_sha256", pa.string(), nullable=False),
                pa.field("version", pa.int16(), nullable=False),  # audio_fingerprint.VERSION
                pa.field("bits", pa.list_(pa.uint32())),  # 32 bits per 16 ms frame; null when undecodable
                pa.field("valid", pa.list_(pa.bool_())),  # frames loud enough to carry bits
                pa.field("error", pa.string()),  # why the file could not be fingerprinted
            ]
        ),
        "A spectral fingerprint per distinct audio file, robust to resampling and lossy re-encoding.",
    )
)

LEAKAGE = _register(
    TableSpec(
        "leakage",
        1,
        pa.schema(
            [
                pa.field("dataset", pa.string(), nullable=False),  # the training dataset checked
                pa.field("item_id", pa.string(), nullable=False),
                pa.field("method", pa.string(), nullable=False),  # audio_sha256 | audio_fingerprint | text
                pa.field("reference_dataset", pa.string(), nullable=False),  # the dev / eval dataset
                pa.field("reference_split", pa.string()),
                pa.field("reference_item_id", pa.string(), nullable=False),
                pa.field("similarity", pa.float32(), nullable=False),  # 1 for hash/text; 1 - bit error rate
                pa.field("offset_s", pa.float32()),  # fingerprint: reference time = item time + offset
                pa.field("detail", pa.string()),
            ]
        ),
        "One row per (training item, method, dev/eval item) that share audio or question text.",
    )
)


def spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {sorted(TABLES)}") from None
