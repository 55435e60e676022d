"""A tiny Qwen2.5-Omni for ms-swift's `qwen2_5_omni` model type, offline and without torchvision.

ms-swift 4.6 reaches Qwen2.5-Omni through its own loader (`Qwen2_5OmniLoader`) and template
(`Qwen2_5OmniTemplate`). Both are used as they are, on a folder written here: a random-weight
`Qwen2_5OmniThinkerForConditionalGeneration` (`adqa_data.testing.models`), the full `Qwen2_5OmniConfig` around
its config (what the template reads: `config.thinker_config`), and a tokenizer that names Qwen's
multimodal tokens (`image_token`, `audio_bos_token`, ... as Qwen's own tokenizer config does).

Three stand-ins, each for a part an audio-only row never reaches and that cannot be installed next to the
CPU torch (only CUDA-linked torchvision wheels are available; its ops fail to register):
- `qwen_omni_utils` (imports torchvision at import time): the template imports `fetch_image` and
  `fetch_video` from it for every media tag and calls them only for images and videos; the stand-ins
  raise if called.
- the video processor (transformers' `Qwen2VLVideoProcessor` needs torchvision): a `BaseVideoProcessor`
  that raises if called, with Qwen's `merge_size`/`temporal_patch_size` (the processor reads them for
  text expansion even when no video is given). The image processor is transformers' PIL one.
- the loader's `get_processor` (it builds exactly that processor with `from_pretrained`, which would load
  the torchvision video processor) and its `qwen_omni_utils` version check. Everything after (config,
  `model_info`/`model_meta`, the tokenizer's post-processing, template lookup) is ms-swift's.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import pytest

# the multimodal tokens of Qwen2.5-Omni's tokenizer config; the tiny tokenizer has them as special tokens
OMNI_TOKENS = {
    "image_token": "<|IMAGE|>",
    "video_token": "<|VIDEO|>",
    "audio_token": "<|AUDIO|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
    "audio_bos_token": "<|audio_bos|>",
    "audio_eos_token": "<|audio_eos|>",
}


def _not_for_audio(*args, **kwargs):
    raise AssertionError("an image or video was fetched while encoding an audio-only row")


def write_omni(folder: Path) -> tuple[Path, Path]:
    """(the Qwen2.5-Omni folder ms-swift loads, the tiny thinker's folder with weights)."""
    from transformers import (
        AutoTokenizer,
        Qwen2_5OmniConfig,
        Qwen2_5OmniThinkerConfig,
        WhisperFeatureExtractor,
    )

    from adqa_data.testing.models import build_tiny_qwen25_omni_thinker

    thinker = build_tiny_qwen25_omni_thinker(folder / "thinker")
    omni = folder / "omni"
    thinker_config = Qwen2_5OmniThinkerConfig.from_pretrained(thinker).to_dict()
    Qwen2_5OmniConfig(thinker_config=thinker_config, enable_audio_output=False).save_pretrained(omni)
    AutoTokenizer.from_pretrained(thinker, extra_special_tokens=OMNI_TOKENS).save_pretrained(omni)
    WhisperFeatureExtractor.from_pretrained(thinker).save_pretrained(omni)
    return omni, thinker


def build_processor(model_dir: str):
    """Qwen2.5-Omni's processor as `Qwen2_5OmniProcessor.from_pretrained` builds it, the video part aside."""
    from transformers import AutoTokenizer, Qwen2_5OmniProcessor, WhisperFeatureExtractor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.processing_utils import ProcessorMixin
    from transformers.video_processing_utils import BaseVideoProcessor

    class NoVideo(BaseVideoProcessor):
        merge_size = 2
        temporal_patch_size = 2

        def __call__(self, *args, **kwargs):
            _not_for_audio()

    check = ProcessorMixin.check_argument_for_proper_class
    # without torchvision, transformers' video-processor registry is a placeholder the class check fails on
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            ProcessorMixin,
            "check_argument_for_proper_class",
            lambda self, name, arg: type(arg) if name == "video_processor" else check(self, name, arg),
        )
        return Qwen2_5OmniProcessor(
            image_processor=Qwen2VLImageProcessorPil(),
            video_processor=NoVideo(),
            feature_extractor=WhisperFeatureExtractor.from_pretrained(model_dir),
            tokenizer=AutoTokenizer.from_pretrained(model_dir),
        )


def omni_processor(folder: Path, mp: pytest.MonkeyPatch):
    """(ms-swift's processor for `qwen2_5_omni`, the tiny thinker); `mp` holds the stand-ins while in use."""
    from swift import get_model_processor
    from swift.model.models.qwen import Qwen2_5OmniLoader
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    try:
        importlib.import_module("qwen_omni_utils")
    except ImportError:
        stub = types.ModuleType("qwen_omni_utils")
        stub.fetch_image = stub.fetch_video = _not_for_audio
        mp.setitem(sys.modules, "qwen_omni_utils", stub)
    mp.setattr(Qwen2_5OmniLoader, "_check_qwen_omni_utils", lambda self: None)
    mp.setattr(Qwen2_5OmniLoader, "get_processor", lambda self, model_dir, config: build_processor(model_dir))
    omni, thinker = write_omni(folder)
    _, processor = get_model_processor(str(omni), model_type="qwen2_5_omni", load_model=False)
    return processor, Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(thinker).eval()
