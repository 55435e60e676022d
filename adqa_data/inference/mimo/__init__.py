"""MiMo-Audio-7B (XiaomiMiMo/MiMo-Audio) as a text-answering language model over cached RVQ codes: the model
(`model`), its strict checkpoint loader, and the audio-understanding prompt (`prompt`).

Importing this package imports neither torch nor transformers; `model` does.
"""
