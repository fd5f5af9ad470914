"""The check round trip: every step's check in one sh script, and the queries they share.

Each step's snippet runs in its own subshell between marker lines (batch_script), and the
output comes back apart, per step (split_checks). Before the snippets, the script asks the
host once, for all of them, what would otherwise cost a process or two per step:

    one `systemctl show` for every unit the snippets name (units=),
    one `stat` for every path they name (stats=), one `sha256sum` for every file (sums=).

A snippet declares these as a `Snippet` (provision/actions) and reads the answers with the
lookups below, which are shell expansions, not processes. A lookup that finds nothing (the
snippet runs alone, a unit or path the shared query did not answer for) fails, and the
snippet then asks the host itself, as it would without the batch: the shared queries make
a check cheaper, never different.
"""
import re

from provision.actions import Observed, quote

UNIT_PROPERTIES = ("Id", "LoadState", "ActiveState", "UnitFileState", "NeedDaemonReload")
# systemctl's unit types: a name without one of these suffixes means NAME.service.
UNIT_SUFFIXES = (".service", ".socket", ".target", ".device", ".mount", ".automount", ".swap",
                 ".timer", ".path", ".slice", ".scope")

# Defined before the snippets when the batch shares a query. Values are cut out of the shared
# answers with parameter expansion; quoted parts of a pattern match literally. The shared stat
# prints `path<TAB>mode owner group size`: a tab, which no path given to it holds (plain()).
LOOKUPS = r"""
dy_nl='
'
dy_prop() {
    case $dy_block in *"$dy_nl$1="*) ;; *) return 1;; esac
    dy_value=${dy_block#*"$dy_nl$1="}
    dy_value=${dy_value%%"$dy_nl"*}
}
dy_unit() {
    case $dy_units in *"${dy_nl}Id=$1$dy_nl"*) ;; *) return 1;; esac
    dy_block=${dy_units#*"${dy_nl}Id=$1$dy_nl"}
    dy_block=$dy_nl${dy_block%%"$dy_nl$dy_nl"*}$dy_nl
    dy_prop LoadState && dy_load=$dy_value &&
    dy_prop ActiveState && dy_active=$dy_value &&
    dy_prop UnitFileState && dy_unit_file=$dy_value &&
    dy_prop NeedDaemonReload && dy_reload=$dy_value
}
dy_stat() {
    case $dy_stats in *"$dy_nl$1	"*) ;; *) return 1;; esac
    dy_attrs=${dy_stats#*"$dy_nl$1	"}
    dy_attrs=${dy_attrs%%"$dy_nl"*}
}
dy_sum_is() {
    case $dy_sums in *"$dy_nl$2  $1$dy_nl"*) return 0;; esac
    return 1
}
"""


def unit_id(name):
    """The unit systemctl means by name: yard -> yard.service."""
    return name if name.endswith(UNIT_SUFFIXES) else name + ".service"


def plain(path):
    """A path the shared stat and sha256sum answer in lines that name it as it is."""
    return not re.search(r"[\x00-\x1f\\]", path)


def unit_lookup(name):
    """sh that sets dy_load, dy_active, dy_unit_file and dy_reload (systemctl show's LoadState,
    ActiveState, UnitFileState, NeedDaemonReload) of the unit from the shared query; it fails
    when there is no answer for it."""
    return '{ [ -n "${dy_units+set}" ] && dy_unit %s; }' % quote(unit_id(name))


def stat_lookup(path):
    """sh that sets dy_attrs to `mode owner group size` of path (stat -L) from the shared query;
    it fails when there is no answer for it."""
    if not plain(path):
        return "false"
    return '{ [ -n "${dy_stats+set}" ] && dy_stat %s; }' % quote(path)


def sum_is(path, sha256):
    """sh that succeeds when the shared sha256sum saw path with that digest."""
    if not plain(path):
        return "false"
    return '{ [ -n "${dy_sums+set}" ] && dy_sum_is %s %s; }' % (quote(path), sha256)


def prelude(snippets):
    """The shared queries of these snippets, and the lookups that read them ("" if none)."""
    units, stats, sums = [], [], []
    for snippet in snippets:
        units += [unit_id(name) for name in getattr(snippet, "units", ())]
        stats += [path for path in getattr(snippet, "stats", ()) if plain(path)]
        sums += [path for path in getattr(snippet, "sums", ()) if plain(path)]
    queries = []
    if units:
        queries.append("dy_units=\"$dy_nl$(systemctl show -p %s -- %s 2>/dev/null)$dy_nl$dy_nl\""
                       % (",".join(UNIT_PROPERTIES), _words(units)))
    if stats:
        queries.append("dy_stats=\"$dy_nl$(stat -L -c '%%n\t%%a %%U %%G %%s' -- %s 2>/dev/null)$dy_nl\""
                       % _words(stats))
    if sums:
        queries.append("dy_sums=\"$dy_nl$(sha256sum -- %s 2>/dev/null)$dy_nl\"" % _words(sums))
    return LOOKUPS + "\n".join(queries) + "\n" if queries else ""


def _words(names):
    return " ".join(quote(name) for name in dict.fromkeys(names))


def batch_script(snippets, marker):
    """One sh script: the shared queries, then each {index: snippet} in its own subshell,
    between marker lines."""
    return prelude(snippets.values()) + "\n".join(
        "printf '\\n%s %d\\n' {m} {i}; printf '\\n%s %d\\n' {m} {i} >&2\n"
        "( {s}\n) </dev/null\nprintf '\\n%s rc %d\\n' {m} $?".format(m=marker, i=i, s=s)
        for i, s in snippets.items())


def split_checks(stdout, stderr, marker):
    """{index: Observed} from a batched check's output, split at the marker lines.

    Every marker line is printed with a newline before it, so a check's output is kept exactly,
    even when it does not end with a newline.
    """
    outs, errs = _sections(stdout, marker), _sections(stderr, marker)
    observed = {}
    for index, text in outs.items():
        ended = re.fullmatch(r"(.*)\n%s rc (\d+)\n?" % re.escape(marker), text, re.S)
        out, rc = (ended.group(1), int(ended.group(2))) if ended else (text, -1)
        observed[index] = Observed(rc, out, errs.get(index, ""))
    return observed


def _sections(text, marker):
    parts = re.split(r"\n%s (\d+)\n" % re.escape(marker), "\n" + text)
    return {int(index): body for index, body in zip(parts[1::2], parts[2::2])}
