"""`yard logs --since/--until` values as docker/cli's GetTimestamp reads them."""
import os
import time

import pytest

from engine.cli.timestamps import api_timestamp

NOW = 1700000000.0


@pytest.mark.parametrize("value, expected", [
    ("42m", "1699997480.000000000"),
    ("1h30m", "1699994600.000000000"),
    ("1.5h", "1699994600.000000000"),
    ("500ms", "1699999999.500000000"),
    ("-10s", "1700000010.000000000"),            # a negative duration is in the future
    ("1136073600", "1136073600"),
    ("1136073600.000000001", "1136073600.000000001"),
    ("2006-01-01T00:00:00Z", "1136073600.000000000"),
    ("2006-01-01T02:00:00+02:00", "1136073600.000000000"),
    ("2005-12-31T19:00:00.25-05:00", "1136073600.250000000"),
])
def test_durations_count_back_from_now_and_dates_are_absolute(value, expected):
    assert api_timestamp(value, now=NOW) == expected


def test_a_date_without_a_zone_is_local_time(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Shanghai")      # the seeds' zone, UTC+8 without summer time
    time.tzset()
    try:
        assert api_timestamp("2006-01-01T08:00", now=NOW) == "1136073600.000000000"
        assert api_timestamp("2006-01-01", now=NOW) == "1136044800.000000000"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert os.environ.get("TZ") is None


@pytest.mark.parametrize("value", ["yesterday", "10x", "2006-13-01", "2006-01-01T25:00", "1h 30m", ""])
def test_anything_else_is_refused_naming_the_value(value):
    with pytest.raises(ValueError, match='failed to parse value as time or duration: "%s"' % value):
        api_timestamp(value, now=NOW)
