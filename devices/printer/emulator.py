"""An ESC/POS receipt printer on a loopback TCP port (like a network printer's port 9100).

It parses the byte stream into printed pages (text lines with their style, QR codes, cuts)
and answers real-time status requests (DLE EOT n, GS r n) from a configurable paper state.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from dataclasses import dataclass, field

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10

# ESC commands this printer knows, with the number of parameter bytes after the command byte.
_ESC_PARAMS = {
    ord("@"): 0,  # initialise
    ord("!"): 1,  # print mode
    ord("E"): 1,  # bold
    ord("-"): 1,  # underline
    ord("a"): 1,  # justification
    ord("M"): 1,  # font
    ord("d"): 1,  # print and feed n lines
    ord("t"): 1,  # code table
    ord("{"): 1,  # upside down
    ord("G"): 1,  # double strike
    ord("3"): 1,  # line spacing
    ord("2"): 0,  # default line spacing
    ord("J"): 1,  # print and feed n dots
}
_GS_PARAMS = {ord("!"): 1, ord("B"): 1, ord("b"): 1}
_FS_PARAMS = {ord("&"): 0, ord("."): 0, ord("!"): 1, ord("-"): 1, ord("C"): 1}


@dataclass
class PrintedLine:
    """One printed line and the style it was printed in."""

    text: str
    align: str = "left"
    bold: bool = False
    width: int = 1
    height: int = 1


@dataclass
class QrCode:
    """A QR code as the printer was told to render it (GS ( k, cn = 49)."""

    payload: bytes
    model: int | None = None
    module_size: int | None = None
    error_correction: str | None = None
    printed: bool = False


@dataclass
class PrintedPage:
    """Everything printed up to (and including) a cut."""

    lines: list[PrintedLine] = field(default_factory=list)
    qr_codes: list[QrCode] = field(default_factory=list)
    cut: bool = False
    feed_lines: int = 0

    @property
    def text(self) -> list[str]:
        """The printed lines' text, blank lines dropped."""
        return [line.text for line in self.lines if line.text]


class EscposPrinterEmulator:
    """start(), print to ("127.0.0.1", emulator.port), read `pages`, stop().

    Like a printer's raw port it serves one connection at a time; parsing state (style,
    Chinese mode, the current page) lives in the printer, not in the connection.
    """

    def __init__(self, *, paper: str = "ok", cover_open: bool = False) -> None:
        self.paper = paper  # "ok" | "low" | "out"
        self.cover_open = cover_open
        self.mute = False  # True: status requests get no answer
        self.pages: list[PrintedPage] = []
        self.unknown: list[str] = []  # commands this emulator did not understand
        self.status_requests: list[str] = []
        self.dropped_bytes = 0  # text sent while the paper was out (not printed)
        self.port = 0
        self._page = PrintedPage()
        self._style = PrintedLine("")
        self._chinese = False
        self._line = bytearray()
        self._qr = QrCode(b"")
        self._cond = threading.Condition()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, port: int = 0) -> EscposPrinterEmulator:
        """Listen on 127.0.0.1 (port 0: a free one) and serve in a thread."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(4)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="escpos-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket."""
        if self._thread is None:
            return
        assert self._wake_w is not None
        self._wake_w.send(b"x")
        self._thread.join(timeout=5)
        for s in (self._listener, self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        self._listener = self._wake_r = self._wake_w = None
        self._thread = None

    def switch_off(self) -> None:
        """Power off: connections drop, nothing listens; pages already cut stay printed."""
        self.stop()
        with self._cond:
            self._page = PrintedPage()
            self._style = PrintedLine("")
            self._chinese = False
            self._line.clear()
            self._qr = QrCode(b"")

    def switch_on(self) -> EscposPrinterEmulator:
        """Power on again at the same address (the port it had before)."""
        return self.start(self.port)

    def __enter__(self) -> EscposPrinterEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for_pages(self, n: int, timeout: float = 5.0) -> list[PrintedPage]:
        """Block until n pages have been cut; TimeoutError otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.pages) >= n, timeout=timeout):
                raise TimeoutError(f"{len(self.pages)} pages printed, waited for {n}")
            return list(self.pages)

    # -- the printer ---------------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._listener is not None and self._wake_r is not None
        clients: dict[socket.socket, bytearray] = {}
        try:
            while True:
                # One job at a time, as a printer's raw port serves: the next connection
                # waits in the backlog until the current one closes.
                listening = [] if clients else [self._listener]
                ready, _, _ = select.select([*listening, self._wake_r, *clients], [], [])
                if self._wake_r in ready:
                    return
                for s in ready:
                    if s is self._listener:
                        conn, _ = self._listener.accept()
                        clients[conn] = bytearray()
                        continue
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        clients.pop(s).clear()
                        s.close()
                        continue
                    buf = clients[s]
                    buf += data
                    with self._cond:
                        self._parse(buf, s)
                        self._cond.notify_all()
        finally:
            for s in clients:
                s.close()

    def _parse(self, buf: bytearray, conn: socket.socket) -> None:
        """Consume every complete command at the head of buf; keep an incomplete tail."""
        while buf:
            used = self._command(buf, conn)
            if used == 0:
                return  # wait for more bytes
            del buf[:used]

    def _command(self, b: bytearray, conn: socket.socket) -> int:
        """Handle the command at b[0]; return bytes used, 0 if incomplete."""
        c = b[0]
        if c == 0x0A:
            self._end_line()
            return 1
        if c == 0x0D:
            return 1
        if c == DLE:
            if len(b) < 3:
                return 0
            if b[1] == 0x04:
                self._answer_status(conn, "DLE EOT", b[2])
                return 3
            self.unknown.append(f"DLE {b[1]:02X}")
            return 2
        if c == ESC:
            if len(b) < 2:
                return 0
            n = _ESC_PARAMS.get(b[1])
            if n is None:
                self.unknown.append(f"ESC {chr(b[1])!r}")
                return 2
            if len(b) < 2 + n:
                return 0
            self._esc(b[1], b[2 : 2 + n])
            return 2 + n
        if c == GS:
            if len(b) < 2:
                return 0
            if b[1] == ord("(") and len(b) >= 3 and b[2] == ord("k"):
                if len(b) < 5:
                    return 0
                size = b[3] | b[4] << 8
                if len(b) < 5 + size:
                    return 0
                self._two_d(bytes(b[5 : 5 + size]))
                return 5 + size
            if b[1] == ord("("):
                return 0 if len(b) < 3 else self._unknown_gs(b)
            if b[1] == ord("V"):
                if len(b) < 3:
                    return 0
                if b[2] in (65, 66):  # cut after feeding n dots: one more byte
                    if len(b) < 4:
                        return 0
                    self._cut()
                    return 4
                self._cut()
                return 3
            if b[1] == ord("r"):
                if len(b) < 3:
                    return 0
                self._answer_status(conn, "GS r", b[2])
                return 3
            n = _GS_PARAMS.get(b[1])
            if n is None:
                return self._unknown_gs(b)
            if len(b) < 2 + n:
                return 0
            if b[1] == ord("!"):
                self._style.width = (b[2] >> 4) + 1
                self._style.height = (b[2] & 0x0F) + 1
            return 2 + n
        if c == FS:
            if len(b) < 2:
                return 0
            n = _FS_PARAMS.get(b[1])
            if n is None:
                self.unknown.append(f"FS {chr(b[1])!r}")
                return 2
            if len(b) < 2 + n:
                return 0
            if b[1] == ord("&"):
                self._chinese = True
            elif b[1] == ord("."):
                self._chinese = False
            return 2 + n
        if c < 0x20:
            self.unknown.append(f"control {c:02X}")
            return 1
        return self._text(b)

    def _unknown_gs(self, b: bytearray) -> int:
        self.unknown.append(f"GS {chr(b[1])!r}")
        return 2

    def _text(self, b: bytearray) -> int:
        """Take printable bytes up to the next control byte (whole GB18030 characters only)."""
        end = 0
        while end < len(b) and b[end] >= 0x20:
            end += 1
        if end == len(b) and self._chinese:
            # A multi-byte character may be split across reads: keep an incomplete tail.
            try:
                bytes(b[:end]).decode("gb18030")
            except UnicodeDecodeError:
                return 0
        self._line += b[:end]
        return end

    def _esc(self, cmd: int, params: bytes) -> None:
        if cmd == ord("@"):
            self._line.clear()  # initialising clears the print buffer
            self._style = PrintedLine("")
            self._chinese = False
        elif cmd == ord("!"):
            mode = params[0]
            self._style.bold = bool(mode & 0x08)
            self._style.height = 2 if mode & 0x10 else 1
            self._style.width = 2 if mode & 0x20 else 1
        elif cmd == ord("E"):
            self._style.bold = bool(params[0] & 1)
        elif cmd == ord("a"):
            self._style.align = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center"}.get(
                params[0], "right"
            )
        elif cmd == ord("d"):
            self._end_line_if_pending()
            self._page.feed_lines += params[0]

    def _two_d(self, body: bytes) -> None:
        """GS ( k pL pH cn fn [params]: only QR (cn = 49) is modelled."""
        if len(body) < 2 or body[0] != 49:
            self.unknown.append(f"GS ( k cn={body[:1].hex()}")
            return
        fn, rest = body[1], body[2:]
        if fn == 65 and rest:  # 165: model
            self._qr.model = rest[0] - 48
        elif fn == 67 and rest:  # 167: module size
            self._qr.module_size = rest[0]
        elif fn == 69 and rest:  # 169: error correction
            self._qr.error_correction = {48: "L", 49: "M", 50: "Q", 51: "H"}.get(rest[0])
        elif fn == 80 and rest:  # 180: store data (m = 48)
            self._qr.payload = bytes(rest[1:])
        elif fn == 81:  # 181: print the stored symbol
            self._end_line_if_pending()
            if self.paper == "out":
                self.dropped_bytes += len(self._qr.payload)
            else:
                printed = QrCode(
                    self._qr.payload,
                    self._qr.model,
                    self._qr.module_size,
                    self._qr.error_correction,
                    printed=True,
                )
                self._page.qr_codes.append(printed)
        else:
            self.unknown.append(f"GS ( k fn={fn}")

    def _end_line_if_pending(self) -> None:
        if self._line:
            self._end_line()

    def _end_line(self) -> None:
        raw = bytes(self._line)
        self._line.clear()
        if self.paper == "out":
            self.dropped_bytes += len(raw)
            return
        text = raw.decode("gb18030" if self._chinese else "cp437", errors="replace")
        s = self._style
        self._page.lines.append(PrintedLine(text, s.align, s.bold, s.width, s.height))

    def _cut(self) -> None:
        self._end_line_if_pending()
        if self.paper == "out":
            return
        self._page.cut = True
        self.pages.append(self._page)
        self._page = PrintedPage()

    def _answer_status(self, conn: socket.socket, kind: str, n: int) -> None:
        self.status_requests.append(f"{kind} {n}")
        if self.mute:
            return
        out, low = self.paper == "out", self.paper in ("low", "out")
        if kind == "DLE EOT":
            if n == 1:
                byte = 0x12 | (0x08 if out or self.cover_open else 0)
            elif n == 2:
                byte = 0x12 | (0x04 if self.cover_open else 0) | (0x20 if out else 0)
            elif n == 3:
                byte = 0x12
            elif n == 4:
                byte = 0x12 | (0x0C if low else 0) | (0x60 if out else 0)
            else:
                self.unknown.append(f"DLE EOT {n}")
                return
        elif n in (1, 49):  # GS r 1: paper sensor status
            byte = (0x03 if low else 0) | (0x0C if out else 0)
        else:
            self.unknown.append(f"GS r {n}")
            return
        with contextlib.suppress(OSError):
            conn.sendall(bytes((byte,)))
