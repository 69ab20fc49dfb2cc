"""The runner: the episode loop and the run over all episodes."""
