"""Container output in docker's json-file format, with max-size/max-file rotation.

One JSON object per line of output: {"log": "text\\n", "stream": "stdout", "time": RFC 3339}.
A line longer than 16 KiB is split, as docker does.
"""
import datetime
import json
import os

MAX_LINE = 16 * 1024


def timestamp():
    """Now in UTC, RFC 3339 with microseconds (what docker's time fields parse)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class JsonLog:
    def __init__(self, path, max_size=0, max_file=1):
        self.path = path
        self.max_size = max_size or 0
        self.max_file = max(max_file or 1, 1)
        self.file = open(path, "ab", buffering=0)        # unbuffered: `logs -f` sees each line
        self.size = self.file.tell()
        self.partial = {"stdout": b"", "stderr": b""}

    def write(self, stream, data):
        *lines, rest = (self.partial[stream] + data).split(b"\n")
        for line in lines:
            self._entry(stream, line + b"\n")
        while len(rest) >= MAX_LINE:
            self._entry(stream, rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        self.partial[stream] = rest

    def close(self):
        """Write what is left of unterminated lines, then close."""
        for stream, rest in sorted(self.partial.items()):
            if rest:
                self._entry(stream, rest)
        self.file.close()

    def _entry(self, stream, raw):
        record = {"log": raw.decode("utf-8", "replace"), "stream": stream, "time": timestamp()}
        encoded = (json.dumps(record) + "\n").encode()
        if self.max_size and self.size and self.size + len(encoded) > self.max_size:
            self._rotate()
        self.file.write(encoded)
        self.size += len(encoded)

    def _rotate(self):
        """log -> log.1 -> log.2 ... keeping max_file files in all (1: just truncate)."""
        self.file.close()
        for number in range(self.max_file - 1, 0, -1):
            source = self.path if number == 1 else "%s.%d" % (self.path, number - 1)
            if os.path.exists(source):
                os.replace(source, "%s.%d" % (self.path, number))
        self.file = open(self.path, "wb", buffering=0)
        self.size = 0
