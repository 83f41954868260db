"""A tiny SMTP receiver on 127.0.0.1 for tests: the world's edge, spoken to over a real socket.

The standard library lost smtpd in Python 3.12 and aiosmtpd is not a dependency; Django's SMTP
backend needs only the plain commands below (no TLS, no AUTH), so a few lines suffice.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from email.message import EmailMessage
from types import TracebackType
from typing import BinaryIO


class SmtpSink:
    """Accepts mail for anyone and keeps each message; use as a context manager."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port: int = self._server.getsockname()[1]
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="smtp-sink", daemon=True)

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                self._session(conn.makefile("rb"), conn)

    def _session(self, reader: BinaryIO, conn: socket.socket) -> None:
        sender = ""
        recipients: list[str] = []

        def reply(text: str) -> None:
            conn.sendall(text.encode("ascii") + b"\r\n")

        reply("220 sink ESMTP")
        for raw in iter(reader.readline, b""):
            command = raw.decode("ascii", "replace").strip()
            verb = command[:4].upper()
            if verb == "EHLO":
                reply("250-sink")
                reply("250 8BITMIME")
            elif verb == "HELO":
                reply("250 sink")
            elif verb == "MAIL":
                sender, recipients = command.split(":", 1)[1].strip().strip("<>"), []
                reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                reply("250 OK")
            elif verb == "DATA":
                reply("354 End data with <CR><LF>.<CR><LF>")
                data = bytearray()
                for line in iter(reader.readline, b""):
                    if line in (b".\r\n", b".\n"):
                        break
                    # Dot-stuffing: a leading dot was doubled by the client.
                    data += line[1:] if line.startswith(b"..") else line
                message = email.message_from_bytes(bytes(data), policy=email.policy.default)
                self.messages.append(message)  # type: ignore[arg-type]
                self.envelopes.append((sender, recipients))
                reply("250 OK queued")
            elif verb == "QUIT":
                reply("221 Bye")
                return
            else:  # RSET, NOOP and anything else: agree
                reply("250 OK")
