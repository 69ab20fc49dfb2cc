"""simgen's authored assets (URDF and OBJ), installed as the ``simgen.assets`` package."""
