"""The story demo: a designed dataset whose need for the audio is known, a panel with text priors, the toy tone task, and the figures the demo prints."""
