"""`AudioRLHFDataset`: verl's RLHFDataset with the audio processor built and `--audio path` clips loaded.

Kept apart from `integrations.verl` because it subclasses a verl class and so imports verl; verl's
`data.custom_cls` may name either module (`integrations.verl` looks the class up here on first use).
A module-level class, so verl's length filter (a `datasets` map that pickles the dataset by reference)
and Ray workers find it by name.
"""

from __future__ import annotations

from typing import Any

from verl.utils.dataset.rl_dataset import RLHFDataset

from .verl import audio_processor, load_audio_entry


class AudioRLHFDataset(RLHFDataset):
    """See `adqa_data.integrations.verl`: builds the processor verl's `hf_processor` refuses to build for
    audio models (from `data.processor_path`, else the tokenizer's path) and loads path clips."""

    def __init__(self, data_files, tokenizer, config, processor=None, max_samples: int = -1):
        if processor is None:
            path = config.get("processor_path", None) or getattr(tokenizer, "name_or_path", None)
            if not path:
                raise ValueError("no processor and no data.processor_path to build the audio processor from")
            processor = audio_processor(str(path))
        self.audio_rate = int(processor.feature_extractor.sampling_rate)
        super().__init__(data_files, tokenizer, config, processor, max_samples)
        if len(self.dataframe) and self.audio_key not in self.dataframe.column_names:
            first = self.dataframe[0][self.prompt_key]
            if any("<audio>" in (m.get("content") or "") for m in first if isinstance(m.get("content"), str)):
                raise ValueError(
                    f"the prompts have <audio> placeholders but the rows have no {self.audio_key!r} column "
                    f"(columns: {', '.join(self.dataframe.column_names)}): set data.audio_key to the audio column"
                )

    def _build_messages(self, example: dict, key: str) -> Any:
        audios = example.get(self.audio_key)
        if audios:
            example[self.audio_key] = [load_audio_entry(a, self.audio_rate) for a in audios]
        return super()._build_messages(example, key)

    def split(self, num_splits: int) -> list[Any]:
        """verl's split builds plain RLHFDatasets; keep the splits ours, so path clips still load."""
        parts = super().split(num_splits)
        for part in parts:
            part.__class__ = type(self)
            part.audio_rate = self.audio_rate
        return parts
