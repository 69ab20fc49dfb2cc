"""PyBullet, imported with its C-level start-up banner silenced.

PyBullet and its EGL plugin print to the process's stdout from C code (build time,
GL vendor strings), which would garble progress bars and piped output. Import
``p`` from here, and wrap noisy calls in ``quiet_stdout()``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send file descriptors 1 and 2 to /dev/null for the duration (C-level prints included)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
    except (OSError, ValueError):  # no real descriptors (e.g. captured by a test runner)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        _flush_c_stdio()  # C's buffered output must reach /dev/null, not the restored fds
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _flush_c_stdio() -> None:
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


with quiet_stdout():
    import pybullet as p  # noqa: E402
    import pybullet_data  # noqa: E402,F401

__all__ = ["p", "quiet_stdout"]
