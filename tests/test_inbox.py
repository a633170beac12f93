"""The office inbox and the users (issue #13, 3 and 4): which calls are open items, their
state/assignee/notes/due with who and when, threads per number, roles checked in one place,
per-user logins ended server-side, and the `callbot inbox` / `callbot users` commands."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta

import pytest
from click.testing import CliRunner

from callbot.errors import CallbotError
from callbot.passwords import hash_password
from callbot.store.sessions import FILE_NAME, SessionTable
from callbot.store.store import Store
from tests.test_web import (COLD, GENUINE, NOW, PASSWORD, _call, clock, follow, login, make_client, post,  # noqa: F401
                            site, token_of)

STAFF_PW = "anna's password 1"


def add_user(site, name="anna", role="staff", password=STAFF_PW):
    store = site.store()
    try:
        store.add_user(name, role, "test", hash_password(password, n=2**10)).result(5)
    finally:
        store.close()


def login_as(client, name, password):
    token = token_of(client, "/login")
    return client.post("/login", data={"user": name, "password": password, "csrf_token": token, "next": "/inbox"})


@pytest.fixture
def staff(site, clock):
    add_user(site)
    with make_client(site, clock) as client:
        assert login_as(client, "anna", STAFF_PW).status_code == 303
        yield client


@pytest.fixture
def owner(site, clock):
    with make_client(site, clock) as client:
        assert login(client).status_code == 303
        yield client


def inbox_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'id="item-(\d+)"', html)]


# --------------------------------------------------------------------------
# Store: which calls are open items


def test_open_items_are_decided_from_the_calls(tmp_path):
    store = Store(tmp_path / "calls.db")
    rows = [
        _call(60, "+4930100001", "answered"),                                   # 1: nothing to do
        _call(50, "+4930100002", "message_taken"),                              # 2: message
        _call(40, "+4930100003", "caller_hung_up", label="genuine"),            # 3: genuine caller
        _call(35, "+4930100004", "cold_call_countered", label="cold_call"),     # 4: countered, no lead
        _call(30, "+4930100005", "cold_call_countered", label="cold_call",      # 5: a lead
              turns=[{"seq": 1, "speaker": "caller", "field": "contact_details", "text": "0301234",
                      "started_at": NOW, "duration": 1.0}],
              leads=[{"turn_seq": 1, "field": "contact_details", "created_at": NOW, "text": "0301234"}]),
        _call(20, "+4930100006", "caller_hung_up", events=[                    # 6: failed transfer
            {"at": NOW, "kind": "handoff", "rule": "transfer", "reason": "REFER refused (603)"}]),
        _call(15, "+4930100007", "transferred", label="genuine", events=[      # 7: reached a person
            {"at": NOW, "kind": "handoff", "rule": "transfer", "reason": "transferred"}]),
        _call(10, "+4930100008", "handed_off"),                                 # 8: rang the office
    ]
    try:
        store.bulk_insert_calls(rows).result(10)
        ids = {r.caller_number: r.id for r in store.search_calls(per_page=20)[0]}
        expected = [ids[f"+493010000{n}"] for n in (6, 5, 3, 2)]
        items = store.inbox_page()
        assert [i.call.id for i in items] == expected  # newest first
        assert store.inbox_open_count() == 4
        assert all(i.state == "open" and i.assignee is None for i in items)
        assert items[1].purpose == "0301234"
        # done leaves the inbox; a call someone made an item of joins it
        store.change_inbox_item(ids["+4930100002"], "anna", state="done", note="called back").result(5)
        store.change_inbox_item(ids["+4930100008"], "bernd", assignee="bernd").result(5)
        assert [i.call.id for i in store.inbox_page()] == [ids["+4930100008"]] + expected[:3]
        assert store.inbox_open_count() == 4
        assert [i.call.id for i in store.inbox_page(assignee="bernd")] == [ids["+4930100008"]]
        assert store.inbox_open_count("bernd") == 1
    finally:
        store.close()


def test_every_change_is_in_the_history_with_who_and_when(tmp_path):
    store = Store(tmp_path / "calls.db")
    try:
        store.bulk_insert_calls([_call(5, GENUINE, "message_taken")]).result(5)
        call_id = store.search_calls()[0][0].id
        assert store.change_inbox_item(call_id, "anna", state="in_progress", assignee="anna").result(5) == 2
        assert store.change_inbox_item(call_id, "anna", assignee="anna").result(5) == 0  # nothing new
        store.change_inbox_item(call_id, "bernd", due_at=NOW + timedelta(days=1), note="  ruft  morgen  ").result(5)
        store.change_inbox_item(call_id, "bernd", state="done").result(5)
        history = [(h.who, h.field, h.old, h.new) for h in store.inbox_history([call_id])]
        assert history == [("anna", "state", "open", "in_progress"), ("anna", "assignee", None, "anna"),
                           ("bernd", "due", None, history[2][3]), ("bernd", "note", None, "ruft morgen"),
                           ("bernd", "state", "in_progress", "done")]
        assert history[2][3].startswith((NOW + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
        assert all(h.at for h in store.inbox_history([call_id]))
        with pytest.raises(ValueError):
            store.change_inbox_item(call_id, "anna", state="closed")
        with pytest.raises(CallbotError):
            store.change_inbox_item(999, "anna", note="x").result(5)
        store.delete_calls([call_id]).result(5)  # data protection deletes the call: its notes go too
        assert store.inbox_history([call_id]) == [] and store.inbox_items([call_id]) == {}
    finally:
        store.close()


def test_users_setup_token_works_once(tmp_path):
    store = Store(tmp_path / "calls.db")
    try:
        token = store.add_user("anna", "staff", "owner").result(5)
        assert token and store.user("ANNA").setup_pending and not store.has_owner_user()
        assert store.user_login("anna") is None  # no password yet
        with pytest.raises(CallbotError):
            store.add_user("Anna", "owner", "owner").result(5)  # names are case-insensitive
        with pytest.raises(CallbotError):
            store.add_user("bad name!", "staff", "owner")
        assert store.use_setup_token(token, "scrypt$x").result(5) == "anna"
        assert store.use_setup_token(token, "scrypt$y").result(5) is None
        assert store.user_login("anna") == ("anna", "staff", "scrypt$x")
        assert store.remove_user("anna", "owner").result(5) and store.user("anna") is None
        assert [c.what for c in store.changes()] == ["user removed", "password set", "user added"]
    finally:
        store.close()


def test_session_table_ends_one_users_logins(tmp_path):
    table = SessionTable(tmp_path / FILE_NAME)
    try:
        table.add("s1", "anna", 3600, "staff")
        table.add("s2", "anna", 3600, "staff")
        table.add("s3", "owner", 3600, "owner")
        assert table.role_of("s1", "anna") == "staff" and table.users() == {"anna": 2, "owner": 1}
        assert table.remove_user("Anna") == 2
        assert table.role_of("s1", "anna") is None and table.role_of("s3", "owner") == "owner"
    finally:
        table.close()


# --------------------------------------------------------------------------
# The web page: roles, logins, the inbox


def _owner_routes():
    from callbot.web.app import OWNER, ROUTES

    samples = {"{lang}": "de", "{prompt_id}": "hello", "{number}": COLD, "{entry_id:int}": "1", "{name}": "anna"}
    out = []
    for path, _endpoint, methods, role in ROUTES:
        if role == OWNER:
            for key, value in samples.items():
                path = path.replace(key, value)
            out.append((methods[0], path))
    return out


@pytest.mark.parametrize("method,path", _owner_routes())
def test_staff_get_403_on_every_owner_route(staff, method, path):
    if method == "GET":
        response = staff.get(path)
    else:
        response = post(staff, path, {"reason": "x", "list": "block", "value": "+4930999", "text": "x",
                                      "name": "x", "role": "staff"}, page="/inbox")
    assert response.status_code == 403, (path, response.status_code)


def test_the_owner_may_use_the_owner_routes(owner):
    assert owner.get("/users").status_code == 200
    assert owner.get("/prompts").status_code == 200


def test_start_page_is_the_inbox_for_staff_too(staff, site):
    assert staff.get("/").headers["location"] == "/inbox"
    html = staff.get("/inbox").text
    assert inbox_ids(html) == [site.ids["genuine"], site.ids["cold"]]
    assert staff.get("/calls").status_code == 200 and staff.get(f"/inbox/{site.ids['cold']}").status_code == 200


def test_wrong_password_for_a_user_is_refused(site, clock):
    add_user(site)
    with make_client(site, clock) as client:
        assert login_as(client, "anna", "wrong password").status_code == 401
        assert login_as(client, "nobody", STAFF_PW).status_code == 401
        assert client.get("/inbox").status_code == 303


def test_logout_ends_the_session_server_side(site, clock):
    add_user(site)
    with make_client(site, clock) as client:
        login_as(client, "anna", STAFF_PW)
        copy = dict(client.cookies)
        assert post(client, "/logout", page="/inbox").status_code == 303
        client.cookies.clear()
        client.cookies.update(copy)  # the cookie as it was before logging out
        assert client.get("/inbox").status_code == 303


def test_removing_a_user_ends_their_sessions(staff, owner, site):
    assert staff.get("/inbox").status_code == 200
    follow(owner, post(owner, "/users/anna/remove", page="/users"))
    assert staff.get("/inbox").status_code == 303
    store = site.store()
    try:
        assert store.user("anna") is None
        assert store.changes()[0].who == "owner" and store.changes()[0].what == "user removed"
    finally:
        store.close()


def test_setup_link_from_the_users_page_logs_the_new_user_in(owner, site, clock):
    page = post(owner, "/users", {"name": "bernd", "role": "staff"}, page="/users")
    assert page.status_code == 200
    link = re.search(r'value="([^"]*/setup\?token=[^"]+)"', page.text).group(1)
    path = link.split("testserver", 1)[1].replace("&amp;", "&")
    with make_client(site, clock) as newcomer:
        form = newcomer.get(path)
        assert form.status_code == 200
        token = re.search(r'name="token" value="([^"]+)"', form.text).group(1)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        short = newcomer.post("/setup", data={"token": token, "password": "short", "again": "short", "csrf_token": csrf})
        assert short.status_code == 400
        done = newcomer.post("/setup", data={"token": token, "password": "bernds password", "again": "bernds password",
                                             "csrf_token": csrf})
        assert done.status_code == 303 and newcomer.get("/inbox").status_code == 200
        assert newcomer.get("/users").status_code == 403  # staff
        assert newcomer.get(path).status_code == 404  # the link worked once


def test_staff_block_is_a_suggestion_and_a_colleague_confirms_it(staff, owner, site):
    follow(staff, post(staff, f"/numbers/{COLD}/block", {"reason": "Werbung"}, page="/inbox"))
    store = site.store()
    try:
        [entry] = store.list_entries()
        assert (entry.created_by, entry.pending, entry.source) == ("anna", True, "suggested")
        assert post(staff, f"/lists/{entry.id}/confirm", page="/inbox").status_code == 303
        assert store.list_entries()[0].pending  # not one's own suggestion
        post(owner, f"/lists/{entry.id}/confirm", page="/inbox")
        assert not store.list_entries()[0].pending
        assert store.changes()[0].who == "owner" and store.changes()[0].what == "list entry confirmed"
    finally:
        store.close()


def test_a_prompt_change_records_who(owner, site):
    post(owner, "/prompts/de/goodbye/text", {"text": "Auf Wiederhören."}, page="/inbox")
    store = site.store()
    try:
        change = store.changes()[0]
        assert (change.who, change.what) == ("owner", "prompt text changed") and "de/goodbye" in change.detail
    finally:
        store.close()


def test_inbox_take_note_done_as_two_users(staff, owner, site):
    cold = site.ids["cold"]
    follow(staff, post(staff, f"/inbox/{cold}/take", page="/inbox"))
    assert inbox_ids(staff.get("/inbox?who=mine").text) == [cold]
    assert inbox_ids(owner.get("/inbox?who=mine").text) == []
    follow(staff, post(staff, f"/inbox/{cold}/note", {"note": "Rückruf vereinbart"}, page="/inbox"))
    follow(owner, post(owner, f"/inbox/{cold}/assign", {"assignee": "owner"}, page="/inbox"))
    follow(owner, post(owner, f"/inbox/{cold}/due", {"due": "2031-05-04T10:30"}, page="/inbox"))
    assert post(owner, f"/inbox/{cold}/assign", {"assignee": "mallory"}, page="/inbox").status_code == 303
    html = follow(owner, post(owner, f"/inbox/{cold}/state", {"state": "done", "note": "erledigt"}, page="/inbox"))
    assert 'class="note">Rückruf vereinbart' in html
    assert inbox_ids(owner.get("/inbox").text) == [site.ids["genuine"]]
    store = site.store()
    try:
        history = [(h.who, h.field, h.new) for h in store.inbox_history([cold])]
        assert history[:3] == [("anna", "state", "in_progress"), ("anna", "assignee", "anna"),
                               ("anna", "note", "Rückruf vereinbart")]
        assert ("owner", "assignee", "owner") in history and ("owner", "state", "done") in history
        assert ("owner", "note", "erledigt") in history and not any(h[2] == "mallory" for h in history)
        assert store.inbox_items([cold])[cold].due_at.startswith("2031-05-0")
    finally:
        store.close()


def test_a_thread_groups_the_calls_of_one_number(owner, site):
    store = site.store()
    try:
        store.bulk_insert_calls([_call(10, GENUINE, "message_taken", transcript="Noch eine Nachricht")]).result(5)
        newest = store.search_calls(per_page=1)[0][0].id
    finally:
        store.close()
    html = owner.get("/inbox").text
    assert inbox_ids(html) == [newest, site.ids["cold"]]  # one card for the two calls of GENUINE
    thread = owner.get(f"/inbox/{newest}").text
    assert f'id="call-{newest}"' in thread and f'id="call-{site.ids["genuine"]}"' in thread
    follow(owner, post(owner, f"/inbox/{newest}/state", {"state": "done"}, page="/inbox"))
    assert inbox_ids(owner.get("/inbox").text) == [site.ids["cold"]]  # the whole thread is done


def test_web_starts_with_an_owner_user_instead_of_a_config_hash(site, clock):
    from callbot.web.app import create_app

    config = replace(site.config, web=replace(site.config.web, password_hash=""))
    with pytest.raises(CallbotError):
        create_app(config)
    add_user(site, "chefin", "owner", "chefin password")
    with make_client(site, clock, config) as client:
        assert login_as(client, "chefin", "chefin password").status_code == 303
        assert client.get("/users").status_code == 200
    with make_client(site, clock, config) as client:
        assert login(client).status_code == 401  # the config owner has no password now


# --------------------------------------------------------------------------
# The commands


def test_users_and_inbox_commands(site, monkeypatch):
    from callbot.cli.main import main

    monkeypatch.setenv("CALLBOT_CONFIG", str(site.config_path))
    runner = CliRunner()
    added = runner.invoke(main, ["users", "add", "carla", "--role", "staff", "--by", "owner"],
                          input="carla password\ncarla password\n")
    assert added.exit_code == 0, added.output
    linked = runner.invoke(main, ["users", "add", "dora", "--link"])
    assert linked.exit_code == 0 and "/setup?token=" in linked.stdout
    listed = [json.loads(line) for line in runner.invoke(main, ["users", "list", "--json"]).stdout.splitlines()]
    assert [(u["name"], u["role"], u["password"]) for u in listed] == [
        ("owner", "owner", "config"), ("carla", "staff", "set"), ("dora", "staff", "setup link")]
    assert runner.invoke(main, ["users", "add", "owner"]).exit_code != 0  # the config owner's name
    # a web login of carla ends with `users passwd`
    sessions = SessionTable(site.config.storage.database.parent / FILE_NAME)
    sessions.add("sid", "carla", 3600, "staff")
    changed = runner.invoke(main, ["users", "passwd", "carla"], input="new password 1\nnew password 1\n")
    assert changed.exit_code == 0, changed.output
    assert sessions.role_of("sid", "carla") is None
    sessions.close()
    assert runner.invoke(main, ["users", "remove", "dora"]).exit_code == 0

    items = [json.loads(line) for line in runner.invoke(main, ["inbox", "--json"]).stdout.splitlines()]
    assert [i["id"] for i in items] == [site.ids["genuine"], site.ids["cold"]]
    assert items[1]["person"] == "Max Mustermann" and items[1]["state"] == "open"
    done = runner.invoke(main, ["inbox", "done", str(site.ids["cold"]), "--note", "angerufen", "--as", "carla"])
    assert done.exit_code == 0, done.output
    items = [json.loads(line) for line in runner.invoke(main, ["inbox", "--json"]).stdout.splitlines()]
    assert [i["id"] for i in items] == [site.ids["genuine"]]
    store = site.store()
    try:
        assert [(h.who, h.field, h.new) for h in store.inbox_history([site.ids["cold"]])] == [
            ("carla", "state", "done"), ("carla", "note", "angerufen")]
    finally:
        store.close()
    assert runner.invoke(main, ["inbox", "done", "99999"]).exit_code == 1
    table = runner.invoke(main, ["inbox"])
    assert table.exit_code == 0 and "open item" in table.stdout


def test_a_user_with_their_own_language_gets_the_page_in_it(site, clock):
    """#13.5: the office's language from [web] language, a user's own from `callbot users language`."""
    from dataclasses import replace

    from callbot.cli.main import main

    add_user(site, "bob")
    store = site.store()
    store.set_user_language("bob", "de", "owner").result(5)
    english_office = replace(site.config, web=replace(site.config.web, language="en"))
    with make_client(site, clock, config=english_office) as client:
        login_as(client, "bob", STAFF_PW)
        assert "<html lang=\"de\">" in client.get("/inbox").text  # bob reads German, the office English
    add_user(site, "carol")
    with make_client(site, clock, config=english_office) as client:
        login_as(client, "carol", STAFF_PW)
        assert "<html lang=\"en\">" in client.get("/inbox").text
    result = CliRunner().invoke(main, ["users", "language", "carol", "de", "--config", str(site.config_path)])
    assert result.exit_code == 0, result.output
    assert store.user("carol").language == "de"
    store.close()
