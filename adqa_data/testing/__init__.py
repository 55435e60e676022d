"""Offline builders for the tests, benchmarks and the demo: tiny random-weight models and codecs, a trained
BPE tokenizer and synthetic datasets in the upstream layouts (there is no model hub here)."""
