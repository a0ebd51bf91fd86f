"""The micro-batcher: requests submitted in the same turn of the event loop or the next are run together, each
gets its own answer (or its own error), a lone request is a batch of one, and under load a batch short of the
recent ones' size waits a little for the rest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from tiderec.serving.batching import MicroBatcher


def _doubler(calls: list[list[int]], wait: float = 0.004) -> MicroBatcher[int, int]:
    def run(items: Sequence[int]) -> list[int | Exception]:
        calls.append(list(items))
        return [ValueError(f"odd {i}") if i % 2 else 2 * i for i in items]

    return MicroBatcher(run, limit=4, wait=wait)


def test_concurrent_requests_share_batches_and_keep_their_own_answers() -> None:
    calls: list[list[int]] = []
    batcher = _doubler(calls)

    async def main() -> list[int | BaseException]:
        return await asyncio.gather(*(batcher.submit(i) for i in range(10)), return_exceptions=True)

    answers = asyncio.run(main())
    assert [a for a in answers if not isinstance(a, BaseException)] == [0, 4, 8, 12, 16]
    assert [str(a) for a in answers if isinstance(a, ValueError)] == [f"odd {i}" for i in range(1, 10, 2)]
    assert calls == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(batcher.sizes) == [4, 4, 2]


def test_a_lone_request_runs_at_once_and_a_failing_batch_fails_each_request() -> None:
    calls: list[list[int]] = []
    batcher = _doubler(calls)
    assert asyncio.run(batcher.submit(6)) == 12
    assert calls == [[6]]

    def broken(items: Sequence[int]) -> list[int | Exception]:
        raise RuntimeError("database gone")

    failing: MicroBatcher[int, int] = MicroBatcher(broken)

    async def main() -> list[int | BaseException]:
        return list(await asyncio.gather(failing.submit(1), failing.submit(2), return_exceptions=True))

    assert [str(a) for a in asyncio.run(main())] == ["database gone", "database gone"]
    with pytest.raises(ValueError, match="at least 1"):
        MicroBatcher(broken, limit=0)
    with pytest.raises(ValueError, match="wait >= 0"):
        MicroBatcher(broken, wait=-1.0)


def test_a_request_submitted_one_turn_later_joins_the_batch_and_two_turns_later_does_not() -> None:
    calls: list[list[int]] = []
    batcher = _doubler(calls)

    async def after(turns: int, item: int) -> int:
        for _ in range(turns):
            await asyncio.sleep(0)
        return await batcher.submit(item)

    async def main() -> list[int | BaseException]:
        return list(await asyncio.gather(after(0, 0), after(1, 2), after(2, 4), return_exceptions=True))

    assert asyncio.run(main()) == [0, 4, 8]
    assert calls == [[0, 2], [4]]


def test_under_load_a_short_batch_waits_for_the_rest_and_runs_once_it_is_in() -> None:
    """After a batch of 3, one request right after it waits; two more arriving 10 ms later join it, and the batch
    runs then, long before the 30 s wait is over."""
    calls: list[list[int]] = []
    batcher = _doubler(calls, wait=30.0)

    async def late(item: int) -> int:
        await asyncio.sleep(0.01)
        return await batcher.submit(item)

    async def main() -> float:
        await asyncio.gather(*(batcher.submit(i) for i in (0, 2, 4)))
        started = time.monotonic()
        await asyncio.gather(batcher.submit(6), late(8), late(10))
        return time.monotonic() - started

    assert asyncio.run(main()) < 5.0
    assert calls == [[0, 2, 4], [6, 8, 10]]


def test_a_short_batch_runs_after_the_wait_and_a_request_after_a_pause_at_once() -> None:
    calls: list[list[int]] = []
    batcher = _doubler(calls, wait=0.2)

    async def main() -> tuple[float, float]:
        await asyncio.gather(*(batcher.submit(i) for i in (0, 2, 4)))
        started = time.monotonic()
        await batcher.submit(6)  # right after the batch: the rest may come, so it waits
        waited = time.monotonic() - started
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await batcher.submit(8)  # after a pause longer than the wait: no load, no wait
        return waited, time.monotonic() - started

    waited, alone = asyncio.run(main())
    assert waited >= 0.2
    assert alone < 0.1
    assert calls == [[0, 2, 4], [6], [8]]
