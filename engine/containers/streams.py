"""Joining a client's hijacked connection to a shim's attach socket (attach, exec start)."""
import socket
import struct
import threading

STDOUT, STDERR = 1, 2


def frame(stream, data):
    """Docker's 8-byte header: stream (1 stdout, 2 stderr), three zero bytes, big-endian size."""
    return struct.pack(">BxxxI", stream, len(data)) + data


def splice(client, inner, stdin, at_end=None):
    """Copy `inner` (the shim's socket, already framed) to `client` until the container's
    output ends; with `stdin`, copy the client's bytes the other way, closing the container's
    stdin when the client closes its side. `at_end()` runs before the client is let go (an
    exec records its exit code there: the client asks for it as soon as its stream ends)."""
    feeder = None
    if stdin:
        feeder = threading.Thread(target=_copy_input, args=(client, inner), daemon=True)
        feeder.start()
    try:
        while True:
            data = inner.recv(65536)
            if not data:
                break
            client.sendall(data)
    except OSError:
        pass                                   # the client went away: the container goes on
    finally:
        inner.close()
        if at_end:
            at_end()
        try:
            client.shutdown(socket.SHUT_RDWR)  # wakes the feeder up; the server closes it later
        except OSError:
            pass
    if feeder:
        feeder.join(5)


def _copy_input(client, inner):
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            inner.sendall(data)
        inner.shutdown(socket.SHUT_WR)
    except OSError:
        pass
