"""Reading clips: probing and decoding every format upstream corpora ship, checks, and resampling."""
