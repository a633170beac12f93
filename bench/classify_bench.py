"""Accuracy of callbot.text.classify on held-apart transcripts (not used by the tests).

    python bench/classify_bench.py            # from the repository root

Data (tab-separated, header ``label  language  text``; an empty text is an
empty transcript):

* ``bench/data/classify_calls.tsv``  labels cold_call | genuine | unclear
* ``bench/data/classify_yesno.tsv``  labels yes | no | unknown

Prints accuracy, a confusion table and every miss for each set. Targets:
cold-call labels >= 90 %, yes/no >= 98 %. Always exits 0 (it measures, it
does not gate); a missing or malformed data file is an error (exit 2).
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from callbot.text.classify import classify_call, yes_no  # noqa: E402

DATA = ROOT / "bench" / "data"
CALL_LABELS = ("cold_call", "genuine", "unclear")
YES_NO_LABELS = ("yes", "no", "unknown")


def load(path: Path, labels: tuple[str, ...]) -> list[tuple[str, str, str]]:
    rows = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        if header != ["label", "language", "text"]:
            raise SystemExit(f"{path}: header must be label<TAB>language<TAB>text, got {header}")
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 3 or row[0] not in labels:
                raise SystemExit(f"{path}:{line_no}: bad row {row!r}")
            rows.append((row[0], row[1], row[2]))
    return rows


def confusion(pairs: list[tuple[str, str]], labels: tuple[str, ...]) -> str:
    counts = Counter(pairs)
    width = max(len(l) for l in labels) + 2
    lines = ["expected \\ got".ljust(width + 4) + "".join(l.rjust(width) for l in labels)]
    for expected in labels:
        lines.append(expected.ljust(width + 4)
                     + "".join(str(counts[(expected, got)]).rjust(width) for got in labels))
    return "\n".join(lines)


def report(title: str, rows, predict, labels: tuple[str, ...], target: float) -> float:
    pairs, misses = [], []
    for expected, language, text in rows:
        got, detail = predict(text, language)
        pairs.append((expected, got))
        if got != expected:
            misses.append((expected, got, language, text, detail))
    correct = len(rows) - len(misses)
    accuracy = correct / len(rows) if rows else 0.0
    by_lang = Counter(lang for _, lang, _ in rows)
    ok_lang = Counter(lang for (exp, lang, _), (_, got) in zip(rows, pairs) if exp == got)
    per_lang = ", ".join(f"{lang} {ok_lang[lang]}/{n}" for lang, n in sorted(by_lang.items()))
    verdict = "meets" if accuracy >= target else "BELOW"
    print(f"== {title}: {correct}/{len(rows)} = {accuracy:.1%} ({per_lang}); "
          f"target {target:.0%}: {verdict}")
    print(confusion(pairs, labels))
    if misses:
        print(f"-- misses ({len(misses)}):")
        for expected, got, language, text, detail in misses:
            shown = text if text else "<empty>"
            print(f"   [{language}] expected {expected}, got {got}: {shown!r}" + (f"  ({detail})" if detail else ""))
    print()
    return accuracy


def main() -> int:
    calls = load(DATA / "classify_calls.tsv", CALL_LABELS)
    answers = load(DATA / "classify_yesno.tsv", YES_NO_LABELS)

    def predict_call(text: str, language: str):
        c = classify_call(text, language)
        return c.label, f"score {c.score:+.1f}; {c.explain()}"

    def predict_yes_no(text: str, language: str):
        return yes_no(text, language), ""

    call_acc = report("cold-call labels", calls, predict_call, CALL_LABELS, 0.90)
    yn_acc = report("yes/no answers", answers, predict_yes_no, YES_NO_LABELS, 0.98)
    print(f"summary: cold-call {call_acc:.1%} (n={len(calls)}), yes/no {yn_acc:.1%} (n={len(answers)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
