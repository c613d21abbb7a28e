"""A real HTTP receiver on 127.0.0.1 (random port) that can fail on purpose.

``receiver.script([500, 500, 200])`` sets the next responses (the last one repeats);
an item may be ``(status, {"Retry-After": "7"})`` or ``("slow", seconds)``. Every request
is recorded with its raw body and headers; ``receiver.secret`` makes the receiver verify
the Carebook signature with the documented scheme and answer 401 when it does not hold.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core import resilience
from notifications import egress
from notifications.signing import SIGNATURE_HEADER, SignatureError, verify_signature


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool | None
    verify_error: str = ""
    at: float = field(default_factory=time.monotonic)


@dataclass
class Receiver:
    url: str = ""
    responses: list[Any] = field(default_factory=lambda: [200])
    requests: list[Received] = field(default_factory=list)
    secret: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, responses: list[Any]) -> None:
        with self.lock:
            self.responses = list(responses)

    def next_response(self) -> Any:
        with self.lock:
            return self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]

    @property
    def count(self) -> int:
        return len(self.requests)


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            verified: bool | None = None
            error = ""
            if receiver.secret is not None:
                try:
                    verify_signature(body, self.headers.get(SIGNATURE_HEADER, ""), receiver.secret)
                    verified = True
                except SignatureError as exc:
                    verified, error = False, str(exc)
            receiver.requests.append(Received(self.path, dict(self.headers), body, verified, error))
            response = receiver.next_response()
            headers: dict[str, str] = {}
            if isinstance(response, tuple) and response[0] == "slow":
                time.sleep(response[1])
                response = 200
            elif isinstance(response, tuple):
                response, headers = response
            if verified is False:
                response = 401
            self.send_response(response)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            # The client may have timed out and left.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(b"ok" if response < 300 else b"receiver says no")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/carebook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class FakeDns:
    """Answers for host names, so that no test asks a real DNS server (the machine's
    resolver is not on loopback). An unknown name does not resolve."""

    answers: dict[str, list[str]] = field(
        default_factory=lambda: {"localhost": ["127.0.0.1", "::1"]}
    )
    asked: list[str] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.answers[host])


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """Every webhook URL check and delivery resolves names here, never on the network."""
    dns = FakeDns()
    monkeypatch.setattr(egress, "system_resolve", dns)
    return dns


@pytest.fixture(autouse=True)
def fresh_local_resilience_store() -> None:
    """On the embedded default the breakers live in this process: start each test clean.

    (On Redis they are keyed by the endpoint's uid, which never repeats.)
    """
    if isinstance(resilience.default_store(), resilience.LocalStore):
        resilience._default_store = resilience.LocalStore()
