"""The times `logs --since/--until` accept, turned into the Unix timestamp the API takes.

As docker/cli's GetTimestamp: a Go duration (`42m`, `1h30m`, `1.5h`) counts back from now;
an RFC 3339 date or date-time (`2013-01-02T13:23:37Z`, `2013-01-02T13:23:37.5+02:00`,
`2013-01-02T13:23`, `2013-01-02`), local time when it names no zone; or a Unix timestamp
(`1136073600`, `1136073600.000000001`) as it is.
"""
import datetime
import re
import time

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(\.\d+)?)?)?)?"
                        r"(Z|[+-]\d{2}:\d{2})?$")
_UNIX = re.compile(r"\d+(\.\d{1,9})?$")


def api_timestamp(value, now=None):
    """`value` as seconds since the epoch, a string for the API; ValueError names the value."""
    now = time.time() if now is None else now
    seconds = _duration_seconds(value)
    if seconds is not None:
        return "%.9f" % (now - seconds)
    if _UNIX.match(value):
        return value
    moment = _DATE_TIME.match(value)
    try:
        if moment:
            return "%.9f" % _date_time_seconds(*moment.groups())
    except ValueError:                   # a month 13, an hour 25
        pass
    raise ValueError('failed to parse value as time or duration: "%s"' % value)


def _duration_seconds(value):
    """A Go duration's length in seconds, or None when `value` is not one."""
    sign, body = (-1, value[1:]) if value.startswith("-") else (1, value.lstrip("+"))
    parts = _DURATION_PART.findall(body)
    if not parts or "".join(number + unit for number, unit in parts) != body:
        return None
    return sign * sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _date_time_seconds(date, hour, minute, second, fraction, zone):
    moment = datetime.datetime.strptime(date, "%Y-%m-%d").replace(
        hour=int(hour or 0), minute=int(minute or 0), second=int(second or 0))
    if zone is None:
        epoch = time.mktime(moment.timetuple())          # no zone named: the local time
    else:
        offset = 0 if zone == "Z" else (int(zone[1:3]) * 60 + int(zone[4:6])) * (1 if zone[0] == "+" else -1)
        epoch = (moment - datetime.datetime(1970, 1, 1)).total_seconds() - offset * 60
    return epoch + float(fraction or 0)
