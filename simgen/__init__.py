"""simgen: YAML scenarios to randomized PyBullet worlds and labeled datasets."""

__version__ = "0.1.0"
