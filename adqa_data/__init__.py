"""adqa-data: audio multiple-choice data to GRPO post-training of audio-language models that listen."""

__version__ = "0.1.0"
