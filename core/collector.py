"""Pause Python's cyclic garbage collector around a bulk write.

A big import or a list of events allocates hundreds of thousands of short-lived objects
(rows, cells, dicts, model instances). Each allocation burst makes the collector run, and
its older-generation passes walk everything the batch still holds, again and again: 15-20%
of an import's CPU went there. The batch's objects form no cycles worth chasing, so the
collector is paused while it runs and resumes when the last batch of the process finishes.
Reference counting still frees everything as usual meanwhile.
"""

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_holders = 0
_resume = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the cyclic collector off while the block runs. Safe to nest and to use from several
    threads at once: the collector comes back (if it was on before) when the last block ends."""
    global _holders, _resume
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _resume:
                gc.enable()
