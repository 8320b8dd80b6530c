"""``python -m analysis estimate SPEC.json``: design-based estimates on any CSV file.

The contract is shared/analysis-cli.md (the spec is parsed by ``analysis.spec``, run by
``analysis.spec_run``): one JSON document on standard output; on bad input, exit status 2 and a
one-line message on standard error naming the problem, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis.spec import (
    SpecError,
)
from analysis.spec_run import _clean, run


def main(argv: Sequence[str] | None = None) -> int:
    """The ``python -m analysis`` command (shared/analysis-cli.md).

    Parameters
    ----------
    argv : Sequence[str] | None
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 done (JSON on stdout), 2 bad input (one ``error:`` line on stderr).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "estimate":
        print("usage: python -m analysis estimate SPEC.json", file=sys.stderr)
        return 2
    try:
        result = run(Path(args[1]))
    except SpecError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except (ValueError, ArithmeticError, TypeError, MemoryError) as exc:
        print(f"error: cannot estimate: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    try:
        json.dump(_clean(result), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (``| head``): not an error of the estimates; leave quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def _one_line(message: str) -> str:
    return " ".join(message.split()) or "unknown problem"
