"""Progress lines for long stages: plain text, one line at most every few seconds (log friendly)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``for x in Progress(items, 'make_cam'): ...`` prints 'make_cam 120/600 (3.1 it/s, eta 2m)'."""

    def __init__(self, items, desc: str, total: int | None = None, every_s: float = 10.0, stream=None):
        self.items, self.desc, self.every_s = items, desc, every_s
        self.total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
        self.stream = stream or sys.stderr
        self.postfix = ""

    def __iter__(self):
        start = last = time.perf_counter()
        n = 0
        for item in self.items:
            yield item
            n += 1
            now = time.perf_counter()
            if now - last >= self.every_s or n == self.total:
                rate = n / max(now - start, 1e-9)
                eta = f", eta {(self.total - n) / rate:.0f}s" if self.total else ""
                tot = f"/{self.total}" if self.total else ""
                print(f"{self.desc} {n}{tot} ({rate:.2f} it/s{eta}){self.postfix}", file=self.stream, flush=True)
                last = now
        self.elapsed = time.perf_counter() - start


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class log_to:
    """Context manager: append stdout and stderr to a log file too (the rule's ``log``)."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.file = open(self.path, "w", buffering=1)  # one log per run, not appended
        self.saved = sys.stdout, sys.stderr
        sys.stdout = _Tee(self.saved[0], self.file)
        sys.stderr = _Tee(self.saved[1], self.file)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None:
            import traceback

            traceback.print_exception(exc_type, exc, tb, file=self.file)
        sys.stdout, sys.stderr = self.saved
        self.file.close()
        return False


class _Tee:
    def __init__(self, *streams):
        self.streams = streams

    def write(self, s):
        for st in self.streams:
            st.write(s)
        return len(s)

    def flush(self):
        for st in self.streams:
            st.flush()
