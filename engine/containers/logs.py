"""Reading a container's json-file log (written by the runtime's shim) for `logs`.

Rotated files are <log>.N ... <log>.1 (oldest first), then <log> itself. Following keeps
reading the live file, switching to the new one when the shim rotates, and stops once the
container has ended and everything it wrote has been read.
"""
import collections
import json
import os
import time

from engine.containers.record import parse_time

POLL_SECONDS = 0.1


def entries(log_path, tail=None, follow=False, is_running=lambda: False, since=0.0, until=0.0):
    """Yield (stream, text, time) for each log entry; `tail` keeps only the last N entries,
    then those before `since` and after `until` (seconds since the epoch, 0: no bound) go."""
    handle = None
    backlog = collections.deque(maxlen=tail) if tail is not None and tail >= 0 else []
    for path in _files(log_path):
        try:
            current = open(path, "rb")
        except FileNotFoundError:
            continue
        for entry in _complete_lines(current):
            backlog.append(entry)
        if path == log_path:
            handle = current
        else:
            current.close()
    for entry in backlog:
        moment = parse_time(entry[2]) if since or until else 0.0
        if until and moment > until:
            follow = False                      # as docker: nothing after `until`, live or not
            break
        if not since or moment >= since:
            yield entry
    if not follow:
        if handle:
            handle.close()
        return
    for entry in _follow(handle, log_path, is_running, until):
        if until and parse_time(entry[2]) > until:
            return
        yield entry


def _follow(handle, log_path, is_running, until):
    """Entries written from now on, until the container has ended (or `until` has passed)."""
    try:
        while True:
            running = is_running()              # asked before reading: no line written after is lost
            if handle is None:
                handle = _open(log_path)
            if handle is not None:
                for entry in _complete_lines(handle):
                    yield entry
                if _rotated(handle, log_path):
                    for entry in _complete_lines(handle):
                        yield entry
                    handle.close()
                    handle = _open(log_path)
                    continue
            if not running or (until and time.time() > until):
                return
            time.sleep(POLL_SECONDS)
    finally:
        if handle:
            handle.close()


def _files(log_path):
    rotated = []
    number = 1
    while os.path.exists("%s.%d" % (log_path, number)):
        rotated.append("%s.%d" % (log_path, number))
        number += 1
    return list(reversed(rotated)) + [log_path]


def _open(path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None


def _rotated(handle, path):
    try:
        return os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return True


def _complete_lines(handle):
    """Entries of the whole lines from the handle's position on; a partial line is left for later."""
    while True:
        start = handle.tell()
        line = handle.readline()
        if not line:
            return
        if not line.endswith(b"\n"):
            handle.seek(start)
            return
        try:
            record = json.loads(line.decode("utf-8"))
        except ValueError:
            continue
        yield record.get("stream", "stdout"), record.get("log", ""), record.get("time", "")
