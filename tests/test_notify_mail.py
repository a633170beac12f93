"""Notification mails with proof of delivery (issue #13, requirements 1, 2 and 7).

A real SMTP server (aiosmtpd on 127.0.0.1, STARTTLS required, AUTH required, a throwaway CA
from trustme) receives the mails; a real call log; the sender (OutboxWorker) is driven with
its own clock, so retries after a backoff need no waiting. The crash tests SIGKILL a real
sender process at a chosen point of the SMTP exchange and start a new one.
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import wave
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

aiosmtpd = pytest.importorskip("aiosmtpd")
trustme = pytest.importorskip("trustme")

from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

from callbot.call.calllog import CallLog  # noqa: E402
from callbot.notify.report import deliveries  # noqa: E402
from callbot.notify.rules import Planner  # noqa: E402
from callbot.notify.settings import NotifyRule, NotifySettings  # noqa: E402
from callbot.notify.worker import OutboxWorker  # noqa: E402
from callbot.outcome import Outcome  # noqa: E402
from callbot.records import CallerFields, TurnFields  # noqa: E402
from callbot.store.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)  # a Monday, 10:30 in Berlin
QUEUED = "250 2.0.0 Ok: queued as TEST1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """The aiosmtpd handler: keeps what it received; answers can be set per test."""

    def __init__(self):
        self.messages: list[tuple[list[str], bytes]] = []
        self.rcpt_reply: str | None = None
        self.on_rcpt = None      # called on RCPT (the crash tests kill the sender there)
        self.on_data = None      # called when the whole message is in, before the answer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.on_rcpt:
            self.on_rcpt()
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.on_data:
            self.on_data()
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content))
        return QUEUED


class MailServer:
    def __init__(self, port: int, tls_dir: Path):
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.server_context)
        self.client_context = ssl.create_default_context()
        ca.configure_trust(self.client_context)
        self.ca_file = tls_dir / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.port = port
        self.mailbox = Mailbox()
        self.logins: list[bytes] = []
        self.controller: Controller | None = None

    def _auth(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"bot@example.de" \
            and auth_data.password == b"s3cret"
        if ok:
            self.logins.append(auth_data.login)
        return AuthResult(success=ok)

    def start(self):
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port,
                                     tls_context=self.server_context, require_starttls=True,
                                     authenticator=self._auth, auth_required=True)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(tmp_path):
    server = MailServer(free_port(), tmp_path)
    yield server
    server.stop()


def settings_for(port: int, **rule) -> NotifySettings:
    rule = {"outcomes": ("message_taken", "cold_call_countered"), "mail_to": ("buero@example.de",), **rule}
    return NotifySettings(smtp_host="127.0.0.1", smtp_port=port, smtp_security="starttls",
                          smtp_user="bot@example.de", smtp_password="s3cret", mail_from="callbot@example.de",
                          page_url="https://callbot.example.de/", rule=(NotifyRule(**rule),))


def write_wav(path: Path, seconds: float = 0.2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * int(8000 * seconds))


def finished_call(store: Store, recordings: Path, planner: Planner, outcome=Outcome.MESSAGE_TAKEN) -> int:
    """A screened call as the call layer writes it, finished through CallLog with the rules."""
    caller = CallerFields(raw="<sip:03012345678@fritz.box>", display="Muster", number="+493012345678",
                          dialled="03012345678", country=49, region="DE", type="fixed_line",
                          description="Berlin", valid=True, withheld=False, number_source="from")
    call_id = store.start_call(caller, "sip-1").call_id
    log = CallLog(store, call_id, planner)
    log.event("decision", "unknown", "number not on a list: screening")
    for seq, (field, text) in enumerate([("identity", "Max Muster von der Muster GmbH"),
                                         ("purpose", "Es geht um die Rechnung 4711")], start=1):
        write_wav(recordings / f"call{call_id}" / f"{seq}.wav")
        log.turn(TurnFields(seq=seq, speaker="caller", started_at=T0, duration=0.2, field=field, text=text,
                            recording=f"call{call_id}/{seq}.wav", end_reason="speech_stopped"))
    log.update(person="Max Muster", company="Muster GmbH", label="genuine", label_reasons="genuine: Rechnung")
    log.finish(outcome)
    store.flush()
    return call_id


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def log_store(tmp_path):
    store = Store(tmp_path / "callbot.db", clock=lambda: T0)
    store.start()
    yield store
    store.close()


def received(server: MailServer) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(raw, policy=email.policy.default) for _, raw in server.mailbox.messages]


def test_mail_over_starttls_and_auth_with_content_attachments_and_proof(smtp, log_store, tmp_path):
    smtp.start()
    settings = settings_for(smtp.port)
    planner = Planner(settings)
    recordings = tmp_path / "recordings"
    call_id = finished_call(log_store, recordings, planner)
    # the outcome and the outbox row were committed together; the planner woke the sender
    assert log_store.call(call_id).outcome == "message_taken"
    [queued] = log_store.notifications(call_id)
    assert (queued.state, queued.channel, queued.target, queued.attempts) == ("pending", "mail", "buero@example.de", 0)
    assert planner.wake.is_set()

    worker = OutboxWorker(log_store, settings, recordings, ssl_context=smtp.client_context, clock=Clock(T0))
    assert worker.send_due() == 1
    [mail] = received(smtp)
    assert smtp.logins == [b"bot@example.de"]
    assert smtp.mailbox.messages[0][0] == ["buero@example.de"]
    assert mail["Message-ID"] == queued.message_id
    assert mail["To"] == "buero@example.de" and mail["From"] == "callbot@example.de"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert "+493012345678" in mail["Subject"] and "Max Muster" in mail["Subject"]
    assert "Message taken" in mail["Subject"]
    body = mail.get_body(("plain",)).get_content()
    assert "+493012345678 (Berlin, DE)" in body
    assert "Muster GmbH" in body
    assert "„Max Muster von der Muster GmbH“" in body and "„Es geht um die Rechnung 4711“" in body
    assert "unknown: number not on a list: screening" in body
    assert f"https://callbot.example.de/calls/{call_id}" in body
    files = [(part.get_filename(), part.get_content_type(), part.get_content()) for part in mail.iter_attachments()]
    assert [(f, t) for f, t, _ in files] == [(f"call{call_id}-1-identity.wav", "audio/wav"),
                                             (f"call{call_id}-2-purpose.wav", "audio/wav")]
    assert files[0][2] == (recordings / f"call{call_id}" / "1.wav").read_bytes()

    [done] = log_store.notifications(call_id)
    assert (done.state, done.final_answer, done.attempts) == ("delivered", QUEUED, 1)
    [attempt] = done.history
    assert (attempt.result, attempt.answer, attempt.stage) == ("delivered", QUEUED, "final")
    [line] = deliveries(log_store, call_id, language="en")
    assert line.line.startswith("Mail to buero@example.de delivered ") and line.line.endswith(f"({QUEUED})")
    assert worker.send_due() == 0 and len(smtp.mailbox.messages) == 1  # delivered once


def test_server_down_for_a_while_is_retried_with_backoff_and_delivered_once(smtp, log_store, tmp_path):
    settings = settings_for(smtp.port, attach_recordings=False)
    call_id = finished_call(log_store, tmp_path / "rec", Planner(settings))
    clock = Clock(T0)
    worker = OutboxWorker(log_store, settings, tmp_path / "rec", ssl_context=smtp.client_context, clock=clock)
    assert worker.send_due() == 1                           # server down: connection refused
    [entry] = log_store.notifications(call_id)
    assert entry.state == "pending" and entry.history[0].result == "retry"
    assert "Connection refused" in entry.history[0].answer or "ConnectionRefused" in entry.history[0].answer
    assert entry.next_attempt_at == "2026-11-23T09:31:00.000Z"   # 1 min
    assert worker.send_due() == 0                           # not due before the backoff
    clock.now = T0 + timedelta(minutes=1)
    assert worker.send_due() == 1                           # still down
    assert log_store.notifications(call_id)[0].next_attempt_at == "2026-11-23T09:33:00.000Z"  # then 2 min
    smtp.start()
    clock.now = T0 + timedelta(minutes=3)
    assert worker.send_due() == 1
    clock.now = T0 + timedelta(hours=5)
    assert worker.send_due() == 0
    assert len(smtp.mailbox.messages) == 1
    [entry] = log_store.notifications(call_id)
    assert entry.state == "delivered" and [a.result for a in entry.history] == ["retry", "retry", "delivered"]
    [report] = deliveries(log_store, call_id, language="en")
    assert len(report.attempts) == 3 and report.attempts[-1].endswith(f"delivered: {QUEUED}")


def test_permanent_rejection_fails_at_once_and_is_listed(smtp, log_store, tmp_path):
    smtp.start()
    smtp.mailbox.rcpt_reply = "550 5.1.1 <buero@example.de>: Recipient address rejected: User unknown"
    settings = settings_for(smtp.port)
    call_id = finished_call(log_store, tmp_path / "rec", Planner(settings))
    worker = OutboxWorker(log_store, settings, tmp_path / "rec", ssl_context=smtp.client_context, clock=Clock(T0))
    assert worker.send_due() == 1
    [entry] = log_store.notifications(call_id)
    assert entry.state == "failed" and entry.attempts == 1
    assert "550 5.1.1" in entry.final_answer and "User unknown" in entry.final_answer
    assert [n.id for n in log_store.failed_notifications()] == [entry.id]
    assert worker.send_due() == 0 and smtp.mailbox.messages == []


def test_transient_failure_is_given_up_after_give_up_hours(smtp, log_store, tmp_path):
    settings = settings_for(smtp.port)
    settings = NotifySettings(**{**settings.__dict__, "give_up_hours": 2.0})
    call_id = finished_call(log_store, tmp_path / "rec", Planner(settings))
    clock = Clock(T0 + timedelta(hours=3))
    worker = OutboxWorker(log_store, settings, tmp_path / "rec", ssl_context=smtp.client_context, clock=clock)
    worker.send_due()
    [entry] = log_store.notifications(call_id)
    assert entry.state == "failed" and entry.final_answer.startswith("given up after 1 attempts")
    assert log_store.failed_notifications()[0].id == entry.id


def test_outcome_is_not_notified_twice_and_other_outcomes_not_at_all(log_store, tmp_path):
    settings = settings_for(free_port())
    planner = Planner(settings)
    call_id = finished_call(log_store, tmp_path / "rec", planner)
    CallLog(log_store, call_id, planner).finish(Outcome.MESSAGE_TAKEN)  # a second finish keeps the first
    other = finished_call(log_store, tmp_path / "rec", planner, outcome=Outcome.BLOCKED)
    log_store.flush()
    assert len(log_store.notifications(call_id)) == 1
    assert log_store.notifications(other) == []


SENDER = textwrap.dedent("""
    import ssl, sys
    from pathlib import Path
    from callbot.notify.settings import NotifyRule, NotifySettings
    from callbot.notify.worker import OutboxWorker
    from callbot.store.store import Store
    db, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    context = ssl.create_default_context(cafile=ca)
    settings = NotifySettings(smtp_host="127.0.0.1", smtp_port=port, smtp_user="bot@example.de",
                              smtp_password="s3cret", mail_from="callbot@example.de",
                              rule=(NotifyRule(outcomes=("message_taken",), mail_to=("buero@example.de",)),))
    store = Store(db)
    worker = OutboxWorker(store, settings, Path(db).parent / "rec", ssl_context=context)
    worker.recover()
    print("sent", worker.send_due(), flush=True)
    store.close()
""")


def run_sender(db: Path, server: MailServer, kill_at: str | None) -> int:
    """A sender process; with ``kill_at`` ('rcpt' or 'data') the SMTP server SIGKILLs it there."""
    proc = subprocess.Popen([sys.executable, "-c", SENDER, str(db), str(server.port), str(server.ca_file)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kill = lambda: os.kill(proc.pid, signal.SIGKILL)  # noqa: E731
    server.mailbox.on_rcpt = kill if kill_at == "rcpt" else None
    server.mailbox.on_data = kill if kill_at == "data" else None
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        server.mailbox.on_rcpt = server.mailbox.on_data = None
    return proc.returncode


@pytest.fixture
def crash_setup(smtp, tmp_path):
    smtp.start()
    store = Store(tmp_path / "callbot.db")
    settings = settings_for(smtp.port, outcomes=("message_taken",), attach_recordings=False)
    call_id = finished_call(store, tmp_path / "rec", Planner(settings))
    store.close()
    return tmp_path / "callbot.db", call_id


def read_notifications(db: Path, call_id: int):
    store = Store(db)
    try:
        return store.notifications(call_id)
    finally:
        store.close()


def test_killed_before_the_mail_was_complete_is_sent_again_once_with_the_same_message_id(smtp, crash_setup):
    db, call_id = crash_setup
    assert run_sender(db, smtp, kill_at="rcpt") == -signal.SIGKILL
    assert smtp.mailbox.messages == []
    [entry] = read_notifications(db, call_id)
    assert entry.state == "sending" and entry.history[0].result is None

    assert run_sender(db, smtp, kill_at=None) == 0          # the next start
    [mail] = received(smtp)
    [entry] = read_notifications(db, call_id)
    assert mail["Message-ID"] == entry.message_id
    assert entry.state == "delivered" and [a.result for a in entry.history] == ["interrupted", "delivered"]
    assert "sent again with the same Message-ID" in entry.history[0].answer
    assert run_sender(db, smtp, kill_at=None) == 0
    assert len(smtp.mailbox.messages) == 1


def test_killed_between_send_and_mark_is_not_sent_twice_and_shows_unconfirmed(smtp, crash_setup):
    db, call_id = crash_setup
    assert run_sender(db, smtp, kill_at="data") == -signal.SIGKILL  # the server has the mail; the bot died
    assert len(smtp.mailbox.messages) == 1
    [entry] = read_notifications(db, call_id)
    assert entry.state == "sending" and entry.history[0].stage == "final"

    assert run_sender(db, smtp, kill_at=None) == 0           # the next start: no second mail
    assert len(smtp.mailbox.messages) == 1
    [entry] = read_notifications(db, call_id)
    assert entry.state == "unconfirmed" and [a.result for a in entry.history] == ["unconfirmed"]
    assert "not sent again" in entry.final_answer
    store = Store(db)
    try:
        assert [n.id for n in store.failed_notifications()] == [entry.id]   # visible, never silently dropped
        [report] = deliveries(store, call_id, language="en")
        assert report.failed and report.line.startswith("Mail to buero@example.de not confirmed")
    finally:
        store.close()


def test_a_mail_waits_for_the_callers_words_that_are_still_being_transcribed(smtp, log_store, tmp_path):
    """Transcribed after the call (a busy decoder): the mail waits for the words, at most WORDS_WAIT."""
    from callbot.notify.worker import WORDS_LOOK, WORDS_WAIT

    smtp.start()
    settings = settings_for(smtp.port, attach_recordings=False)
    call_id = finished_call(log_store, tmp_path / "rec", Planner(settings))
    log_store.set_turn_text(call_id, 2, None, None)  # the purpose is still in the decoder
    log_store.flush()
    clock = Clock(T0)
    worker = OutboxWorker(log_store, settings, tmp_path / "rec", ssl_context=smtp.client_context, clock=clock,
                          transcripts=True)
    worker.send_due()
    assert smtp.mailbox.messages == []
    [entry] = log_store.notifications(call_id)
    assert entry.state == "pending" and entry.attempts == 0  # postponed, not an attempt
    log_store.set_turn_text(call_id, 2, "Es geht um die Rechnung 4711", 0.9)
    log_store.flush()
    clock.now = T0 + timedelta(seconds=WORDS_LOOK)
    assert worker.send_due() == 1
    [mail] = received(smtp)
    assert "Rechnung 4711" in mail.get_body(("plain",)).get_content()

    second = finished_call(log_store, tmp_path / "rec", Planner(settings))
    log_store.set_turn_text(second, 2, None, None)  # never transcribed (the decoder failed)
    log_store.flush()
    clock.now = T0 + timedelta(seconds=WORDS_WAIT)
    assert worker.send_due() == 1 and len(smtp.mailbox.messages) == 2  # goes out with what there is
