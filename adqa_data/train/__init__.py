"""The bundled GRPO/SFT trainer: config, data, loss, loop."""
