"""Paths inside a root (an image layer, a container's rootfs, a volume, a build context, a `cp`
target) that never lead out of it. The one way the engine reaches a path it was given by an
image, an archive or an API body.

A path is resolved as the kernel would resolve it if `root` were `/` (runc's securejoin, the
kernel's RESOLVE_IN_ROOT): a symlink met on the way is followed, but an absolute target starts
again at `root` and `..` stops there. The walk is a chain of O_PATH descriptors each opened with
O_NOFOLLOW, so a symlink swapped in while the walk runs is resolved the same way, never by the
kernel on the host's terms.

    resolve(root, path)                    -> absolute host path under root (symlinks resolved;
                                              missing components kept as named, nothing created)
    open_dir(root, path, create=False, mode=0o755)
                                           -> O_PATH descriptor of that directory (the caller
                                              closes it); `create` makes what is missing, with
                                              `mode` less the umask
    open_parent(root, path, create=False, mode=0o755)
                                           -> (O_PATH descriptor of the parent, final name): the
                                              final name is *not* followed, for callers that
                                              create, replace or remove it with the *at calls
    fd_path(fd)                            -> the host path a descriptor stands for (for mount)

Errors are OSError with the path as given (FileNotFoundError, NotADirectoryError, ELOOP).
"""
import errno
import os
import stat

MAX_SYMLINKS = 40           # as the kernel's path walk
_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def resolve(root, path):
    fd, missing = _walk(root, path, create=False, mode=0, missing_ok=True)
    try:
        return os.path.join(fd_path(fd), *missing)
    finally:
        os.close(fd)


def open_dir(root, path, create=False, mode=0o755):
    fd, _ = _walk(root, path, create=create, mode=mode, missing_ok=False)
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
    return fd


def open_parent(root, path, create=False, mode=0o755):
    names = _names(path)
    if not names or names[-1] == "..":
        raise ValueError("%r names no entry inside its root" % path)
    return open_dir(root, "/".join(names[:-1]), create=create, mode=mode), names[-1]


def fd_path(fd):
    return os.readlink("/proc/self/fd/%d" % fd)


def _names(path):
    return [name for name in path.split("/") if name not in ("", ".")]


def _walk(root, path, create, mode, missing_ok):
    """(O_PATH descriptor of the deepest entry of `path` that exists, names below it that do not).

    Every name but the last must be a directory or a symlink to one; the last may be anything.
    """
    stack = [os.open(root, _O_PATH | os.O_DIRECTORY)]     # the directories walked, root first
    pending = list(reversed(_names(path)))                 # names still to walk, next one last
    missing = []
    symlinks = 0
    try:
        while pending:
            name = pending.pop()
            if missing:                                    # below a missing entry: names only
                missing.pop() if name == ".." else missing.append(name)
                continue
            if not stat.S_ISDIR(os.fstat(stack[-1]).st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            try:
                fd = os.open(name, _O_PATH, dir_fd=stack[-1])
            except FileNotFoundError:
                if create:
                    _mkdir(name, mode, stack[-1])
                    pending.append(name)
                elif missing_ok:
                    missing.append(name)
                else:
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
                continue
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                os.close(fd)
                symlinks += 1
                if symlinks > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(name, dir_fd=stack[-1])
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                pending.extend(reversed(_names(target)))
                continue
            stack.append(fd)
        return stack.pop(), missing
    finally:
        for fd in stack:
            os.close(fd)


def _mkdir(name, mode, dir_fd):
    try:
        os.mkdir(name, mode, dir_fd=dir_fd)
    except FileExistsError:
        pass                        # made meanwhile (by whom does not matter: it is walked next)
