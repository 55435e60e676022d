"""Builders for the offline demo and the tests: synthetic datasets, tiny random-weight models and codecs."""
