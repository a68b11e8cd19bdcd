"""An emulated network camera: the MJPEG stream an IP camera serves over HTTP.

Many kiosk face cameras are IP cameras or UVC-to-network bridges. They serve motion JPEG as one
long HTTP response of type `multipart/x-mixed-replace; boundary=...`: each part is a JPEG with
its own `Content-Type` and `Content-Length` headers, sent at the camera's frame rate. OpenCV's
FFmpeg backend reads such a URL as a video (`cv2.VideoCapture("http://host/stream.mjpg")`), so
the kiosk's `OpenCvCamera` driver reads this emulator exactly as it reads the real camera.

The frames come from any source with `capture()` (for example a `LivePersonSource` standing in
front of the camera). The camera is paced like a real one: one frame every `1/fps` seconds,
rendered when it is sent, so what the kiosk sees is what stands in front of the lens now, up to
the stream's buffering. The emulator asks for HTTP Basic credentials when given them, as IP
cameras do; a wrong or missing password is answered 401 and nothing is streamed.
"""

from __future__ import annotations

import base64
import hmac
import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import numpy as np
from PIL import Image

PATH = "/stream.mjpg"
BOUNDARY = "allhoursframe"


class _Source(Protocol):
    def capture(self) -> np.ndarray: ...


class MjpegCameraEmulator:
    """start(); give the kiosk `url`; stop().

    `frames_sent` counts the JPEGs served; `denied` the requests with wrong credentials (a
    request without any is only challenged: HTTP clients send their account after the 401).
    """

    def __init__(
        self,
        source: _Source,
        *,
        fps: float = 10.0,
        quality: int = 85,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.source = source
        self.fps = fps
        self.quality = quality
        self.credentials = credentials
        self.frames_sent = 0
        self.denied = 0
        self._render_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        """The stream's URL, with the credentials in it when the camera asks for them."""
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        auth = ""
        if self.credentials:
            auth = f"{self.credentials[0]}:{self.credentials[1]}@"
        return f"http://{auth}{host}:{port}{PATH}"

    def start(self) -> MjpegCameraEmulator:
        self._stop.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mjpeg-camera", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Unplug the camera: streams end and new connections are refused."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> MjpegCameraEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def authorised(self, header: str | None) -> bool:
        if self.credentials is None:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:], validate=True)
        except ValueError:
            return False
        wanted = f"{self.credentials[0]}:{self.credentials[1]}".encode()
        return hmac.compare_digest(given, wanted)

    def jpeg(self) -> bytes:
        """The next frame of the source, encoded as the camera encodes it."""
        with self._render_lock:  # one source, however many viewers
            frame = self.source.capture()
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(frame[..., :3])).save(
            buf, "JPEG", quality=self.quality
        )
        return buf.getvalue()


def _handler_for(camera: MjpegCameraEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the stream ends when the connection closes
        server_version = "IPCamera/1.0"

        def setup(self) -> None:
            super().setup()
            # A small send buffer, as a camera's own has: frames wait at the camera, not in
            # the network, so a slow reader sees the scene of now and not of seconds ago.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)

        def do_GET(self) -> None:
            if self.path != PATH:
                self.send_error(404)
                return
            given = self.headers.get("Authorization")
            if not camera.authorised(given):
                camera.denied += given is not None
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            period = 1.0 / camera.fps
            due = time.monotonic()
            try:
                while not camera._stop.is_set():
                    jpeg = camera.jpeg()
                    self.wfile.write(
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                        + jpeg
                        + b"\r\n"
                    )
                    self.wfile.flush()
                    camera.frames_sent += 1
                    due += period
                    time.sleep(max(0.0, due - time.monotonic()))
                    due = max(due, time.monotonic() - period)  # no burst after a stall
            except (BrokenPipeError, ConnectionResetError):
                return  # the viewer went away

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
