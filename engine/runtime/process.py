"""The last steps every container process takes (init and exec alike): find the command,
become its user with the container's capabilities, tell the shim, wait for START, exec.
"""
import os
import signal
import stat
import sys

from . import capabilities, channel, namespaces, users

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ExecError(Exception):
    """The command cannot run: `code` is docker's exit code for it (127 or 126)."""

    def __init__(self, message, code):
        Exception.__init__(self, message)
        self.code = code


def lookup(name, env):
    """The file `name` runs, searched in the container's PATH; errors worded as docker's."""
    if "/" in name:
        candidates = [name]
    else:
        path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
        candidates = [os.path.join(d or ".", name) for d in path.split(":")]
    for candidate in candidates:
        try:
            mode = os.stat(candidate).st_mode
        except OSError as error:
            if "/" in name:
                raise ExecError('exec: "%s": stat %s: %s' % (name, name, error.strerror.lower()), 127)
            continue
        if stat.S_ISREG(mode) and mode & 0o111:
            return candidate
        if "/" in name:
            raise ExecError('exec: "%s": permission denied' % name, 126)
    raise ExecError('exec: "%s": executable file not found in $PATH' % name, 127)


def environment(env, home):
    """The spec's environment, plus HOME from passwd when the image did not set one (docker)."""
    if any(e.startswith("HOME=") for e in env):
        return list(env)
    return list(env) + ["HOME=" + home]


def become(user, cap_names, highest):
    """Drop to the user's ids, keeping exactly the container's capabilities."""
    capabilities.drop_bounding(cap_names, highest)
    namespaces.prctl(namespaces.PR_SET_KEEPCAPS, 1)        # setuid() would clear them all
    os.setgroups(user.groups)
    os.setgid(user.gid)
    os.setuid(user.uid)
    namespaces.prctl(namespaces.PR_SET_KEEPCAPS, 0)
    capabilities.apply(cap_names, highest)


def prepare_command(args, env, cwd, user_spec, cap_names, highest):
    """Everything between a finished filesystem and exec; returns (path, env)."""
    if not args:
        raise ExecError("no command specified", 125)
    user = users.resolve(user_spec)
    env = environment(env, user.home)
    os.makedirs(cwd, mode=0o755, exist_ok=True)  # docker creates a missing working directory
    os.chdir(cwd)                               # before lookup: "./run.sh" is relative to it
    path = lookup(args[0], env)
    become(user, cap_names, highest)
    return path, env


def use_pipes(stdio):
    """(stdin, stdout, stderr) fds become 0, 1, 2, in a session of the process's own (runc)."""
    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
    os.setsid()


def child_main(sock, setup):
    """The body of a forked child; never returns.

    `setup()` builds the container process and returns (path, args, env, no_new_privileges,
    pty master or None). Its failure is reported to the shim; success waits for START.
    """
    # Python's KeyboardInterrupt handler is no handler of the container's: as PID 1 without
    # one, it ignores SIGINT like any container's init until its command runs.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        path, args, env, no_new_privileges, master = setup()
    except ExecError as error:
        channel.send(sock, {"error": str(error), "code": error.code})
        os._exit(error.code)
    except Exception as error:                     # any other failure is the engine's: 125
        channel.send(sock, {"error": str(error) or repr(error), "code": 125})
        os._exit(125)
    channel.send(sock, {"ok": True}, master)
    if master is not None:
        os.close(master)
    if sock.recv(16) != channel.START:
        os._exit(125)                              # the shim went away before START
    os.umask(0o022)
    # An ignored or blocked signal stays so across exec: Python ignores SIGPIPE and SIGXFSZ,
    # and yardd may have been started ignoring or blocking others (CI's runner: signal 32).
    # The command starts as runc starts it, with every signal at its default, none blocked.
    for signum in range(1, namespaces.SIGNAL_COUNT + 1):
        if signum not in (signal.SIGKILL, signal.SIGSTOP):
            namespaces.default_signal(signum)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    if no_new_privileges:
        namespaces.prctl(namespaces.PR_SET_NO_NEW_PRIVS, 1)
    try:
        os.execve(path, args, dict(entry.partition("=")[::2] for entry in env))
    except OSError as error:
        sys.stderr.write('exec: "%s": %s\n' % (args[0], error.strerror.lower()))
        sys.stderr.flush()
        os._exit(127 if isinstance(error, FileNotFoundError) else 126)
