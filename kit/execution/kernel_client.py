"""The kernel client of warm kernels: ready as soon as the kernel answers, no fixed wait."""

from __future__ import annotations

import time

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from traitlets import default

# Milliseconds between the client's attempts to connect to a kernel's ports (ZeroMQ's default: 100).
RECONNECT_MS = 10


class WarmKernelClient(AsyncKernelClient):
    """jupyter_client's asynchronous client, minus two waits at every kernel start.

    The client connects its sockets as soon as the kernel is launched, usually before the forked
    kernel has bound its ports (it does so 20-40 ms after the fork); ZeroMQ then retries the connection
    after its reconnect interval, 100 ms by default, and sometimes once more. Waiting for the kernel's
    first answer took 115-200 ms (median 167 ms over 11 runs) with the default and 29-32 ms with
    `RECONNECT_MS` = 10. The interval is set on the client's own ZeroMQ context (jupyter_client gives
    each client one), for the sockets it creates; nothing else in the process changes.

    `wait_for_ready` ends, in jupyter_client 8, by reading IOPub until it has been silent for 0.2 s,
    to drop the status messages of its kernel_info request. nbclient reads only the IOPub messages
    whose parent is the cell it executes, so those messages change nothing; here they are dropped
    if already there, without waiting. The rest is jupyter_client's loop as it is.
    """

    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        context = super()._context_default()
        context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
        return context

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        from queue import Empty

        abs_timeout = time.time() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                msg = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                pass
            else:
                if msg["msg_type"] == "kernel_info_reply":
                    try:  # IOPub connected? (returns as soon as a message arrives)
                        await self.iopub_channel.get_msg(timeout=0.2)
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(msg)
                        break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.time() > abs_timeout:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
        while True:
            try:
                await self.iopub_channel.get_msg(timeout=0)
            except Empty:
                break
