"""Test hook (tests/trace/): a Python process started with this folder on PYTHONPATH and
IRN_TRACE_DIR set records the irn_core code it runs, in IRN_TRACE_DIR/<pid>.jsonl: a first line
with its command line, then one line per irn_core function (file, first line, qualified name) the
first time it is called (so forked workers, which leave by os._exit, are recorded as well), and at
exit the irn_core modules it imported. Only 'call' events are traced, no lines."""

import atexit
import json
import os
import sys
import threading

_DIR = os.environ.get("IRN_TRACE_DIR")
if _DIR:
    _seen: set = set()
    _state = {"pid": None, "out": None, "prefix": None}

    def _out():
        if _state["pid"] != os.getpid():  # first call, or a forked child
            _state["pid"] = os.getpid()
            _state["out"] = open(os.path.join(_DIR, f"{os.getpid()}.jsonl"), "a", buffering=1)  # noqa: SIM115 - open for the process's life
            _state["out"].write(json.dumps({"argv": sys.argv}) + "\n")
        return _state["out"]

    def _trace(frame, event, arg):
        prefix = _state["prefix"]
        if prefix is None:
            mod = sys.modules.get("irn_core")
            if mod is None or not getattr(mod, "__file__", None):
                return None
            prefix = _state["prefix"] = os.path.dirname(mod.__file__) + os.sep
        code = frame.f_code
        if code.co_filename.startswith(prefix):
            key = (code.co_filename, code.co_firstlineno, code.co_qualname)
            if key not in _seen:
                _seen.add(key)
                _out().write(json.dumps({"called": key}) + "\n")
        return None

    def _modules():
        sys.settrace(None)
        modules = sorted(m for m in sys.modules if m == "irn_core" or m.startswith("irn_core."))
        _out().write(json.dumps({"modules": modules}) + "\n")

    sys.settrace(_trace)
    threading.settrace(_trace)
    atexit.register(_modules)
