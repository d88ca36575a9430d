"""A TCP forwarder that holds every chunk for a set time, in both directions.

This kernel has no ``netem`` queueing discipline, so the rig puts a link's distance here:

    python tests/rig/delay_proxy.py LISTEN_HOST:PORT TARGET_HOST:PORT DELAY_MS

Each chunk read from one side is written to the other ``DELAY_MS`` after it arrived, in
order, so a request and its answer each take the delay: a round trip costs twice it, as
on a link with that one-way delay. It runs until killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it arrived."""
    held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def release() -> None:
        while True:
            due, chunk = await held.get()
            if not chunk:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(chunk)
            await writer.drain()
        writer.close()

    releaser = asyncio.create_task(release())
    try:
        while chunk := await reader.read(65536):
            held.put_nowait((time.monotonic() + delay, chunk))
    except ConnectionError:
        pass
    held.put_nowait((0.0, b""))
    with contextlib.suppress(ConnectionError):
        await releaser


async def _serve(listen: str, target: str, delay: float) -> None:
    host, port = listen.rsplit(":", 1)
    target_host, target_port = target.rsplit(":", 1)

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(target_host, int(target_port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pump(reader, up_writer, delay), _pump(up_reader, writer, delay))

    server = await asyncio.start_server(connected, host, int(port))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1000))
