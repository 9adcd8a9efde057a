"""What a process keeps per run (scholarflow/run_scoped.py): made once per run, bounded, closed
when dropped for being the oldest, never when its owner takes it back."""

from __future__ import annotations

import threading

from scholarflow.run_scoped import PerRun


def test_one_item_per_run_made_on_first_use() -> None:
    made: list[str] = []
    runs: PerRun[str] = PerRun()

    def make(run_id: str) -> str:
        made.append(run_id)
        return f"client of {run_id}"

    assert runs.get("a", lambda: make("a")) == "client of a"
    assert runs.get("a", lambda: make("a")) == "client of a"
    assert runs.get("b", lambda: make("b")) == "client of b"
    assert made == ["a", "b"]


def test_past_the_limit_the_least_recently_used_is_dropped_and_closed() -> None:
    closed: list[str] = []
    runs: PerRun[str] = PerRun(limit=2, close=closed.append)
    runs.get("a", lambda: "A")
    runs.get("b", lambda: "B")
    runs.get("a", lambda: "A again")  # used again: now the most recent
    runs.get("c", lambda: "C")
    assert closed == ["B"]
    assert runs.get("a", lambda: "new A") == "A"


def test_a_put_item_is_used_and_a_dropped_one_is_not_closed() -> None:
    closed: list[str] = []
    runs: PerRun[str] = PerRun(close=closed.append)
    runs.put("run", "the writer's client")
    assert runs.get("run", lambda: "another") == "the writer's client"
    runs.drop("run")
    assert closed == []
    assert runs.get("run", lambda: "another") == "another"


def test_threads_asking_at_once_share_one_item() -> None:
    runs: PerRun[object] = PerRun()
    seen: list[object] = []
    barrier = threading.Barrier(8)

    def ask() -> None:
        barrier.wait()
        seen.append(runs.get("run", object))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(item) for item in seen}) == 1
