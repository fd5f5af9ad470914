"""docker's --sig-proxy: while `run`, `start -a` or `attach` follows a container that has no
terminal, the signals this CLI receives are the container's. Each one is sent to it with
POST /containers/{id}/kill?signal=NAME (docker's ForwardAllSignals), none of them stops the
CLI, and the CLI goes on to exit with the container's own code: the container decides what
a SIGTERM or a ^C means. (With a terminal, docker does not proxy: the pty carries ^C.)

The signals are blocked in every thread and taken by one thread with sigwait(), as Go's
signal.Notify hands them to a goroutine: no Python handler runs (so no KeyboardInterrupt),
and none is missed whichever thread the kernel picks for it.
"""
import _thread                 # not threading: its import was half of this module's cost to `run`
import signal

from engine.cli.client import ClientError

# Not forwarded: SIGKILL and SIGSTOP (they cannot be caught), SIGCHLD and SIGPIPE (about this
# process; docker skips them), SIGURG (docker skips it: Go's scheduler sends it) and SIGWINCH
# (about our terminal; the container has none).
KEPT = {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGPIPE, signal.SIGURG, signal.SIGWINCH}
REAL_TIME = set(range(signal.SIGRTMIN, signal.SIGRTMAX + 1))
FORWARDED = ({int(number) for number in signal.Signals} | REAL_TIME) - KEPT


def signal_name(number):
    """docker's spelling on the wire: TERM, USR1; a real-time signal without a name goes by number."""
    try:
        return signal.Signals(number).name[len("SIG"):]
    except ValueError:
        return str(number)


class SignalProxy:
    """`with SignalProxy(client, container_id, enabled):` forwards for the block's duration."""

    def __init__(self, client, container_id, enabled=True):
        self.client, self.container_id, self.enabled = client, container_id, enabled
        self.saved_mask = None

    def __enter__(self):
        if self.enabled:
            # Before any thread starts (the stdin copier, the forwarder): they inherit the mask.
            self.saved_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
            _thread.start_new_thread(self._forward, ())      # ends with the process, as a daemon thread
        return self

    def __exit__(self, *exc):
        if self.saved_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.saved_mask)

    def _forward(self):
        while True:
            number = signal.sigwait(FORWARDED)
            try:
                self.client.post("/containers/%s/kill" % self.container_id, {"signal": signal_name(number)})
            except ClientError:
                pass                 # it has ended, or not started yet: docker drops the signal too
