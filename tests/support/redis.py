"""Redis servers that misbehave: one that accepts connections and never answers."""

import asyncio
from types import TracebackType


class BlackHole:
    """A TCP server on loopback that accepts every connection, reads whatever it is sent
    and never answers: a Redis whose process hangs, or whose network path drops replies."""

    def __init__(self) -> None:
        self.port = 0
        self.connections = 0
        self.bytes_received = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        while data := await reader.read(65536):
            self.bytes_received += len(data)

    async def __aenter__(self) -> "BlackHole":
        self._server = await asyncio.start_server(self._swallow, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()
