"""A real HTTP server on loopback that receives webhooks: records every delivery, and can be told
to fail the first N with a 500 (to watch retries)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    url: str
    fail_first: int = 0
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    """Every POST that reached it: headers, raw body, parsed body, the status answered."""

    def events(self, name: str) -> list[dict[str, Any]]:
        return [d["json"] for d in self.deliveries if d["status"] == 200 and d["json"]["event"] == name]


def start_receiver(fail_first: int = 0) -> tuple[Receiver, ThreadingHTTPServer]:
    lock = threading.Lock()
    receiver = Receiver("", fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                status = 500 if receiver.fail_first > 0 else 200
                receiver.fail_first -= 1
                receiver.deliveries.append(
                    {"headers": dict(self.headers), "raw": raw, "json": json.loads(raw), "status": status}
                )
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/kbchat"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server
