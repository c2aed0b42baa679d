"""Test and benchmark hook (tests/opens/): a Python process started with this folder on PYTHONPATH
and IRN_OPEN_LOG set appends to that file the path of every file it opens under IRN_OPEN_UNDER
(default: every file), one line per open, through Python's audit events (open(), os.open, and
so every Python-level reader)."""

import os
import sys

_LOG = os.environ.get("IRN_OPEN_LOG")
if _LOG:
    _UNDER = os.path.realpath(os.environ.get("IRN_OPEN_UNDER", "/"))
    _busy = [False]

    def _hook(event, args):
        if event != "open" or _busy[0] or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        path = os.path.abspath(os.fsdecode(args[0]))
        if not path.startswith(_UNDER):
            return
        _busy[0] = True
        try:
            with open(_LOG, "a") as log:
                log.write(f"{os.getpid()}\t{path}\n")
        finally:
            _busy[0] = False

    sys.addaudithook(_hook)
