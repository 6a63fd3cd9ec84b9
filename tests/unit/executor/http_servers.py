"""Local HTTP servers that stand in for the outside world of `http.request`: one that
records what it was sent, one that redirects to the cloud metadata address, one that
floods its answer."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Quiet(BaseHTTPRequestHandler):
    """A handler that keeps the test output free of its access log."""

    def log_message(self, *args: Any) -> None:
        pass


class Recorder(Quiet):
    """Answers 200 with JSON (or the status a `/status/<n>` path names) and keeps every
    request it was sent in `seen`."""

    seen: list[dict[str, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        status = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/status/") else 200
        payload = json.dumps({"ok": status < 400}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer


class Redirect(Quiet):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("content-length", "0")
        self.end_headers()


class Flood(Quiet):
    """Answers 10 MB without a content-length (read until the connection closes)."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        if self.path == "/announced":
            self.send_header("content-length", str(10 * 1024 * 1024))
        self.end_headers()
        chunk = b"x" * 65536
        try:
            for _ in range(160):
                self.wfile.write(chunk)
        except OSError:
            pass  # the client stopped reading: what the limit is for


def start_server(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """`handler` served on a free loopback port from a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def stop_server(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()
