"""The handshake between a shim and the child it forks (init or exec), over a SEQPACKET pair.

The shim says JOINED once it has moved the child into the container's cgroup. The child
sends one message when it is ready to exec (or why it cannot), with the pty master attached
when there is a terminal; the shim answers with START when the user's command may run.
"""
import array
import json
import socket

JOINED = b"joined"
START = b"start"


def pair():
    """(shim end, child end): message boundaries kept, closed on exec."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock, message, fd=None):
    ancillary = []
    if fd is not None:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
    sock.sendmsg([json.dumps(message).encode()], ancillary)


def receive(sock):
    """(message, fd or None); message is None when the child died before saying anything."""
    fds = array.array("i")
    data, ancillary, _, _ = sock.recvmsg(65536, socket.CMSG_LEN(fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return (json.loads(data.decode()) if data else None), (fds[0] if fds else None)
