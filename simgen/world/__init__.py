"""The world: the PyBullet connection and building an episode's bodies from its plan."""
