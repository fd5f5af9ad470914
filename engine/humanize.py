"""Sizes and durations as docker prints them (go-units), for the CLI and the daemon's views."""
import math


def human_size(size):
    """docker's units.HumanSizeWithPrecision(size, 3): 1.24MB, 975kB, 5B."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    size = float(size)
    index = 0
    while size >= 1000 and index < len(units) - 1:
        size /= 1000.0
        index += 1
    return "%.3g%s" % (size, units[index])


def human_duration(seconds):
    """go-units' HumanDuration, which docker's ps uses."""
    seconds = int(seconds)
    minutes, hours = seconds // 60, int(math.floor(seconds / 3600.0 + 0.5))
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return "%d seconds" % seconds
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return "%d minutes" % minutes
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return "%d hours" % hours
    if hours < 24 * 7 * 2:
        return "%d days" % (hours // 24)
    if hours < 24 * 30 * 2:
        return "%d weeks" % (hours // 24 // 7)
    if hours < 24 * 365 * 2:
        return "%d months" % (hours // 24 // 30)
    return "%d years" % (seconds // 3600 // 24 // 365)
