"""Webhooks (a real HTTP server on 127.0.0.1, the HMAC checked), the [notify] config, the rules'
days and quiet hours, and `callbot calls show` with the attempt log (issue #13)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from callbot.call.calllog import CallLog
from callbot.cli.main import main
from callbot.config.load import load_config
from callbot.errors import ConfigError
from callbot.notify.rules import Planner, plan
from callbot.notify.settings import NotifyRule, NotifySettings, QuietHours
from callbot.notify.worker import OutboxWorker
from callbot.outcome import Outcome
from callbot.records import CallerFields
from callbot.store.store import Store

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)  # Monday 10:30 in Berlin
SECRET = "webhook-secret-for-the-test"


class Receiver(BaseHTTPRequestHandler):
    statuses: list[int] = []
    got: list[tuple[dict, bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.got.append((dict(self.headers), body))
        status = self.statuses.pop(0) if self.statuses else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.statuses, Receiver.got = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def call(store: Store, planner: Planner, outcome=Outcome.WITHHELD_REJECTED) -> int:
    caller = CallerFields(raw="<sip:anonymous@anonymous.invalid>", display=None, number=None, dialled=None,
                          country=None, region=None, type=None, description=None, valid=False, withheld=True,
                          number_source=None)
    call_id = store.start_call(caller, "sip-w").call_id
    log = CallLog(store, call_id, planner)
    log.event("decision", "withheld", "From is anonymous")
    log.finish(outcome)
    store.flush()
    return call_id


def test_webhook_is_signed_and_retried_on_503(receiver, tmp_path):
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    settings = NotifySettings(webhook_secret=SECRET, rule=(NotifyRule(outcomes=("withheld_rejected",), webhook=url,
                                                                      language="en"),))
    Receiver.statuses = [503]
    with Store(tmp_path / "c.db", clock=lambda: T0) as store:
        call_id = call(store, Planner(settings))
        clock = type("C", (), {"now": T0, "__call__": lambda self: self.now})()
        worker = OutboxWorker(store, settings, tmp_path, clock=clock)
        assert worker.send_due() == 1
        clock.now = T0 + timedelta(minutes=1)
        assert worker.send_due() == 1
        [entry] = store.notifications(call_id)
        assert entry.state == "delivered" and [a.result for a in entry.history] == ["retry", "delivered"]
        assert entry.history[0].answer.startswith("HTTP 503")
    assert len(Receiver.got) == 2
    for headers, body in Receiver.got:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Callbot-Signature"], expected)
        assert headers["X-Callbot-Delivery"] == entry.message_id.strip("<>")  # the same on the repeat
    payload = json.loads(Receiver.got[1][1])
    assert payload["call"]["id"] == call_id and payload["call"]["outcome"] == "withheld_rejected"
    assert payload["call"]["decision"] == ["withheld: From is anonymous"]
    assert payload["title"] == "Call from withheld number: Number withheld: turned away"


def test_webhook_4xx_fails_at_once(receiver, tmp_path):
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    settings = NotifySettings(webhook_secret=SECRET, rule=(NotifyRule(outcomes=("withheld_rejected",), webhook=url),))
    Receiver.statuses = [404]
    with Store(tmp_path / "c.db", clock=lambda: T0) as store:
        call_id = call(store, Planner(settings))
        OutboxWorker(store, settings, tmp_path, clock=lambda: T0).send_due()
        [entry] = store.notifications(call_id)
        assert entry.state == "failed" and entry.final_answer.startswith("HTTP 404")


def test_weekdays_and_quiet_hours():
    rule = NotifyRule(outcomes=("message_taken",), webhook="http://127.0.0.1:9/x", weekdays=("mon",),
                      quiet_hours=QuietHours(22 * 60, 7 * 60))
    settings = NotifySettings(rule=(rule,))
    assert plan(settings, 1, "message_taken", T0)[0]["not_before"] is None           # Monday 10:30
    assert plan(settings, 1, "blocked", T0) == []                                     # another outcome
    assert plan(settings, 1, "message_taken", T0 + timedelta(days=1)) == []           # Tuesday
    late = datetime(2026, 11, 23, 22, 15, tzinfo=timezone.utc)                        # Monday 23:15 Berlin
    assert plan(settings, 1, "message_taken", late)[0]["not_before"] == "2026-11-24T06:00:00.000Z"  # 07:00


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "prompts" / "de").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_notify_config_is_read_with_secrets_from_the_environment(tmp_path):
    path = write(tmp_path, """
[notify]
smtp_host = "smtp.mailbox.org"
smtp_security = "tls"
smtp_user = "buero@example.de"
mail_from = "buero@example.de"
[[notify.rule]]
outcomes = ["message_taken", "cold_call_countered"]
mail_to = ["buero@example.de"]
quiet_hours = "22:00-07:00"
weekdays = ["mon", "fri"]
[[notify.rule]]
outcomes = ["withheld_rejected", "transfer_failed"]
webhook = "https://ntfy.example.de/buero"
language = "en"
""")
    cfg = load_config(path, env={"CALLBOT_SMTP_PASSWORD": "pw", "CALLBOT_WEBHOOK_SECRET": "sec"})
    n = cfg.notify
    assert (n.smtp_port, n.smtp_password, n.webhook_secret) == (465, "pw", "sec")
    assert n.rule[0].quiet_hours == QuietHours(22 * 60, 7 * 60) and n.rule[0].weekdays == ("mon", "fri")
    assert n.rule[1].webhook == "https://ntfy.example.de/buero" and n.rule[1].language == "en"
    assert n.rule[1].outcomes == ("withheld_rejected", "transfer_failed")
    shown = cfg.redacted()["notify"]
    assert shown["smtp_password"] == "***" and shown["webhook_secret"] == "***" and "pw" not in repr(cfg)


def test_every_bad_notify_value_is_reported_with_its_key(tmp_path):
    path = write(tmp_path, """
[notify]
smtp_security = "ssl"
mail_from = "not an address"
page_url = "callbot.example.de"
timezone = "Mars/Olympus"
smtp_user = "x"
smtp_password = "hunter2"
[[notify.rule]]
outcomes = ["mesage_taken"]
mail_to = ["buero(at)example.de"]
quiet_hours = "22-7"
weekdays = ["monday", "xyz"]
langauge = "de"
[[notify.rule]]
outcomes = ["blocked"]
webhook = "https://hook.example.de/x"
""")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    text = "\n".join(err.value.problems)
    for expected in ['notify.smtp_security: expected one of "starttls", "tls", "none"',
                     "notify.mail_from:", "notify.page_url:", "notify.timezone:",
                     "notify.rule[1].outcomes: \"mesage_taken\" is not a call outcome — did you mean 'message_taken'?",
                     "notify.rule[1].mail_to:", "notify.rule[1].quiet_hours:", "notify.rule[1].weekdays: \"xyz\"",
                     "notify.rule[1].langauge: unknown key — did you mean 'language'?",
                     "notify.webhook_secret: rule 2 has a webhook but no secret"]:
        assert expected in text
    assert "hunter2" not in text


def test_calls_show_prints_each_notification_and_its_attempts(receiver, tmp_path):
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    config = write(tmp_path, f'[storage]\ndatabase = "c.db"\n[notify]\nwebhook_secret = "{SECRET}"\n'
                             f'[[notify.rule]]\noutcomes = ["withheld_rejected"]\nwebhook = "{url}"\n')
    settings = load_config(config, env={}).notify
    Receiver.statuses = [500]
    with Store(tmp_path / "c.db") as store:
        call_id = call(store, Planner(settings))
        OutboxWorker(store, settings, tmp_path).send_due()
    result = CliRunner().invoke(main, ["calls", "show", str(call_id), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"Webhook to {url} not delivered yet, next try" in result.output
    assert "will be retried: HTTP 500" in result.output


def test_a_rule_may_ask_for_a_failed_transfer_whatever_the_outcome():
    """#13.1: 'transferred failed' — the mark transfer_failed fires a rule although the call then
    ended as message_taken (the bot screened the caller instead)."""
    from datetime import datetime, timezone

    from callbot.notify.rules import plan
    from callbot.notify.settings import NotifyRule, NotifySettings

    settings = NotifySettings(webhook_secret="s", rule=(NotifyRule(outcomes=("transfer_failed",),
                                                                   webhook="http://127.0.0.1:9/hook"),))
    ended = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)
    assert plan(settings, 1, "message_taken", ended) == []
    [row] = plan(settings, 1, "message_taken", ended, frozenset({"transfer_failed"}))
    assert row["channel"] == "webhook"
