"""Waiting for something to happen, bounded: every wait of the tests goes through ``wait_for``."""

import time


def wait_for(predicate, timeout, interval=0.5, what="a condition"):
    """Poll ``predicate`` until it returns something true, and return that; fail after ``timeout`` seconds.

    ``what`` names what was awaited in the failure message; it may be a function, called only on failure, that
    returns the text (for example the tail of a log, read then).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what() if callable(what) else what}")
        time.sleep(interval)
