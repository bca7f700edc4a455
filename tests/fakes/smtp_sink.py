"""A local SMTP sink on 127.0.0.1 and a free port, for tests and bench/.

It speaks enough SMTP for any client (EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET,
NOOP, VRFY, QUIT), offers PIPELINING like real MTAs (`pipelining=False` for a server without
it), records every message it accepts (envelope and raw content), and answers chosen
recipients with a given reply (`refuse("x@example.com", "550 5.1.1 No such user")`, or a 4xx
for a temporary failure), or the DATA of the next messages (`fail_data_next`). `count_only`
keeps just a counter, for benchmarks.

Written on asyncio directly rather than on aiosmtpd: the sink must not be the bottleneck of the
SMTP benchmark (aiosmtpd's per-command machinery made it one), and tests need no extra package.

    with SmtpSink() as sink:
        ... host=sink.host, port=sink.port ...
        sink.messages[0].message["Subject"]

`python -m tests.fakes.smtp_sink` runs one in the foreground and prints its port.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from dataclasses import dataclass
from email.message import EmailMessage


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)  # type: ignore[return-value]


def _address(argument: str) -> str:
    """The address of 'FROM:<a@b> SIZE=123' / 'TO:<a@b>'."""
    value = argument.partition(":")[2].strip()
    if value.startswith("<"):
        value = value[1 : value.find(">")]
    return value.split(" ")[0]


class _Session(asyncio.Protocol):
    def __init__(self, sink: SmtpSink):
        self.sink = sink
        self.buffer = b""
        self.in_data = False
        self.data_lines: list[bytes] = []
        self._reset()

    def _reset(self) -> None:
        self.mail_from = ""
        self.rcpt_tos: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(b"220 sink.local ESMTP ready\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies = []
        while True:
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            reply = self._line(line)
            if reply:
                replies.append(reply)
            if reply.startswith("221"):
                self.transport.write("".join(replies).encode())
                self.transport.close()
                return
        if replies:
            self.transport.write("".join(replies).encode())

    def _line(self, line: bytes) -> str:
        if self.in_data:
            if line == b".":
                self.in_data = False
                return self._message_done()
            self.data_lines.append(line[1:] if line.startswith(b"..") else line)
            return ""
        command, _, argument = line.decode("utf-8", "replace").partition(" ")
        verb = command.upper()
        if verb == "EHLO":
            with self.sink.lock:
                self.sink.sessions += 1
            # PIPELINING as real MTAs offer it: every line already in the buffer is answered in order.
            extensions = "250-PIPELINING\r\n" if self.sink.pipelining else ""
            return f"250-sink.local\r\n{extensions}250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800\r\n"
        if verb == "HELO":
            with self.sink.lock:
                self.sink.sessions += 1
            return "250 sink.local\r\n"
        if verb == "MAIL":
            self._reset()
            self.mail_from = _address(argument)
            return "250 OK\r\n"
        if verb == "RCPT":
            address = _address(argument)
            refusal = self.sink.refusals.get(address.lower())
            if refusal:
                return refusal + "\r\n"
            self.rcpt_tos.append(address)
            return "250 OK\r\n"
        if verb == "DATA":
            if not self.rcpt_tos:
                return "503 5.5.1 Error: need RCPT command\r\n"
            self.in_data = True
            self.data_lines = []
            return "354 End data with <CR><LF>.<CR><LF>\r\n"
        if verb == "RSET":
            self._reset()
            return "250 OK\r\n"
        if verb in ("NOOP", "VRFY"):
            return "250 OK\r\n"
        if verb == "QUIT":
            return "221 Bye\r\n"
        return "502 5.5.2 Command not implemented\r\n"

    def _message_done(self) -> str:
        with self.sink.lock:
            if self.sink.data_failures:
                reply = self.sink.data_failures.pop(0)
                self._reset()
                return reply + "\r\n"
            self.sink.count += 1
            if not self.sink.count_only:
                content = b"\r\n".join(self.data_lines) + b"\r\n"
                self.sink.messages.append(ReceivedMessage(self.mail_from, tuple(self.rcpt_tos), content))
        self._reset()
        return "250 2.0.0 Message accepted for delivery\r\n"


class SmtpSink:
    def __init__(self, *, count_only: bool = False, port: int = 0, pipelining: bool = True):
        self.count_only = count_only
        self.pipelining = pipelining
        self.messages: list[ReceivedMessage] = []
        self.count = 0
        self.sessions = 0  # EHLO/HELO greetings seen: one per SMTP connection
        self.refusals: dict[str, str] = {}
        self.data_failures: list[str] = []
        self.lock = threading.Lock()
        self.host = "127.0.0.1"
        self.port = port or _free_port()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="smtp-sink")

    def start(self) -> SmtpSink:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            self._loop.create_server(lambda: _Session(self), self.host, self.port, reuse_address=True), self._loop
        )
        self._server = started.result(10)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def refuse(self, recipient: str, reply: str) -> None:
        """Answer RCPT TO:<recipient> with `reply` (e.g. "550 5.1.1 No such user" or
        "451 4.7.1 Greylisted, try again later")."""
        self.refusals[recipient.lower()] = reply

    def fail_data_next(self, reply: str, *, times: int = 1) -> None:
        with self.lock:
            self.data_failures.extend([reply] * times)

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.count = 0
            self.sessions = 0
            self.refusals.clear()
            self.data_failures.clear()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    sink = SmtpSink(count_only=True).start()
    print(f"SMTP sink on {sink.host}:{sink.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sink.stop()
