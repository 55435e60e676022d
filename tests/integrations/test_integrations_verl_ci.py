"""`export --format verl` through verl 0.9.1's own code (-m verl; `.ci/verl.sh` runs it in `.venv-verl`).

verl's trainer builds its processor with `hf_processor`, which returns None for Qwen2-Audio; the rows
then go through verl's `get_dataset_class` (our `data.custom_cls`), its `RLHFDataset` length filter,
`__getitem__`, `collate_fn`, the multimodal extraction its agent loop calls and its
`build_multimodal_processor_inputs`: every row must keep its clip (none dropped by the filter) and come
out with `input_features` and as many audio tokens as the clip's length gives. `compute_score` is then
called by verl's own reward manager (`load_reward_manager` with `custom_reward_function`) on tokenized
completions and must give the rollout's rewards. Skipped where verl is not installed (the main venv).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

verl = pytest.importorskip("verl")

from support.planted_workspace import build_workspace  # noqa: E402

from adqa_data.export import ExportOptions, export  # noqa: E402
from adqa_data.export.card import data_path  # noqa: E402
from adqa_data.integrations.grading import grade  # noqa: E402
from adqa_data.mcq.answers import LETTERS  # noqa: E402
from adqa_data.testing.models import build_tiny_qwen2_audio  # noqa: E402

pytestmark = pytest.mark.verl

HOOK = "pkg://adqa_data.integrations.verl"
SAMPLE_RATE = 16000


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("verl")
    ws = build_workspace(root / "ws")
    model = build_tiny_qwen2_audio(root / "qwen2-audio")
    exports = {}
    for mode in ("embed", "path"):
        out = root / f"verl-{mode}"
        export(ws, "verl", options=ExportOptions(audio=mode, sample_rate=SAMPLE_RATE), out=out)
        exports[mode] = str(out / data_path("default", "train"))
    return ws, model, exports, root


def data_config(root, audio_key="audios"):
    from omegaconf import OmegaConf

    return OmegaConf.create(
        {
            "prompt_key": "prompt",
            "audio_key": audio_key,
            "max_prompt_length": 4096,
            "filter_overlong_prompts": True,
            "cache_dir": str(root / "verl-cache"),
            "custom_cls": {"path": HOOK, "name": "AudioRLHFDataset"},
        }
    )


def expected_audio_tokens(num_samples: int) -> int:
    """Qwen2-Audio's count for a clip: Whisper frames (hop 160), conv stride 2, then pooling stride 2."""
    frames = num_samples // 160
    after_conv = (frames - 1) // 2 + 1
    return (after_conv - 2) // 2 + 1


def processed_rows(setup, mode, audio_key="audios"):
    """Every row through verl's dataset, collate_fn and multimodal processing: (batch, processor outputs)."""
    from torch.utils.data import DataLoader
    from verl.utils.dataset.rl_dataset import collate_fn, get_dataset_class
    from verl.utils.tokenizer import build_multimodal_processor_inputs, hf_processor, hf_tokenizer

    _, model, exports, root = setup
    config = data_config(root, audio_key)
    tokenizer = hf_tokenizer(str(model))
    processor = hf_processor(str(model))
    assert processor is None  # what verl's trainer hands the dataset for Qwen2-Audio: the hook builds one
    dataset_cls = get_dataset_class(config)
    assert dataset_cls.__name__ == "AudioRLHFDataset"
    dataset = dataset_cls(exports[mode], tokenizer, config, processor)
    batch = next(iter(DataLoader(dataset, batch_size=len(dataset), collate_fn=collate_fn)))
    outputs = []
    for messages in batch["raw_prompt"]:
        _, _, audios = asyncio.run(dataset_cls.process_multi_modal_info(messages, 14, config))
        text = dataset.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        outputs.append(
            (audios, build_multimodal_processor_inputs(dataset.processor, text=[text], audio=audios))
        )
    return dataset, batch, outputs


@pytest.mark.parametrize("mode", ["embed", "path"])
def test_every_row_reaches_the_processor_with_its_audio(setup, mode):
    ws, model, _, _ = setup
    dataset, batch, outputs = processed_rows(setup, mode)
    from adqa_data.export.source import audio_waveform

    items = {r["item_id"]: r for r in ws.items("demo").to_pylist()}
    assert len(dataset) == len(batch["raw_prompt"]) == 10  # the planted prompt set: no row filtered out
    audio_id = dataset.processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    for info, (audios, inputs) in zip(batch["extra_info"], outputs):
        assert audios is not None and len(audios) == 1
        assert "input_features" in inputs and inputs["input_features"].shape[1] == 128
        clip = audio_waveform(ws.dataset("demo"), items[info["item_id"]], SAMPLE_RATE)
        assert int((inputs["input_ids"][0] == audio_id).sum()) == expected_audio_tokens(len(clip))


def completions_for(info) -> list[str]:
    letter = LETTERS[info["answer_index"]]
    wrong = LETTERS[(info["answer_index"] + 1) % len(info["choices"])]
    return [
        f"<think>The clip has a steady tone.</think><answer>{letter}</answer>",
        f"<think>Loud.</think><answer>{wrong}</answer>",
        f"It is {letter}.",
        "no idea",
    ]


def test_compute_score_through_verls_reward_manager(setup):
    import torch
    from omegaconf import OmegaConf
    from verl import DataProto
    from verl.trainer.ppo.reward import load_reward_manager

    _, _, batch, _ = (None, None, *processed_rows(setup, "embed")[1:])
    tokenizer = processed_rows(setup, "embed")[0].tokenizer
    config = OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {"path": HOOK, "name": "compute_score", "reward_kwargs": {}},
                "reward_manager": {"source": "register", "name": "naive"},
            }
        }
    )
    manager = load_reward_manager(config, tokenizer)
    for i, info in enumerate(batch["extra_info"]):
        texts = completions_for(info)
        want = grade(texts, choices=[info["choices"]] * 4, answer_index=[info["answer_index"]] * 4)
        for j, text in enumerate(texts):
            ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False)])
            data = DataProto.from_dict(
                tensors={"responses": ids, "attention_mask": torch.ones_like(ids)},
                non_tensors={
                    "data_source": np.array([batch["data_source"][i]], dtype=object),
                    "reward_model": np.array([batch["reward_model"][i]], dtype=object),
                    "extra_info": np.array([dict(info)], dtype=object),
                },
            )
            got = manager.loop.run_until_complete(manager.run_single(data))
            assert got["reward_score"] == pytest.approx(want["reward"][j])
            assert got["reward_extra_info"]["correctness"] == want["reward_correctness"][j]
            assert got["reward_extra_info"]["format"] == pytest.approx(want["reward_format"][j])
    assert want["reward_correctness"] == [1.0, 0.0, 1.0, 0.0]


def test_the_recipe_composes_with_verls_config_and_names_our_hooks():
    """pipelines/verl/audiomcq_grpo.yaml on top of verl's own ppo_trainer config: verl resolves both hooks."""
    from pathlib import Path

    from hydra import compose, initialize_config_dir
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.utils.dataset.rl_dataset import get_dataset_class

    recipe = Path(__file__).resolve().parents[2] / "pipelines" / "verl"
    with initialize_config_dir(config_dir=str(recipe), version_base=None):
        cfg = compose(config_name="audiomcq_grpo", overrides=["data.train_files=x.parquet"])
    assert cfg.data.prompt_key == "prompt" and cfg.data.audio_key == "audios"
    assert cfg.algorithm.adv_estimator == "grpo" and cfg.actor_rollout_ref.rollout.n == 4
    assert get_dataset_class(cfg.data).__name__ == "AudioRLHFDataset"
    assert get_custom_reward_fn(cfg).args[0].__name__ == "compute_score"


def test_splits_stay_audio_datasets(setup):
    dataset, _, _ = processed_rows(setup, "path")
    parts = dataset.split(2)
    assert [type(p).__name__ for p in parts] == ["AudioRLHFDataset"] * 2
    messages = parts[1][0]["raw_prompt"]
    audio = [
        p for m in messages if isinstance(m["content"], list) for p in m["content"] if p["type"] == "audio"
    ]
    assert len(audio) == 1 and isinstance(audio[0]["audio"], np.ndarray)
