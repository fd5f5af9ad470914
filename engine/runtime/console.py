"""Terminals: a pty allocated inside the container's own devpts, as runc does, so the
container sees /dev/pts/0 and /dev/console as its tty; the shim holds the master.
"""
import fcntl
import os
import struct
import termios

# Not in the termios module: <asm-generic/ioctls.h> (x86_64, aarch64).
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def open_pty(pts_dir="/dev/pts"):
    """(master fd, slave fd, slave path) of a new pty from the devpts instance at pts_dir."""
    master = os.open(os.path.join(pts_dir, "ptmx"), os.O_RDWR | os.O_NOCTTY)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))          # unlockpt()
    number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
    slave_path = os.path.join(pts_dir, str(number))
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    return master, slave, slave_path


def become_session_leader(slave):
    """A new session whose controlling terminal is the pty, which is also stdin/out/err."""
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)


def resize(master, height, width):
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
