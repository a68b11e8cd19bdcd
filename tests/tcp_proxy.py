"""A TCP proxy for tests that cuts a network silently: packets dropped, sockets left open.

Put between a client and a server, it forwards bytes both ways. `drop()` starts swallowing
everything in both directions without closing anything, as a failed router or a pulled cable
upstream does: neither end sees a reset or a FIN, only silence. `restore(reset=True)` lets
traffic through again, and (as a router coming back with an empty connection table does) resets
the connections that lived through the cut, so the client reconnects.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading


class SilentCutProxy:
    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]
        self._dropping = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self.dropped_bytes = 0

    def start(self) -> SilentCutProxy:
        self._spawn(self._accept_loop, "proxy-accept")
        return self

    def _spawn(self, target, name: str, *args) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            self._spawn(self._pump, "proxy-pump", client, server)

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if self._dropping.is_set():
                        self.dropped_bytes += len(data)
                        continue
                    peer[s].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            self._close_pair(a, b)

    def _close_pair(self, a: socket.socket, b: socket.socket) -> None:
        with self._lock:
            if (a, b) in self._pairs:
                self._pairs.remove((a, b))
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()

    def drop(self) -> None:
        """From now on every byte is swallowed, both ways; nothing is closed."""
        self._dropping.set()

    def restore(self, reset: bool = True) -> None:
        """Let traffic through again; reset the connections that lived through the cut."""
        if reset:
            with self._lock:
                pairs = list(self._pairs)
            for a, b in pairs:
                for s in (a, b):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
        self._dropping.clear()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            pairs = list(self._pairs)
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(timeout=5)
        for a, b in pairs:
            self._close_pair(a, b)
