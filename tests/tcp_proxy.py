"""A TCP forwarder on loopback that a test can cut and restore: "the database went down" without stopping the
shared PostgreSQL server. While cut, the port refuses connections and every open one is closed. The server may be
reached over TCP or a unix socket (the embedded PostgreSQL listens on a socket only)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tests.live_server import free_port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        # A host that is a path is a unix socket folder (libpq's convention).
        self.socket_path = f"{target_host}/.s.PGSQL.{target_port}" if target_host.startswith("/") else None
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        listener.settimeout(0.2)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                if self.socket_path is not None:
                    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    upstream.connect(self.socket_path)
                else:
                    upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


@contextmanager
def proxied_database(database_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """The same database reached through a proxy: (url through the proxy, the proxy)."""
    parts = urlsplit(database_url)
    query = dict(parse_qsl(parts.query))
    host = query.pop("host", None) or parts.hostname or "127.0.0.1"
    port = int(query.pop("port", None) or parts.port or 5432)
    proxy = TcpProxy(host, port)
    proxy.up()
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{proxy.port}" if userinfo else f"127.0.0.1:{proxy.port}"
    try:
        yield urlunsplit(parts._replace(netloc=netloc, query=urlencode(query))), proxy
    finally:
        proxy.down()
