"""What the local stand-ins of outside services share: an HTTP server on the loopback interface, in a thread."""

from __future__ import annotations

import selectors
import socket
import threading
from http.server import HTTPServer
from types import TracebackType
from typing import Self


class LoopbackServer:
    """An HTTP stand-in on ``host`` (port 0: any free one, :attr:`port` is then the real one), served in a daemon
    thread that sleeps until a connection arrives or ``stop()`` wakes it (``serve_forever`` would poll for its
    shutdown). Subclasses build their server in ``_new_server``."""

    thread_name = "loopback-server"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._stopping = threading.Event()
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None

    def _new_server(self) -> HTTPServer:
        raise NotImplementedError

    def start(self) -> None:
        """Bind and serve in a daemon thread; :attr:`port` is then the real port."""
        if self._server is not None:
            raise RuntimeError(f"{self.thread_name} is already started")
        self._stopping.clear()
        self._server = self._new_server()
        self._server.timeout = 0  # handle_request() only runs once the listening socket is readable
        self.port = self._server.server_address[1]
        self._wake = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, args=(self._server, self._wake[0]),
                                        name=self.thread_name, daemon=True)  # fmt: skip
        self._thread.start()

    def _serve(self, server: HTTPServer, wake: socket.socket) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(server, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is server and not self._stopping.is_set():
                        server.handle_request()

    def stop(self) -> None:
        """Stop serving and wake any request sleeping in a fault; idempotent."""
        server, thread, wake = self._server, self._thread, self._wake
        self._server, self._thread, self._wake = None, None, None
        self._stopping.set()
        if wake is not None:
            wake[1].send(b"x")
        if thread is not None:
            thread.join(timeout=5)
        if server is not None:
            server.server_close()
        if wake is not None:
            for end in wake:
                end.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:  # fmt: skip
        self.stop()
