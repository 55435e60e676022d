"""The `trl` export and `adqa_data.integrations.trl` through TRL's and transformers' own code.

A processor's `apply_chat_template` (the tiny Qwen2-Audio's) loads the audio that the `prompts` config
carries in its audio content part and puts as many audio tokens as the clip gives; TRL 1.16's
`GRPOTrainer` runs two steps on a tiny text model with our reward functions, and its own
`log_completions` tables and the export's `completions` config share one layout (column order and types),
so they concatenate. The path-mode test needs an audio decoder for transformers (librosa or torchcodec);
`.ci/verl.sh` runs it in `.venv-verl`, which has librosa.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.planted_workspace import DS, build_workspace

from adqa_data.export import ExportOptions, export
from adqa_data.export.card import data_path
from adqa_data.export.source import audio_waveform
from adqa_data.integrations.trl import REWARD_FUNCS, REWARD_WEIGHTS, audio_arrays, correctness, format, total

SAMPLE_RATE = 16000


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("trl_ws"))


@pytest.fixture(scope="module")
def qwen2_audio(tmp_path_factory):
    from adqa_data.testing.models import build_tiny_qwen2_audio

    return build_tiny_qwen2_audio(tmp_path_factory.mktemp("qwen2_audio"))


def load_prompts(planted, tmp_path, **options):
    import datasets

    out = tmp_path / "trl"
    export(planted, "trl", options=ExportOptions(**options), out=out)
    return datasets.load_dataset(str(out), "prompts", split="train", cache_dir=str(tmp_path / "cache")), out


def expected_audio_tokens(num_samples: int) -> int:
    """Qwen2-Audio's count for a clip: Whisper frames (hop 160), conv stride 2, then pooling stride 2."""
    frames = num_samples // 160
    return ((frames - 1) // 2 + 1 - 2) // 2 + 1


def check_chat_template_loads_audio(planted, qwen2_audio, prompts):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(str(qwen2_audio))
    audio_id = processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    items = {r["item_id"]: r for r in planted.items(DS).to_pylist()}
    for row in prompts:
        inputs = processor.apply_chat_template(
            audio_arrays(row["prompt"]), add_generation_prompt=True, tokenize=True, return_dict=True
        )
        clip = audio_waveform(planted.dataset(DS), items[row["item_id"]], SAMPLE_RATE)
        assert inputs["input_features"].shape[1] == 128
        assert sum(1 for t in inputs["input_ids"][0] if t == audio_id) == expected_audio_tokens(len(clip))


@pytest.mark.slow
def test_chat_template_loads_the_embedded_audio(planted, qwen2_audio, tmp_path):
    prompts, _ = load_prompts(planted, tmp_path, audio="embed", sample_rate=SAMPLE_RATE)
    check_chat_template_loads_audio(planted, qwen2_audio, prompts)


@pytest.mark.slow
def test_chat_template_loads_the_audio_by_path(planted, qwen2_audio, tmp_path):
    pytest.importorskip("librosa")  # transformers decodes a path with librosa or torchcodec
    prompts, _ = load_prompts(planted, tmp_path, audio="path")
    check_chat_template_loads_audio(planted, qwen2_audio, prompts)


def test_reward_functions_take_trl_completions(planted, tmp_path):
    prompts, _ = load_prompts(planted, tmp_path, audio="none")
    row = prompts[0]
    gold = "ABCD"[row["answer_index"]]
    completions = [
        [{"role": "assistant", "content": f"<think>A steady tone.</think><answer>{gold}</answer>"}],
        "no idea",
    ]
    columns = {"choices": [row["choices"]] * 2, "answer_index": [row["answer_index"]] * 2}
    assert correctness(completions, **columns) == [1.0, 0.0]
    assert format(completions, **columns) == [1.0, 0.0] and format.__name__ == "format"
    assert total(completions, **columns) == [1.0 + 0.25, 0.0]


def same_type(a: pa.DataType, b: pa.DataType) -> bool:
    """Equal types, string and large_string counted as one (pandas 3 writes a string column as
    large_string, pandas 2 as string: which one TRL's table has depends on the pandas installed)."""
    strings = (pa.string(), pa.large_string())
    return a == b or (a in strings and b in strings)


@pytest.mark.slow
def test_grpo_trainer_two_steps_and_the_completion_logs_concatenate(planted, tmp_path):
    trl = pytest.importorskip("trl")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from adqa_data.testing.models import build_tiny_qwen2_text

    prompts, out = load_prompts(planted, tmp_path, audio="none")
    model_dir = build_tiny_qwen2_text(tmp_path / "qwen2-text")
    args = trl.GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_steps=2,
        learning_rate=1e-5,
        reward_weights=REWARD_WEIGHTS,
        use_cpu=True,
        bf16=False,
        report_to=[],
        logging_steps=1,
        log_completions=True,
        save_strategy="no",
        seed=0,
    )
    trainer = trl.GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32),
        reward_funcs=REWARD_FUNCS,
        args=args,
        train_dataset=prompts,
        processing_class=AutoTokenizer.from_pretrained(str(model_dir)),
    )
    trainer.train()
    assert trainer.state.global_step == 2
    logged = [
        pq.read_table(tmp_path / "grpo" / "completions" / f"completions_{s:05d}.parquet") for s in (1, 2)
    ]
    ours = pq.read_table(out / data_path("completions", "train"))
    for theirs in logged:
        names = [n for n in theirs.column_names if not n.startswith("__")]
        assert names == ["step", "prompt", "completion", "correctness", "format", "item_id", "advantage"]
        shared = [n for n in ours.column_names if n in names]
        assert shared == names  # the same columns in the same order; ours adds group_id among the extras
        for n in names:
            assert same_type(theirs.schema.field(n).type, ours.schema.field(n).type), n
    both = pa.concat_tables(
        [t.select(names) for t in logged] + [ours.select(names)], promote_options="permissive"
    )
    assert sorted(set(both.column("step").to_pylist())) == [0, 1, 2]
