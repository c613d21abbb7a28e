"""A real SMTP server on 127.0.0.1 (random port) for the mail path's tests.

``refusing=True`` greets every connection with ``554`` (a server that will not take mail,
as a mail relay does when it is overloaded or blocks the sender); otherwise it accepts
each message and keeps it in ``messages``. Enough of RFC 5321 for Django's SMTP backend:
EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message

from django.test import override_settings


@dataclass
class SmtpServer:
    port: int = 0
    refusing: bool = False
    messages: list[Message] = field(default_factory=list)
    connections: int = 0

    @contextmanager
    def as_mail_backend(self) -> Iterator[None]:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=self.port,
            EMAIL_USE_TLS=False,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_TIMEOUT=5,
        ):
            yield


def _handler_for(server: SmtpServer) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(f"{line}\r\n".encode())

        def handle(self) -> None:
            server.connections += 1
            if server.refusing:
                self.reply("554 5.3.2 carebook-test: not accepting mail")
                return
            self.reply("220 carebook-test ESMTP")
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
                if verb == "EHLO":
                    self.reply("250-carebook-test")
                    self.reply("250 8BITMIME")
                elif verb in {"HELO", "MAIL", "RCPT", "RSET", "NOOP"}:
                    self.reply("250 OK")
                elif verb == "DATA":
                    self.reply("354 End data with <CR><LF>.<CR><LF>")
                    data = bytearray()
                    while (chunk := self.rfile.readline()) not in {b".\r\n", b""}:
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    server.messages.append(message_from_bytes(bytes(data)))
                    self.reply("250 OK queued")
                elif verb == "QUIT":
                    self.reply("221 Bye")
                    return
                else:
                    self.reply("502 Command not implemented")

    return Handler


@contextmanager
def smtp_server(*, refusing: bool = False) -> Iterator[SmtpServer]:
    state = SmtpServer(refusing=refusing)
    listener = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _handler_for(state))
    listener.daemon_threads = True
    state.port = listener.server_address[1]
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        listener.shutdown()
        listener.server_close()
