"""Connections accepted once and handed to the workers in turn: the parent of several worker processes accepts on
the service's port and passes each connection's descriptor to the next worker over a Unix socket pair
(SCM_RIGHTS), so that the workers hold as many connections as each other, give or take one. With a socket of
their own per worker (SO_REUSEPORT) the kernel spreads connections by a hash of their addresses: measured here, 16
connections on 2 workers split 8/8 in 2 runs of 5 and up to 5/11 in the others, and the worker holding more set
the p99 (bench_serve, 101,888 items: 26.1 ms at 8/8, 30.9 at 5/11)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Sequence

import uvicorn

log = logging.getLogger("tiderec.serve")

ACCEPT_POLL_SECONDS = 0.5
"""How often the accepting thread looks whether it was asked to stop."""

HAND_TIMEOUT_SECONDS = 2.0
"""How long a worker that does not read its channel may hold up a connection before the next worker gets it."""


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(the parent's end, the worker's end) of a worker's channel."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.settimeout(HAND_TIMEOUT_SECONDS)
    return ours, theirs


def hand_over(listener: socket.socket, channels: Sequence[socket.socket | None], stop: threading.Event) -> None:
    """Accept on `listener` until `stop` is set, handing each connection to the next of `channels` in turn (None,
    a worker still loading, is skipped, and so is a channel whose worker is gone or does not read; `channels` may
    change item by item while this runs, as workers are replaced). The parent's copy of each connection is closed
    once it is handed over."""
    listener.settimeout(ACCEPT_POLL_SECONDS)
    turn = 0
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError as exc:
            if stop.is_set():
                return
            log.warning("accept failed: %s", exc)
            continue
        with conn:
            for attempt in range(len(channels)):
                at = (turn + attempt) % len(channels)
                channel = channels[at]
                if channel is None:
                    continue
                try:
                    socket.send_fds(channel, [b"c"], [conn.fileno()])
                except OSError:
                    continue
                turn = at + 1
                break
            else:
                log.error("no worker took a connection; it is closed")


class HandedServer(uvicorn.Server):
    """A uvicorn server for the connections its parent accepted and hands over (`hand_over`), with no socket of
    its own. The parent closing the channel (it is gone) stops the server."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel
        self._taking: set[asyncio.Task[object]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])
        if self.should_exit:
            return
        self.channel.setblocking(False)
        asyncio.get_running_loop().add_reader(self.channel.fileno(), self._take)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._close_channel()
        await super().shutdown(sockets)

    def _close_channel(self) -> None:
        if self.channel.fileno() >= 0:
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
            self.channel.close()

    def _protocol(self) -> asyncio.Protocol:
        """The protocol uvicorn's own listening server would give a connection."""
        protocol: asyncio.Protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        return protocol

    def _take(self) -> None:
        """Serve the connections waiting on the channel."""
        try:
            data, fds, _, _ = socket.recv_fds(self.channel, 1024, 256)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            self._close_channel()
            self.should_exit = True
            return
        loop = asyncio.get_running_loop()
        for fd in fds:
            task = loop.create_task(loop.connect_accepted_socket(self._protocol, socket.socket(fileno=fd)))
            self._taking.add(task)
            task.add_done_callback(self._taking.discard)
