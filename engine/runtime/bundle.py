"""The files a shim keeps in its bundle (or exec) directory, and how to reach its socket.

Shared by the shim (shim.py) and the daemon's handle on it (client.py).
"""
import json
import os

UNIX_PATH_MAX = 107


def read_json(path):
    with open(path) as handle:
        return json.load(handle)


def write_json(path, value):
    """Atomically: a reader sees the old file or the whole new one."""
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(value, handle)
    os.replace(temporary, path)


def read_int(path):
    with open(path) as handle:
        return int(handle.read())


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def socket_address(directory, opened):
    """shim.sock's address; a long bundle path goes through /proc/self/fd (108-byte limit)."""
    path = os.path.join(directory, "shim.sock")
    if len(path) <= UNIX_PATH_MAX:
        return path
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    opened.append(fd)
    return "/proc/self/fd/%d/shim.sock" % fd


def with_socket_address(directory, action):
    opened = []
    try:
        return action(socket_address(directory, opened))
    finally:
        for fd in opened:
            os.close(fd)


def read_line(sock):
    """One request/reply line, read byte by byte so nothing of a following stream is taken."""
    line = b""
    while not line.endswith(b"\n"):
        try:
            byte = sock.recv(1)
        except ConnectionResetError:          # the shim exited with our request unread
            byte = b""
        if not byte:
            break
        line += byte
    return line
