"""Work that every host of a run asks for with the same inputs, done once.

Hosts run in threads and reach the same step at about the same moment, so a plain
functools.lru_cache would let each of them miss and repeat the work (compile a Jinja template,
run yardd on a daemon.json, build the engine bundle). Here the first caller does it and the
others with the same arguments wait for its result: for the process's life when the result
depends only on the arguments (once_per_arguments), for one run otherwise (per_run: the
engine bundle, read from engine/ as it is when the run starts). What is worth keeping
between runs goes below cache_dir().
"""
import functools
import os
import threading
from concurrent.futures import Future
from pathlib import Path


def once_per_arguments(function):
    """function memoised on its (hashable) positional arguments, safe to call from many threads.

    For pure functions only: a result is kept for the process's life. An exception reaches the
    callers waiting for it, then is forgotten: the next call tries again.
    """
    futures = {}
    lock = threading.Lock()

    @functools.wraps(function)
    def call(*args):
        with lock:
            future = futures.get(args)
            first = future is None
            if first:
                future = futures[args] = Future()
        if first:
            try:
                future.set_result(function(*args))
            except Exception as error:
                with lock:
                    del futures[args]
                future.set_exception(error)
        return future.result()

    return call


def per_run():
    """A fresh once(function, *args) for one run's hosts: each distinct call is computed once."""
    return once_per_arguments(lambda function, *args: function(*args))


def cache_dir():
    """Where provision keeps work between runs: $XDG_CACHE_HOME/dockyard, ~/.cache/dockyard."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dockyard"
