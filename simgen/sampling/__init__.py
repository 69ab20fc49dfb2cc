"""Sampling: the seed tree, distributions, and turning a scenario into episode plans."""
