"""Work every host of a run asks for with the same inputs is done once (provision/memo.py)."""
import threading

import pytest

from provision.memo import once_per_arguments


def test_threads_asking_at_once_share_one_computation():
    calls, release = [], threading.Event()
    start = threading.Barrier(9)

    @once_per_arguments
    def square(n):
        calls.append(n)
        release.wait(10)   # the other threads arrive while the first is still computing
        return n * n

    results = []
    threads = [threading.Thread(target=lambda: (start.wait(), results.append(square(7)))) for _ in range(8)]
    for thread in threads:
        thread.start()
    start.wait()
    release.set()
    for thread in threads:
        thread.join()
    assert results == [49] * 8
    assert calls == [7]
    assert square(8) == 64 and calls == [7, 8]


def test_an_exception_reaches_its_caller_and_is_not_kept():
    outcomes = iter([ValueError("flaky"), "fine"])

    @once_per_arguments
    def attempt(name):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with pytest.raises(ValueError, match="flaky"):
        attempt("x")
    assert attempt("x") == "fine"
    assert attempt("x") == "fine"
