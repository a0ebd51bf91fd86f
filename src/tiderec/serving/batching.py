"""Requests that arrive together are answered together: a micro-batcher on the service's event loop.

A recommendation costs a database read and a model pass whose price hardly depends on how many users it scores.
Under concurrent load several requests are parsed in the same turn of the event loop; the first one to arrive
schedules a flush at the end of the next turn, and every request submitted before the flush runs joins its batch.
The extra turn lets in the requests read from the sockets in the same turn as the first, which pass one await
before they submit: flushing at the end of the first turn split them into alternating small batches (a probe
logged 2.0 and 4.1 requests per batch on each of 2 workers at 16 connections). A/B at 16 connections
(benchmarks/results/serve_batching.md): 101,888 items, 2 workers, 24.0 / 32.2 ms p50 / p99 at 666 requests/s before,
15.0 / 25.1 ms at 1,032 after; Online Retail, 2 workers, 2,207 -> 2,945 requests/s; one worker within the run-to-run
spread. Waiting while each turn still brought requests, up to 4 turns, gave no more.

Under load a batch can still be short: the client whose requests complete it has not had a core yet (with wrk
and 2 workers on 2 cores, a probe found 5.6 and 6.5 requests per batch on workers holding 8 connections each, and
batches of 1-3 in the 5% tail, whose requests then waited for a whole batch more). So a flush within `wait` of the
last batch's end that finds fewer requests than the recent batches held waits up to `wait` for the rest, and runs
as soon as they are in (with the wait: 7.98 and 7.99 requests per batch). Alone, or after a pause, a request is a
batch of one after a turn with nothing to do.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from itertools import islice
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class MicroBatcher(Generic[In, Out]):
    """`await submit(x)` -> run([..., x, ...])'s answer for x; `run` answers each input with a value or the
    exception to raise for it, and runs on the event loop (as a synchronous handler would), at most `limit`
    inputs at a time. Under load (the flush falls within `wait` seconds of the last batch's end) with fewer
    inputs pending than the largest of the last `recent` batches held, the flush waits up to `wait` seconds for
    the rest, and runs as soon as they are in."""

    def __init__(
        self,
        run: Callable[[Sequence[In]], Sequence[Out | Exception]],
        limit: int = 64,
        wait: float = 0.004,
        recent: int = 8,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit {limit}: expected at least 1")
        if wait < 0 or recent < 1:
            raise ValueError(f"wait {wait}, recent {recent}: expected wait >= 0 and recent >= 1")
        self.run, self.limit, self.wait = run, limit, wait
        self.pending: list[tuple[In, asyncio.Future[Out]]] = []
        self.sizes: deque[int] = deque(maxlen=1000)
        """The sizes of the last 1,000 batches run."""
        self.recent = recent
        self.timer: asyncio.TimerHandle | None = None
        self.ended = -float("inf")
        """When the last batch's run ended (event-loop time)."""

    async def submit(self, item: In) -> Out:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = loop.create_future()
        self.pending.append((item, future))
        if len(self.pending) == 1:
            loop.call_soon(loop.call_soon, self._due)
        elif self.timer is not None and len(self.pending) >= self._expected():
            self.timer.cancel()
            self.timer = None
            loop.call_soon(self._flush)
        return await future

    def _expected(self) -> int:
        return min(max(islice(reversed(self.sizes), self.recent), default=1), self.limit)

    def _due(self) -> None:
        """The end of the next turn: flush, or wait for the rest of a batch the size recent ones had."""
        loop = asyncio.get_running_loop()
        if len(self.pending) < self._expected() and loop.time() - self.ended < self.wait:
            self.timer = loop.call_later(self.wait, self._flush)
        else:
            self._flush()

    def _flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending[: self.limit], self.pending[self.limit :]
        if not batch:
            return
        if self.pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self.sizes.append(len(batch))
        try:
            answers: Sequence[Out | Exception] = self.run([item for item, _ in batch])
        except Exception as exc:  # the batch failed as a whole: every request in it gets the error
            answers = [exc] * len(batch)
        self.ended = asyncio.get_running_loop().time()
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)
