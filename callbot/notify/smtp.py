"""Sending one notification mail over SMTP (:func:`send_mail`), with the answer the server gave.

``notify.smtp_security``: ``starttls`` (EHLO, STARTTLS, EHLO again — refused without it, never
sent in the clear), ``tls`` (TLS from the first byte, usually port 465) or ``none`` (a local
Postfix on 25). The server's certificate and name are checked (the system's CAs, or the
``ssl_context`` handed in). AUTH when ``smtp_user`` is set.

How a failure counts (:class:`callbot.notify.answer.Answer`): a 4xx answer, a connection that
cannot be made or breaks, a timeout → ``retry``; no answer after the final dot →
``unconfirmed`` (maybe delivered; not sent again); a 5xx answer (also AUTH refused, a recipient
unknown) and a certificate that does not verify → ``failed`` at once.

The crash window (see :mod:`callbot.notify.worker`): the message is sent up to its last line,
then ``before_final_dot()`` records that the next bytes hand it over, then the final ``.``
goes out. A server discards a transaction whose ``.`` never came (RFC 5321 §3.8), so a mail
whose attempt died before that record is not delivered and safely sent again.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

from callbot.notify.answer import DELIVERED, FAILED, RETRY, UNCONFIRMED, Answer, HandOverRefused
from callbot.notify.settings import NotifySettings

#: Seconds one SMTP exchange may wait for the server at each step.
SMTP_TIMEOUT = 60.0


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return f"{code} {' '.join(text.split())}".strip()


def _judge(code: int, text: bytes | str, what: str) -> Answer:
    answer = f"{what}: {_reply(code, text)}"
    return Answer(FAILED if 500 <= code < 600 else RETRY, answer)


def _connect(settings: NotifySettings, context: ssl.SSLContext) -> smtplib.SMTP:
    host, port = settings.smtp_host, settings.smtp_port
    if settings.smtp_security == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
    smtp.ehlo()
    if settings.smtp_security == "starttls":
        if not smtp.has_extn("starttls"):
            smtp.close()
            raise smtplib.SMTPNotSupportedError(
                f"{host}:{port} offers no STARTTLS; the mail is not sent in the clear "
                f"(set notify.smtp_security = \"tls\" or \"none\" if that is what the server wants)")
        smtp.starttls(context=context)
        smtp.ehlo()
    if settings.smtp_user:
        smtp.login(settings.smtp_user, settings.smtp_password)
    return smtp


def _body(message: EmailMessage) -> bytes:
    """The message as SMTP carries it: CRLF lines, leading dots doubled, ending in CRLF."""
    data = message.as_bytes(policy=SMTP_POLICY)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def send_mail(settings: NotifySettings, message: EmailMessage, to: str, before_final_dot: Callable[[], None],
              context: ssl.SSLContext | None = None) -> Answer:
    """Send ``message`` to ``to``; ``before_final_dot`` is called when everything but the final
    dot has been sent (it raises :class:`HandOverRefused` to break off instead)."""
    context = context or ssl.create_default_context()
    smtp: smtplib.SMTP | None = None
    handed_over = False
    try:
        smtp = _connect(settings, context)
        code, text = smtp.mail(settings.mail_from)
        if code != 250:
            return _judge(code, text, "MAIL FROM")
        code, text = smtp.rcpt(to)
        if code not in (250, 251):
            return _judge(code, text, f"RCPT TO <{to}>")
        code, text = smtp.docmd("DATA")
        if code != 354:
            return _judge(code, text, "DATA")
        smtp.send(_body(message))
        try:
            before_final_dot()
        except HandOverRefused as exc:
            smtp.close()  # no final dot: the server drops the transaction
            smtp = None
            return Answer(RETRY, f"not handed over: {exc}")
        handed_over = True
        smtp.send(b".\r\n")
        code, text = smtp.getreply()
        if code == 250:
            return Answer(DELIVERED, _reply(code, text))
        return _judge(code, text, "end of data")
    except smtplib.SMTPAuthenticationError as exc:
        return _judge(exc.smtp_code, exc.smtp_error, "AUTH")
    except smtplib.SMTPResponseException as exc:
        return _judge(exc.smtp_code, exc.smtp_error, "server")
    except smtplib.SMTPNotSupportedError as exc:
        return Answer(FAILED, str(exc))
    except ssl.SSLCertVerificationError as exc:
        return Answer(FAILED, f"the server's certificate does not verify ({exc.verify_message}) — "
                              f"check notify.smtp_host (it must be the name in the certificate)")
    except (smtplib.SMTPException, OSError, socket.timeout) as exc:
        where = f"{settings.smtp_host}:{settings.smtp_port}"
        if handed_over:  # the whole message is with the server; sending it again could deliver it twice
            return Answer(UNCONFIRMED, f"{where}: no answer after the end of the message "
                                       f"({exc.__class__.__name__}: {exc}); not sent again — check the mailbox")
        return Answer(RETRY, f"{where}: {exc.__class__.__name__}: {exc}".strip())
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
