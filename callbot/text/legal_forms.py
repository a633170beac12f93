"""Legal forms (GmbH, AG, e.K., Ltd ...) as the recognizer writes them, and company names written out.

:func:`legal_at` finds a legal form at a word, in any spelling: one token
("gmbh"), letter by letter ("g m b h"), by the letters' German names ("ge em
be ha") or spelled out ("gesellschaft mit beschränkter haftung").
:func:`normalize_company` writes a company as heard: title case, canonical
legal forms.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

from callbot.text.extract_words import ARTICLES
from callbot.text.tokens import tokenize, word_set

# How a single letter may come out of the recognizer: the bare letter, or
# its German name ("ge em be ha" for GmbH).
_LETTER = {
    "a": {"a"}, "b": {"b", "be"}, "c": {"c", "ce", "see"}, "d": {"d", "de"},
    "e": {"e"}, "g": {"g", "ge"}, "h": {"h", "ha"}, "k": {"k", "ka"},
    "l": {"l", "el"}, "m": {"m", "em"}, "o": {"o"}, "p": {"p", "pe"},
    "r": {"r", "er"}, "s": {"s", "es"}, "t": {"t", "te"}, "u": {"u"},
    "v": {"v", "fau", "vau"},
}

_Pattern = tuple[frozenset[str], ...]


def _word(*alts: str) -> _Pattern:
    return (frozenset(alts),)


def _letters(abbr: str) -> _Pattern:
    return tuple(frozenset(_LETTER[ch]) for ch in abbr)


def _seq(*words: str) -> _Pattern:
    return tuple(frozenset({w}) for w in words)


def _abbr(abbr: str, *extra_words: str) -> list[_Pattern]:
    """The abbreviation as one token, letter by letter, and extra spellings."""
    return [_word(abbr, *extra_words), _letters(abbr)]


_CONN = frozenset({"und", "and", "&", "+"})
_CO = frozenset({"co", "ko", "cie", "company"})

# (canonical, patterns, is_weak).  Weak forms ("& Co.") do not raise the
# confidence and are not used to find a company without a cue.
_LEGAL_SPECS: list[tuple[str, list[_Pattern], bool]] = []


def _add(canonical: str, patterns: Iterable[_Pattern], weak: bool = False) -> None:
    _LEGAL_SPECS.append((canonical, list(patterns), weak))


_GMBH = _abbr("gmbh")
_AG = _abbr("ag")
_KG = _abbr("kg")

for _base, _canon in ((_GMBH, "GmbH"), (_AG, "AG"), (_abbr("ug"), "UG"), (_abbr("se"), "SE")):
    _add(
        f"{_canon} & Co. KG",
        [b + (_CONN, _CO) + k for b in _base for k in _KG]
        + [b + (_CO,) + k for b in _base for k in _KG],
    )
_add("GmbH", _GMBH + [_seq("gesellschaft", "mit", "beschränkter", "haftung")])
_add("mbH", _abbr("mbh") + [_seq("mit", "beschränkter", "haftung")])
_add("gGmbH", _abbr("ggmbh"))
_add("UG (haftungsbeschränkt)", [p + _word("haftungsbeschränkt") for p in _abbr("ug")])
_add("UG", _abbr("ug"))
_add("AG", _AG + [_word("aktiengesellschaft")])
_add("KGaA", _abbr("kgaa"))
_add("KG", _KG + [_word("kommanditgesellschaft")])
_add("OHG", _abbr("ohg"))
_add("GbR", _abbr("gbr"))
_add("SE", _abbr("se"))
_add("e.K.", _abbr("ek") + [
    _word("e.k"),
    _word("e") + _word("kaufmann", "kauffrau", "kfm", "kfr", "ka"),
    _word("eingetragener", "eingetragene") + _word("kaufmann", "kauffrau"),
])
_add("e.V.", _abbr("ev") + [_word("e.v"), _seq("eingetragener", "verein")])
_add("eG", _abbr("eg") + [_word("e.g"), _seq("eingetragene", "genossenschaft")])
_add("Ltd", _abbr("ltd", "limited"))
_add("Inc", [_word("inc", "incorporated")])
_add("LLC", _abbr("llc"))
_add("LLP", _abbr("llp"))
_add("PLC", _abbr("plc"))
_add("Corp", [_word("corp", "corporation")])
_add("& Co.", [(_CONN, _CO)], weak=True)

# Longest patterns first so "gmbh und co kg" wins over "gmbh".
_LEGAL_TABLE: list[tuple[_Pattern, str, bool]] = sorted(
    ((pat, canon, weak) for canon, pats, weak in _LEGAL_SPECS for pat in pats),
    key=lambda item: -len(item[0]),
)


class Legal(NamedTuple):
    canonical: str
    length: int
    weak: bool


def legal_at(words: list[str], i: int) -> Legal | None:
    """The legal form starting at ``words[i]`` (the longest spelling), or None."""
    for pat, canon, weak in _LEGAL_TABLE:
        if i + len(pat) <= len(words) and all(
            words[i + k] in slot for k, slot in enumerate(pat)
        ):
            return Legal(canon, len(pat), weak)
    return None


_LOWER_INSIDE = word_set("""
    und and & für of the am im an der die das des dem den von vom zu zum zur
    auf in for
""")


def cap(word: str) -> str:
    """Capitalise a word, and each part of a hyphenated / O'Name word."""
    if "-" in word:
        return "-".join(cap(p) for p in word.split("-"))
    if "'" in word:
        head, _, tail = word.partition("'")
        if len(head) == 1 and tail:
            return head.upper() + "'" + cap(tail)
        return word[:1].upper() + word[1:]
    return word[:1].upper() + word[1:]


def normalize_words(words: list[str]) -> str:
    """Heard words as a company is written: title case, canonical legal forms, initials joined."""
    out: list[str] = []
    i = 0
    while i < len(words):
        legal = legal_at(words, i)
        # "& Co." only counts as a legal form after something.
        if legal and not (legal.weak and not out):
            out.append(legal.canonical)
            i += legal.length
            continue
        w = words[i]
        # Spelled-out initials: "a o k" -> "AOK", "b m w" -> "BMW".
        j = i
        while j < len(words) and len(words[j]) == 1 and words[j].isalpha() \
                and not (j > i and legal_at(words, j)):
            j += 1
        if j - i >= 2:
            out.append("".join(words[i:j]).upper())
            i = j
            continue
        if w == "+":
            w = "&"
        out.append(w if (out and w in _LOWER_INSIDE) else cap(w))
        i += 1
    return " ".join(out)


def normalize_company(text: str) -> str:
    """Normalize a company name as heard: title case, canonical legal forms.

    Leading articles ("der", "die", "den", "dem", "des", "das", "the") and a
    leading "firma" are dropped; legal forms in any spelling become their
    canonical form ("g m b h" -> "GmbH", "e k" -> "e.K.", "gmbh und co kg"
    -> "GmbH & Co. KG", "limited" -> "Ltd" ...); "und"/"and" and similar
    small words inside the name stay lowercase.
    """
    words = [t.word for t in tokenize(text)]
    while words and (words[0] in ARTICLES or words[0] in ("firma", "company")):
        words = words[1:]
    return normalize_words(words)
