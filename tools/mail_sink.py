"""A local SMTP server that keeps every mail as a file: `make dev` and the tests send
notification email to it instead of to real people.

A real SMTP server (`aiosmtpd`), so the mailer speaks real SMTP to it; each mail
lands in the folder as `<nanoseconds since 1970>-<id>.eml`, readable with any mail client or `cat`.
Like any mail server, it adds a `Received` header naming the client's address and port:
mails with the same one came in the same SMTP session.
"""

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class MailFolder:
    """aiosmtpd handler: writes each accepted mail to `folder`."""

    def __init__(self, folder: Path, announce: bool) -> None:
        self.folder = folder
        self.announce = announce

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        host, port = session.peer[:2]
        received = f"Received: from {session.host_name} ([{host}]:{port}) by mail-sink\r\n"
        path.write_bytes(received.encode() + (envelope.original_content or envelope.content))
        if self.announce:
            print(f"mail to {', '.join(envelope.rcpt_tos)}: {path}", flush=True)
        return "250 Message accepted for delivery"


@contextmanager
def mail_sink(folder: Path, port: int, announce: bool = False) -> Iterator[Controller]:
    """An SMTP server on 127.0.0.1:`port` until the block ends."""
    controller = Controller(MailFolder(folder, announce), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def read_mails(folder: Path) -> list[EmailMessage]:
    """The mails in the folder, oldest first."""
    if not folder.exists():
        return []
    return [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted(folder.glob("*.eml"))
    ]
