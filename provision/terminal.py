"""How a run's progress looks on a terminal: results scrolling above a live table of hosts, in colour.

provision/report.py decides what to say and uses this only when its stream is a terminal;
elsewhere it writes plain lines, so rich (a tenth of a no-op run's start-up) is not even imported.
"""
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text


class Terminal:
    def __init__(self, stream):
        self.console = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=True)
        self.live = None

    def start(self, rows):
        """Show the live table: rows of (host, steps done, what it is doing)."""
        self.live = Live(_table(rows), console=self.console, refresh_per_second=8, transient=True)
        self.live.start()

    def update(self, rows):
        if self.live:
            self.live.update(_table(rows))

    def stop(self):
        """End the live table (the lines printed above it stay)."""
        if self.live:
            self.live.stop()
            self.live = None

    def print(self, text, style):
        # Styled as Text, not with print(style=): that style would also paint the live table.
        self.console.print(Text(text, style=style or ""))


def _table(rows):
    table = Table(show_header=False, box=None, padding=(0, 1))
    for host, done, doing in rows:
        table.add_row(host, "%3d done" % done, doing)
    return table
