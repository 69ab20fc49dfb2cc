"""``python run_sim.py SCENARIO [options]`` does the same as ``simgen run SCENARIO [options]``."""

import sys

from simgen.cli import app

if __name__ == "__main__":
    app(args=["run", *sys.argv[1:]], prog_name="run_sim.py")
