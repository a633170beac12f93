"""How fast are the review page's call list and search on a big call log?

Seeds a temporary call log with 1 000 000 calls (``--calls``) through
``Store.bulk_insert_calls`` (one decision event per call; about a quarter of
the calls were screened and carry a transcript, person and company, so they
are in the full-text index), then times — over ``--runs`` runs each — the
store queries the calls page makes (``Store.search_calls``: first page, next
page, a deep page, filters, text search) and the same pages over HTTP with
Starlette's TestClient (logged in). Prints p50/p95 in ms; the target is
≤ 100 ms.

The inbox: of the calls that need a person (messages, genuine callers: about 16 % of the
seeded calls) all but the newest ``--open`` (10 000) are marked done, as an office that works
through its inbox leaves them, with every 20th open one in progress for the logged-in user;
then the inbox queries (``Store.inbox_page``, ``inbox_open_count``) and ``GET /inbox``,
``/inbox?who=mine`` and a thread are timed.

    python bench/web_bench.py                 # 1 000 000 calls, 20 runs
    python bench/web_bench.py --calls 200000 --keep /tmp/bench-db
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callbot.config.model import default_config  # noqa: E402
from callbot.store.store import Store  # noqa: E402

TARGET_MS = 100.0
PER_PAGE = 50
NUMBERS = 50_000
FIRST_NAMES = ["Max", "Erika", "Jonas", "Anna", "Lukas", "Mia", "Paul", "Lea", "Felix", "Emma"]
LAST_NAMES = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann"]
COMPANIES = ["Energie Direkt GmbH", "Solar Plus AG", "Telekom Vertrieb", "Versicherungsmakler Nord",
             "Druckerei Schulz", "Steuerbüro Klein", "Autohaus Berger", "Praxis Dr. Wolf", "IT-Service Lang"]
PITCHES = ["Wir bieten Ihnen günstigen Strom an", "Haben Sie schon über Solaranlagen nachgedacht",
           "Ich rufe wegen Ihrer Versicherung an", "Wir haben ein Angebot für Ihren Internetanschluss",
           "Es geht um eine Umfrage zur Zufriedenheit", "Rückruf wegen Ihrer Rechnung vom Montag",
           "Ich wollte einen Termin vereinbaren", "Die Lieferung kommt morgen später",
           "Können Sie mich bitte zurückrufen", "Ich habe eine Frage zu Ihrem Angebot"]
OUTCOMES = (["cold_call_countered"] * 10 + ["message_taken"] * 8 + ["caller_hung_up"] * 12 + ["answered"] * 20
            + ["withheld_rejected"] * 15 + ["no_response"] * 5 + ["cancelled"] * 10 + ["blocked"] * 5
            + ["handed_off"] * 10 + ["error"] * 2 + ["timeout"] * 3)


def calls(count: int, seed: int = 7) -> Iterator[dict]:
    """``count`` synthetic finished calls over the last ~3 years, oldest first."""
    rng = random.Random(seed)
    end = datetime.now(timezone.utc).replace(microsecond=0)
    span = timedelta(days=3 * 365).total_seconds()
    step = span / count
    numbers = [f"+49{rng.choice(['30', '40', '89', '221', '69', '151', '160', '171'])}{rng.randrange(10**6, 10**8)}"
               for _ in range(NUMBERS)]
    for i in range(count):
        started = end - timedelta(seconds=span - i * step)
        outcome = rng.choice(OUTCOMES)
        withheld = outcome == "withheld_rejected"
        number = None if withheld else rng.choice(numbers)
        row = {
            "started_at": started,
            "ended_at": started + timedelta(seconds=25),
            "duration": 25.0,
            "outcome": outcome,
            "caller_raw": '"Anonymous" <sip:anonymous@anonymous.invalid>' if withheld else f"<sip:{number}@pbx>",
            "caller_number": number,
            "caller_dialled": None if withheld else "0" + number[3:],
            "caller_valid": not withheld,
            "withheld": withheld,
            "events": [{"at": started, "kind": "decision", "rule": "withheld" if withheld else "default",
                        "reason": "Privacy: id" if withheld else "number shown"}],
        }
        if outcome in ("cold_call_countered", "message_taken", "caller_hung_up", "no_response"):
            person = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            company = rng.choice(COMPANIES)
            row.update(
                answered_at=started + timedelta(seconds=1),
                person=person,
                company=company,
                label="cold_call" if outcome == "cold_call_countered" else rng.choice(["genuine", "unclear"]),
                transcript=f"{person} von {company}. {rng.choice(PITCHES)}. {rng.choice(PITCHES)}.",
            )
        yield row


def seed(db: Path, count: int) -> float:
    """Fill ``db`` with ``count`` calls; returns the seconds it took."""
    store = Store(db)
    started = time.perf_counter()
    try:
        if hasattr(store, "bulk_insert_calls"):
            chunk = 100_000
            made = 0
            rows = calls(count)
            while made < count:
                n = min(chunk, count - made)
                batch = (next(rows) for _ in range(n))
                made += store.bulk_insert_calls(batch).result(600)
                print(f"  seeded {made:>9,} calls  ({time.perf_counter() - started:5.1f} s)", flush=True)
            if hasattr(store, "optimize_search"):
                store.optimize_search().result(600)
        else:  # pragma: no cover - only for a store without bulk_insert_calls
            raise SystemExit("this store has no bulk_insert_calls(); seed with sqlite-utils instead")
    finally:
        store.close()
    return time.perf_counter() - started


def close_inbox(db: Path, open_items: int, user: str) -> int:
    """Mark every call that needs a person done except the newest ``open_items`` (every 20th
    of those: in progress for ``user``); returns how many are open. Direct SQL: a bench fixture."""
    import sqlite3

    from callbot.store.schema_inbox import NEEDS_PERSON

    conn = sqlite3.connect(db)
    try:
        if conn.execute("SELECT count(*) FROM inbox_items").fetchone()[0] == 0:
            ids = [r[0] for r in conn.execute(f"SELECT id FROM calls INDEXED BY idx_calls_inbox WHERE {NEEDS_PERSON} "
                                              "ORDER BY id DESC")]
            now = "2026-01-01T00:00:00.000Z"
            with conn:
                conn.executemany("INSERT INTO inbox_items (call_id, state, assignee, auto, created_at, updated_at, "
                                 "updated_by) VALUES (?, 'done', ?, 1, ?, ?, ?)",
                                 [(i, user, now, now, user) for i in ids[open_items:]])
                conn.executemany("INSERT INTO inbox_items (call_id, state, assignee, auto, created_at, updated_at, "
                                 "updated_by) VALUES (?, 'in_progress', ?, 1, ?, ?, ?)",
                                 [(i, user, now, now, user) for i in ids[:open_items:20]])
            print(f"  inbox: {len(ids):,} calls need a person; {max(0, len(ids) - open_items):,} marked done",
                  flush=True)
        return conn.execute("SELECT count(*) FROM calls").fetchone()[0]
    finally:
        conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def measure(name: str, func: Callable[[], object], runs: int, results: list) -> None:
    func()  # warm up (page cache, statement cache)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    p50, p95 = statistics.median(times), percentile(times, 95)
    results.append((name, p50, p95))
    flag = "ok" if p95 <= TARGET_MS else "SLOW"
    print(f"  {name:<44} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   {flag}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="Use/keep the call log in this folder (seeded once).")
    parser.add_argument("--open", type=int, default=10_000, help="Open inbox items (default 10 000).")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="callbot-web-bench-"))
    base = args.keep or tmp
    base.mkdir(parents=True, exist_ok=True)
    db = base / "calls.db"
    try:
        if not db.exists():
            print(f"seeding {args.calls:,} calls into {db} …", flush=True)
            took = seed(db, args.calls)
            print(f"seeded in {took:.1f} s ({args.calls / took:,.0f} calls/s)", flush=True)
        Store(db).close()  # migrations first (a kept log from before the inbox)
        close_inbox(db, args.open, "owner")
        store = Store(db)
        newest = store.search_calls(page=1, per_page=1)[0][0]
        some_number = next(r.caller_number for r in store.search_calls(page=3, per_page=50)[0] if r.caller_number)
        week_ago = datetime.now(timezone.utc) - timedelta(days=7)
        print(f"\nstore queries (Store.search_calls, {PER_PAGE} per page), {args.runs} runs each:")
        results: list = []
        q = store.search_calls
        measure("first page", lambda: q(page=1, per_page=PER_PAGE), args.runs, results)
        measure("next page (2)", lambda: q(page=2, per_page=PER_PAGE), args.runs, results)
        measure("page 20", lambda: q(page=20, per_page=PER_PAGE), args.runs, results)
        measure("page 200 (offset 9 950)", lambda: q(page=200, per_page=PER_PAGE), args.runs, results)
        measure("outcome=cold_call_countered", lambda: q(outcome="cold_call_countered", per_page=PER_PAGE),
                args.runs, results)
        measure("label=genuine, page 2", lambda: q(label="genuine", page=2, per_page=PER_PAGE), args.runs, results)
        measure("last 7 days", lambda: q(since=week_ago, per_page=PER_PAGE), args.runs, results)
        measure(f"number {some_number}", lambda: q(number=some_number, per_page=PER_PAGE), args.runs, results)
        measure("number prefix +4930", lambda: q(number="+4930", per_page=PER_PAGE), args.runs, results)
        measure("text 'Strom' (common)", lambda: q(text="Strom", per_page=PER_PAGE), args.runs, results)
        measure("text 'Strom' page 2", lambda: q(text="Strom", page=2, per_page=PER_PAGE), args.runs, results)
        measure("text 'Solaranlagen Müller'", lambda: q(text="Solaranlagen Müller", per_page=PER_PAGE),
                args.runs, results)
        measure("text 'zufriedenheit' + outcome", lambda: q(text="zufriedenheit", outcome="caller_hung_up",
                                                            per_page=PER_PAGE), args.runs, results)
        measure("text 'nirgendwo' (no hit)", lambda: q(text="nirgendwo", per_page=PER_PAGE), args.runs, results)
        measure("call detail (call+events+turns)", lambda: (store.call(newest.id), store.events(newest.id),
                                                            store.turns(newest.id)), args.runs, results)
        measure(f"caller timeline {some_number}", lambda: store.caller_timeline(some_number), args.runs, results)
        open_count = store.inbox_open_count()
        print(f"\ninbox queries ({open_count:,} open items):")
        inbox_item = store.inbox_page(per_page=1)[0].call.id
        measure("inbox page 1 (everyone's)", lambda: store.inbox_page(per_page=PER_PAGE), args.runs, results)
        measure("inbox page 20", lambda: store.inbox_page(page=20, per_page=PER_PAGE), args.runs, results)
        measure("inbox mine", lambda: store.inbox_page(assignee="owner", per_page=PER_PAGE), args.runs, results)
        measure("inbox open count", store.inbox_open_count, args.runs, results)
        store.close()

        print(f"\nHTTP with TestClient (logged in, {PER_PAGE} per page), {args.runs} runs each:")
        from starlette.testclient import TestClient

        from callbot.web.app import create_app
        from callbot.passwords import hash_password

        (base / "prompts" / "de").mkdir(parents=True, exist_ok=True)
        config = default_config(base)
        config = replace(config, storage=replace(config.storage, database=db, recordings=base / "recordings"),
                         web=replace(config.web, password_hash=hash_password("bench", n=2**10), per_page=PER_PAGE))
        with TestClient(create_app(config), follow_redirects=False) as client:
            import re

            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
            assert client.post("/login", data={"password": "bench", "csrf_token": token}).status_code == 303

            def get(url: str) -> Callable[[], object]:
                def run() -> None:
                    response = client.get(url)
                    assert response.status_code == 200, (url, response.status_code)
                return run

            page = client.get("/calls").text
            assert f'href="/calls/{newest.id}"' in page, "HTTP not on the seeded log"
            measure("GET /calls", get("/calls"), args.runs, results)
            measure("GET /calls?page=2", get("/calls?page=2"), args.runs, results)
            measure("GET /calls?q=Strom", get("/calls?q=Strom"), args.runs, results)
            measure("GET /calls?outcome=message_taken&q=Rechnung", get("/calls?outcome=message_taken&q=Rechnung"),
                    args.runs, results)
            measure(f"GET /calls/{newest.id}", get(f"/calls/{newest.id}"), args.runs, results)
            measure(f"GET /numbers/{some_number}", get(f"/numbers/{some_number}"), args.runs, results)
            measure("GET /inbox (start page)", get("/inbox"), args.runs, results)
            measure("GET /inbox?who=mine", get("/inbox?who=mine"), args.runs, results)
            measure(f"GET /inbox/{inbox_item} (thread)", get(f"/inbox/{inbox_item}"), args.runs, results)

        slow = [name for name, _, p95 in results if p95 > TARGET_MS]
        print(f"\n{len(results) - len(slow)}/{len(results)} within {TARGET_MS:.0f} ms at p95"
              + (f"; slower: {', '.join(slow)}" if slow else ""))
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
