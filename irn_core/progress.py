"""Logging and progress for long stages.

``log`` writes through the standard ``logging`` module (logger ``irn``, time-stamped lines);
``log_to`` sends a rule's records to its log file (a fresh file per run) and to stderr.
``Progress`` shows a tqdm bar with rate and ETA on a terminal only (quiet in log files and under
a scheduler) and logs one summary line when the loop ends.
"""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

LOGGER = logging.getLogger("irn")
FORMAT = "%(asctime)s %(levelname)s %(message)s"


class Progress:
    """``for x in Progress(items, 'make_cam'): ...``; ``postfix`` is shown beside the bar."""

    def __init__(self, items, desc: str, total: int | None = None, every_s: float = 1.0, stream=None):
        self.items, self.desc, self.every_s = items, desc, every_s
        self.total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
        self.stream = stream or sys.stderr
        self.postfix = ""
        self.elapsed = 0.0

    def __iter__(self):
        start = time.perf_counter()
        n = 0
        bar = tqdm(
            self.items,
            desc=self.desc,
            total=self.total,
            file=self.stream,
            mininterval=self.every_s,
            disable=None if hasattr(self.stream, "isatty") else True,
            leave=False,
            dynamic_ncols=True,
        )
        try:
            for item in bar:
                yield item
                n += 1
                if self.postfix:
                    bar.set_postfix_str(self.postfix.strip(), refresh=False)
        finally:
            bar.close()
            self.elapsed = time.perf_counter() - start
            if n:
                log(f"{self.desc}: {n} in {self.elapsed:.1f} s ({n / max(self.elapsed, 1e-9):.2f} it/s){self.postfix}")


def log(msg: str, level: int = logging.INFO) -> None:
    LOGGER.log(level, msg)


def setup_logging(stream=None) -> None:
    """Time-stamped records of logger ``irn`` to ``stream`` (stderr), once per process."""
    if not any(getattr(h, "irn_console", False) for h in LOGGER.handlers):
        h = logging.StreamHandler(stream or sys.stderr)
        h.setFormatter(logging.Formatter(FORMAT))
        h.irn_console = True
        LOGGER.addHandler(h)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


class log_to:
    """Context manager: the records of logger ``irn`` (and Python warnings) go to a log file,
    written anew, and to stderr. An error is written once to stderr, with the path of the log
    file, which holds its traceback; the process then exits with status 1 (no second copy of the
    message in a Python traceback)."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        setup_logging()
        self.handler = logging.FileHandler(self.path, mode="w")
        self.handler.setFormatter(logging.Formatter(FORMAT))
        LOGGER.addHandler(self.handler)
        logging.captureWarnings(True)
        logging.getLogger("py.warnings").addHandler(self.handler)
        return self

    def __exit__(self, exc_type, exc, tb):
        failed = exc is not None and not issubclass(exc_type, (SystemExit, KeyboardInterrupt))
        if failed:
            message = f"{exc_type.__name__}: {exc}"
            self.handler.handle(
                LOGGER.makeRecord(LOGGER.name, logging.ERROR, "", 0, message, None, (exc_type, exc, tb))
            )
            console = LOGGER.makeRecord(
                LOGGER.name, logging.ERROR, "", 0, f"{message}\n(traceback in {self.path})", None, None
            )
            for h in LOGGER.handlers:
                if getattr(h, "irn_console", False):
                    h.handle(console)
        logging.getLogger("py.warnings").removeHandler(self.handler)
        LOGGER.removeHandler(self.handler)
        self.handler.close()
        if failed:
            raise SystemExit(1) from None
        return False
