"""Held-out benchmark for callbot.text.extract (caller name and company).

Run from the repository root:

    python bench/extract_bench.py [path/to/heldout.tsv]

The data (bench/data/extract_heldout.tsv, columns transcript, expected_name,
expected_company, language; an empty cell means "nothing to extract") was
written before the extractor and is not used by the tests.  The script
prints exact-match accuracy for name, company and both, lists the misses,
and always exits 0: it measures, it does not gate.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from callbot.text.extract import extract_identity  # noqa: E402

DEFAULT_DATA = ROOT / "bench" / "data" / "extract_heldout.tsv"
TARGET = 0.90


def _load(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r for r in rows if (r.get("transcript") or "").strip()]


def _fmt(value: str | None) -> str:
    return "-" if value is None else repr(value)


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_DATA
    rows = _load(path)
    if not rows:
        print(f"no rows in {path}")
        return 0

    name_ok = company_ok = both_ok = 0
    misses: list[str] = []
    by_lang: dict[str, list[int]] = {}
    t0 = time.perf_counter()
    for row in rows:
        transcript = row["transcript"]
        language = (row.get("language") or "de").strip() or "de"
        want_name = (row.get("expected_name") or "").strip() or None
        want_company = (row.get("expected_company") or "").strip() or None
        ident = extract_identity(transcript, language)
        got_name = ident.name.value if ident.name else None
        got_company = ident.company.value if ident.company else None
        n_ok, c_ok = got_name == want_name, got_company == want_company
        name_ok += n_ok
        company_ok += c_ok
        both_ok += n_ok and c_ok
        stats = by_lang.setdefault(language, [0, 0])
        stats[0] += 1
        stats[1] += n_ok and c_ok
        if not (n_ok and c_ok):
            lines = [f"  [{language}] {transcript}"]
            if not n_ok:
                lines.append(f"      name:    got {_fmt(got_name)}, want {_fmt(want_name)}")
            if not c_ok:
                lines.append(f"      company: got {_fmt(got_company)}, want {_fmt(want_company)}")
            misses.append("\n".join(lines))
    elapsed = time.perf_counter() - t0

    total = len(rows)
    print(f"extract held-out benchmark: {total} transcripts from {path.name}"
          f" ({elapsed * 1000 / total:.2f} ms each)")
    for label, ok in (("name", name_ok), ("company", company_ok), ("both", both_ok)):
        acc = ok / total
        mark = "ok" if acc >= TARGET else f"below target {TARGET:.0%}"
        print(f"  {label:8} {ok:3d}/{total} = {acc:6.1%}  ({mark})")
    for language, (n, ok) in sorted(by_lang.items()):
        print(f"  both [{language}] {ok:3d}/{n} = {ok / n:6.1%}")
    if misses:
        print(f"misses ({len(misses)}):")
        print("\n".join(misses))
    else:
        print("misses: none")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
