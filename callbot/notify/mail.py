"""The notification mail of a call: :func:`build_mail` → an :class:`email.message.EmailMessage`
with the fixed Message-ID of its outbox row, the text of :mod:`callbot.notify.content` and the
caller's recordings attached (``attach_recordings``, together at most ``max_attachments_mb``;
what does not fit is named in the mail instead).
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from callbot.i18n import gettext
from callbot.notify.content import CallSummary
from callbot.notify.settings import NotifySettings
from callbot.store.outbox import Notification


def _recording_path(recordings: Path, relative: str) -> Path | None:
    """A recording inside the recordings folder (a stored path never leads out of it)."""
    try:
        root = recordings.resolve()
        path = (root / relative).resolve()
    except OSError:
        return None
    return path if path.is_relative_to(root) and path.is_file() else None


def build_mail(summary: CallSummary, entry: Notification, settings: NotifySettings, recordings: Path,
               now: datetime) -> EmailMessage:
    language = entry.language
    message = EmailMessage()
    message["Subject"] = summary.subject(language)
    message["From"] = settings.mail_from
    message["To"] = entry.target
    message["Date"] = format_datetime(now)
    message["Message-ID"] = entry.message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the bot
    message["X-Callbot-Call"] = str(summary.record.id)
    lines = summary.lines(settings, language)
    attachments: list[tuple[str, bytes]] = []
    if entry.attach:
        budget = int(settings.max_attachments_mb * 1024 * 1024)
        left_out: list[str] = []
        for n, said in enumerate(summary.said, start=1):
            if not said.recording:
                continue
            path = _recording_path(recordings, said.recording)
            if path is None:
                continue
            size = path.stat().st_size
            if size > budget:
                left_out.append(Path(said.recording).name)
                continue
            budget -= size
            attachments.append((f"call{summary.record.id}-{n}-{said.field or 'turn'}.wav", path.read_bytes()))
        if left_out:
            lines += ["", gettext("Not attached (over the size limit): {names}", language).format(
                names=", ".join(left_out))]
    message.set_content("\n".join(lines) + "\n", cte="quoted-printable")
    for name, data in attachments:
        message.add_attachment(data, maintype="audio", subtype="wav", filename=name)
    return message
