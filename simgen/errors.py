"""Typed user-facing errors. A ``SimgenError`` is printed as one line, never a traceback."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable


class SimgenError(Exception):
    """An error caused by user input or environment, reported without a traceback."""

    exit_code = 1


class SpecError(SimgenError):
    """A scenario failed validation; ``lines`` holds one ``FILE:LINE: path: message`` each."""

    exit_code = 2

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def write_error(what: object, exc: OSError) -> SimgenError:
    """A one-line error for a failed write (disk full, no permission) during a run, which
    can be continued with ``--resume`` once the cause is fixed."""
    # pyarrow's OSErrors read "Failed to open local file '...'. Detail: [errno 28] No space
    # left on device", with or without errno set: the reason is the errno's.
    code = exc.errno or next((int(m) for m in re.findall(r"\[errno (\d+)\]", str(exc),
                                                          flags=re.IGNORECASE)), None)
    reason = os.strerror(code) if code else (exc.strerror or str(exc))
    return SimgenError(f"{what}: cannot write: {reason}; the dataset is incomplete; free "
                       "space or fix permissions, then run again with --resume")
