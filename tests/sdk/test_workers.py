from __future__ import annotations

import threading
import time

from themis._workers import Workers


def test_map_keeps_order_and_limits_concurrency() -> None:
    workers = Workers()
    running, peak = 0, 0
    lock = threading.Lock()

    def work(item: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return item * 10

    try:
        assert workers.map(work, list(range(9)), limit=3) == [i * 10 for i in range(9)]
        assert peak == 3
    finally:
        workers.close()


def test_nested_map_runs_on_threads_of_its_own() -> None:
    workers = Workers()
    try:
        inner = workers.map(
            lambda outer: workers.map(lambda x: (outer, x), [1, 2], limit=2),
            [7, 8],
            limit=2,
        )
        assert inner == [[(7, 1), (7, 2)], [(8, 1), (8, 2)]]
    finally:
        workers.close()


def test_threads_start_on_first_use_and_stop_on_close() -> None:
    before = threading.active_count()
    workers = Workers()
    assert threading.active_count() == before
    workers.map(lambda x: x, [1, 2, 3], limit=3)
    assert threading.active_count() > before
    workers.close()
    assert threading.active_count() == before
