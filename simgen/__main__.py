"""``python -m simgen``: the command line."""

from simgen.cli import main

if __name__ == "__main__":
    main()
