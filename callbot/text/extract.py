"""Who is calling, and for whom: caller name and company from a transcript.

Pure and rule-based (stdlib only, no I/O).  The input is a transcript as the
offline recognizer (Vosk) prints it: lowercase, no punctuation, numbers as
words, umlauts present, legal forms sometimes spelled out letter by letter
("g m b h", "ge em be ha", "e k").

Two kinds of cue are looked for, German and English, always both (the
``language`` argument only makes cues of the other language slightly less
confident):

* a **name** after "mein name ist", "ich heiße", "hier spricht", "hier ist",
  "ich bin", "am apparat ist", "my name is", "this is", "it's", "i'm" ... or
  before "hier", "here", "speaking", "mein name" ("müller hier"), or a bare
  name right after a greeting and before "von"/"from" ("grüß gott maier von
  der sparkasse").  Honorifics (herr, frau, doktor, mr, dr ...) are dropped
  from the name; names are 1-3 words.
* a **company** after "firma", "im auftrag der", "im namen der", "on behalf
  of" (explicit), or after "von", "vom", "bei", "from", "with", "at" when
  those follow the caller's name or an identity phrase ("ich bin von",
  "ich rufe von ... an", "calling from", "i work at"); or, without any cue,
  the words in front of a legal form ("... der siemens a g").  A legal form
  ends the company and raises the confidence; clause words ("und ich",
  "wegen", "because", the separable particle "an" ...) end it too.

Confidence is a rule-based figure in 0..1: explicit cues score higher than
weak ones, a legal form adds to a company's score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, NamedTuple

__all__ = ["Extracted", "Identity", "extract_identity", "normalize_company"]


@dataclass(frozen=True)
class Extracted:
    """One extracted value.

    ``value`` is normalized (names title-cased without honorifics, companies
    through :func:`normalize_company`); ``span`` is the (start, end) character
    range of the matched words in the original transcript; ``confidence`` is
    a rule-based 0..1 score.
    """

    value: str
    span: tuple[int, int]
    confidence: float


@dataclass(frozen=True)
class Identity:
    name: Extracted | None
    company: Extracted | None


# --------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------

class _Tok(NamedTuple):
    word: str   # lowercase, surrounding punctuation stripped
    start: int  # character offsets into the transcript
    end: int


_STRIP = ".,;:!?\"()[]{}«»„“”‚‘"


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    for m in re.finditer(r"\S+", text):
        raw = m.group()
        lead = len(raw) - len(raw.lstrip(_STRIP))
        core = raw.strip(_STRIP)
        if not core:
            continue
        word = core.lower().replace("’", "'").replace("`", "'")
        start = m.start() + lead
        toks.append(_Tok(word, start, start + len(core)))
    return toks


# --------------------------------------------------------------------------
# Legal forms
# --------------------------------------------------------------------------

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


class _Legal(NamedTuple):
    canonical: str
    length: int
    weak: bool


def _legal_at(words: list[str], i: int) -> _Legal | None:
    for pat, canon, weak in _LEGAL_TABLE:
        if i + len(pat) <= len(words) and all(
            words[i + k] in slot for k, slot in enumerate(pat)
        ):
            return _Legal(canon, len(pat), weak)
    return None


# --------------------------------------------------------------------------
# Word lists
# --------------------------------------------------------------------------

def _ws(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ARTICLES = _ws("der die das den dem des the")

_HONORIFICS = _ws("""
    herr herrn frau fräulein doktor dr doc prof professor dipl diplom ing
    mr mister mrs missus ms miss doctor sir madam
""")

_GREETING = _ws("""
    hallo hallöchen hallihallo hi hey hello hiya guten gutn tag tach morgen
    moin abend grüß grüss gott servus schönen wunderschönen einen mahlzeit
    ja jo jawohl na also äh ähm öh öhm hm hmm mhm so good morning afternoon
    evening day there yes yeah yep ok okay oh well um uh er erm hallo
""")

_NUMBERS = _ws("""
    null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf
    zwanzig dreißig hundert tausend
    zero one two three four five six seven eight nine ten eleven twelve
    twenty thirty hundred thousand
""")

_FUNCTION_DE = _ws("""
    der die das den dem des ein eine einen einem einer eines kein keine
    ich du er sie es wir ihr mich mir dich dir uns euch ihnen ihn ihm
    ihrer ihre ihren ihrem ihres mein meine meinen meinem meiner meines
    dein deine sein seine seinem seiner unser unsere unserem unserer euer
    man wer was wo wie warum wieso weshalb wann welche welcher welches
    dieser diese dieses diesem diesen jemand niemand alle alles etwas nichts
    von vom aus bei beim mit zu zum zur für im in ins am an auf über unter
    nach vor hinter neben um durch gegen ohne bis seit wegen bezüglich
    betreffend und oder aber denn weil dass ob wenn als also sondern doch
    zwar nämlich
""")

_ADVERBS_DE = _ws("""
    hier da dort gerade grade jetzt nicht nur noch schon auch so ja nein
    doch mal nochmal nochmals einmal eben halt bitte danke gern gerne sehr
    ganz kurz kurze leider eigentlich wieder heute morgen gestern bald gleich
    immer nie oft sicher klar genau okay ok gut schön wirklich vielleicht
    natürlich selbst selber dran drin damit dazu darum daher deshalb dann
    zurück wohl bereits momentan aktuell derzeit zuständig unterwegs
    interessiert erreichbar beschäftigt krank fertig froh neu neue neuer
    neuen neues alte alter alten richtig falsch
""")

_VERBS_DE = _ws("""
    bin bist ist sind seid war waren wäre wären sei habe hab hast hat haben
    hatte hatten hätte hätten werde wird werden würde würden wollte wollten
    möchte möchten will willst wollen kann kannst können könnte könnten muss
    müssen darf dürfen soll sollte sollten rufe rufen ruft anrufe anrufen
    melde melden meldet spreche sprechen spricht heiße heisse heißt heisst
    komme kommen kommt arbeite arbeiten arbeitet frage fragen fragt brauche
    brauchen suche suchen geht gehe gehen mache machen macht wollte glaube
    denke wissen sehe sagen sage bekommen erreichen erreiche zurückrufen
    verbinden verpasst gehört gesehen angerufen
""")

_NOUNS_DE = _ws("""
    firma name namen anruf termin frage rechnung angebot auftrag mitarbeiter
    mitarbeiterin kollege kollegin kunde kundin kundenservice service team
    büro vertreter vertreterin berater beraterin assistent assistentin
    sekretärin chef chefin telefon nummer apparat sache thema anliegen
    woche monat jahr zeit student studentin praktikant praktikantin
    auszubildende azubi nachbar nachbarin vermieter vermieterin hausmeister
    handwerker monteur postbote paketbote bote fahrer fahrerin arzt ärztin
    pfleger pflegerin lehrer lehrerin mutter vater sohn tochter bruder
    schwester oma opa mann ehemann ehefrau drüben
""")

_FUNCTION_EN = _ws("""
    the a an i me my mine you your yours he him his she her it its we us our
    they them their this that these those who whom whose what where why how
    which someone anyone nobody something nothing
    from with at of for on in into to about regarding re by as if than then
    and or but so because since though although
""")

_WORDS_EN = _ws("""
    is am are was were be been being have has had do does did would can
    could should might must shall i'm i've i'd i'll it's that's there's
    we're we've you're they're he's she's what's who's isn't don't can't
    calling call called ringing phoning speaking talking trying wanted
    want wanna like just not no yes yeah yep hello hi hey good morning
    afternoon evening thanks thank please sorry okay ok well um uh oh sure
    really actually also still only very quick quickly interested
    available busy back again today tomorrow yesterday here there now
    name company number phone line call office department team customer
    service new old last next week month year time student neighbour
    neighbor landlord driver technician nurse mom dad son daughter husband
    wife
""")

_NAME_STOP = (
    _FUNCTION_DE | _ADVERBS_DE | _VERBS_DE | _NOUNS_DE | _FUNCTION_EN
    | _WORDS_EN | _GREETING | _NUMBERS | _ARTICLES
)

# ("weiß" is deliberately absent from the verbs: Weiß is a common surname.)

# Words that end (or may not start) a company.  Content words that occur in
# company names ("energie", "direkt", "service", numbers ...) are absent.
_COMPANY_STOP = (
    (_FUNCTION_DE | _ADVERBS_DE | _VERBS_DE | _FUNCTION_EN | _GREETING
     | _ws("""
        is am are was were be been have has had do does did would can could
        should will i'm i've i'd it's that's there's we're you're
        calling call called ringing phoning speaking talking wanted want
        like just not no yes thanks thank please sorry interested today
        tomorrow yesterday here there now name number anruf termin frage
        rechnung anliegen thema sache woche monat jahr letzter letzten letzte
        vergangenen nächste nächsten last next week month year
     """))
    - _ws("of & und and")   # handled explicitly
)

# English contractions ("we'd", "i'll", "you've", "they're", "i'm") are
# clause words, never part of a name or company.
_CONTRACTION = re.compile(r"^[a-z]+'(d|ll|ve|re|m)$")

# Words a company may not start with even though they may occur inside one.
_COMPANY_NOT_FIRST = _ws("of & und and + co ko")

# Words that mark a candidate name as really being an organisation.
_COMPANY_HINT_SUFFIXES = (
    "versicherung", "versicherungen", "bank", "kasse", "werke", "werken",
    "gruppe", "verlag", "agentur", "zentrum", "zentrale", "technik",
    "energie", "immobilien", "telekom", "vodafone", "consulting",
    "solutions", "services", "insurance", "energy", "logistics", "group",
    "systems", "marketing", "media", "holding", "verwaltung", "behörde",
    "amt", "ämter", "dienst", "praxis", "büro", "service", "support",
    "department", "office",
)

# The word before "von"/"from"/"bei"/... that makes it introduce the caller's
# own organisation ("ich bin von", "ich rufe von ... an", "calling from").
_ID_CONTEXT = _ws("""
    hier bin sind rufe rufen ruft anrufe an mich uns komme kommen kommt
    melde melden arbeite arbeiten arbeitet tätig spreche sprechen spricht
    nochmal
    calling call ringing phoning here speaking i'm am are we're work works
    working
""")
# "für"/"for" only after a verb of working ("ich arbeite für", "i work for"),
# or German "ich rufe für die ergo an" -- "calling for" is usually the callee.
_FOR_CONTEXT = _ws("arbeite arbeiten arbeitet tätig rufe rufen anrufe melde work works working")
_FILLERS = _ws("äh ähm öh öhm hm hmm mhm also nur jetzt heute mal nochmal um uh er erm just")


# --------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------

_LOWER_INSIDE = _ws("""
    und and & für of the am im an der die das des dem den von vom zu zum zur
    auf in for
""")


def _cap(word: str) -> str:
    """Capitalise a word, and each part of a hyphenated / O'Name word."""
    if "-" in word:
        return "-".join(_cap(p) for p in word.split("-"))
    if "'" in word:
        head, _, tail = word.partition("'")
        if len(head) == 1 and tail:
            return head.upper() + "'" + _cap(tail)
        return word[:1].upper() + word[1:]
    return word[:1].upper() + word[1:]


def _normalize_words(words: list[str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(words):
        legal = _legal_at(words, i)
        # "& Co." only counts as a legal form after something.
        if legal and not (legal.weak and not out):
            out.append(legal.canonical)
            i += legal.length
            continue
        w = words[i]
        # Spelled-out initials: "a o k" -> "AOK", "b m w" -> "BMW".
        j = i
        while j < len(words) and len(words[j]) == 1 and words[j].isalpha() \
                and not (j > i and _legal_at(words, j)):
            j += 1
        if j - i >= 2:
            out.append("".join(words[i:j]).upper())
            i = j
            continue
        if w == "+":
            w = "&"
        out.append(w if (out and w in _LOWER_INSIDE) else _cap(w))
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
    words = [t.word for t in _tokenize(text)]
    while words and (words[0] in _ARTICLES or words[0] in ("firma", "company")):
        words = words[1:]
    return _normalize_words(words)


def _normalize_name(words: list[str]) -> str:
    return " ".join(_cap(w) for w in words)


# --------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------

class _Cand(NamedTuple):
    first: int         # token index range [first, last]
    last: int
    confidence: float
    value: str


_PRE_NAME_CUES: list[tuple[tuple[str, ...], float, str]] = [
    (("mein", "name", "ist"), 0.9, "de"),
    (("mein", "name", "lautet"), 0.9, "de"),
    (("mein", "name", "wäre"), 0.9, "de"),
    (("ich", "heiße"), 0.9, "de"),
    (("ich", "heisse"), 0.9, "de"),
    (("hier", "spricht"), 0.8, "de"),
    (("es", "spricht"), 0.8, "de"),
    (("am", "apparat", "ist"), 0.8, "de"),
    (("am", "apparat"), 0.75, "de"),
    (("hier", "ist"), 0.7, "de"),
    (("ich", "bin"), 0.65, "de"),
    (("my", "name", "is"), 0.9, "en"),
    (("my", "name's"), 0.9, "en"),
    (("the", "name", "is"), 0.85, "en"),
    (("the", "name's"), 0.85, "en"),
    (("you're", "speaking", "with"), 0.8, "en"),
    (("you", "are", "speaking", "with"), 0.8, "en"),
    (("you're", "talking", "to"), 0.8, "en"),
    (("this", "is"), 0.7, "en"),
    (("it's",), 0.65, "en"),
    (("it", "is"), 0.6, "en"),
    (("i", "am"), 0.65, "en"),
    (("i'm",), 0.65, "en"),
]

# Cue after the name: (cue words, confidence, language, needs greeting-only
# prefix before the name, words that may not follow the cue).
_POST_NAME_CUES: list[tuple[tuple[str, ...], float, str, bool, frozenset[str]]] = [
    (("ist", "mein", "name"), 0.85, "de", False, frozenset()),
    (("mein", "name"), 0.85, "de", False, _ws("ist lautet wäre")),
    (("is", "my", "name"), 0.85, "en", False, frozenset()),
    (("am", "apparat"), 0.7, "de", True, _ws("ist")),
    (("speaking",), 0.75, "en", True, _ws("with to")),
    (("hier",), 0.6, "de", True, frozenset()),
    (("here",), 0.6, "en", True, frozenset()),
]

# Bare name after a greeting, before one of these: "grüß gott maier von ...".
_AFTER_BARE_NAME = _ws("von vom bei aus from with at")
_BARE_NAME_CONF = 0.45
# Name cues at least this confident ("mein name ist", "my name is") are
# trusted even if the name looks like an organisation word.
_EXPLICIT = 0.85

_SKIP_BEFORE_NAME = _ws("der die da äh ähm öh also nochmal mal einmal so") | _HONORIFICS

# Adjectives/adverbs that are also surnames; accepted right after an
# honorific ("frau schön", "herr kurz"), otherwise they are stop words.
_SURNAME_AFTER_HONORIFIC = _ws("""
    schön kurz gut gern froh klar sicher neu alt bald richtig wohl fertig
    genau lange
""")

_STRONG_COMPANY_CUES: list[tuple[tuple[str, ...], float, str]] = [
    (("firma",), 0.8, "de"),
    (("im", "auftrag"), 0.8, "de"),
    (("im", "namen"), 0.8, "de"),
    (("in", "vertretung"), 0.75, "de"),
    (("on", "behalf", "of"), 0.8, "en"),
    (("in", "the", "name", "of"), 0.75, "en"),
]
_WEAK_COMPANY_CUES: dict[str, tuple[float, str]] = {
    "von": (0.55, "de"), "vom": (0.55, "de"), "bei": (0.5, "de"),
    "beim": (0.5, "de"), "für": (0.5, "de"),
    "from": (0.55, "en"), "with": (0.5, "en"), "at": (0.5, "en"),
    "for": (0.45, "en"),
}
_SKIP_BEFORE_COMPANY = _ARTICLES | _ws("firma company von vom")
_LEGAL_BONUS = 0.15
_FALLBACK_CONF = 0.45
_HINT_CONF = 0.4   # below every cue, even with the other-language factor
_MAX_NAME_WORDS = 3
_MAX_COMPANY_WORDS = 6
_OTHER_LANGUAGE_FACTOR = 0.9


class _Extractor:
    def __init__(self, transcript: str, language: str | None) -> None:
        self.toks = _tokenize(transcript)
        self.words = [t.word for t in self.toks]
        self.n = len(self.words)
        self.legal = [_legal_at(self.words, i) for i in range(self.n)]
        # Token indices covered by a (strong) legal form.
        self.in_legal: set[int] = set()
        for i, lg in enumerate(self.legal):
            if lg and not lg.weak:
                self.in_legal.update(range(i, i + lg.length))
        lang = (language or "").lower().replace("_", "-").split("-")[0]
        self.language = lang if lang in ("de", "en") else None

    # -- helpers ---------------------------------------------------------

    def _lang_factor(self, cue_lang: str) -> float:
        if self.language is None or self.language == cue_lang:
            return 1.0
        return _OTHER_LANGUAGE_FACTOR

    def _matches(self, i: int, seq: tuple[str, ...]) -> bool:
        return self.words[i:i + len(seq)] == list(seq)

    def _name_word(self, i: int) -> bool:
        w = self.words[i]
        if w in _NAME_STOP or w in _HONORIFICS or i in self.in_legal or _CONTRACTION.match(w):
            return False
        letters = w.replace("-", "").replace("'", "")
        return len(letters) >= 2 and letters.isalpha()

    def _initial(self, i: int) -> bool:
        return 0 <= i < self.n and len(self.words[i]) == 1 and self.words[i].isalpha()

    def _company_word(self, i: int) -> bool:
        w = self.words[i]
        if self._initial(i) and (self._initial(i - 1) or self._initial(i + 1)):
            return True  # spelled initials: "a o k", "b m w"
        return (w not in _COMPANY_STOP and w not in _ARTICLES and w not in ("und", "and")
                and not _CONTRACTION.match(w))

    def _greeting_prefix(self, i: int) -> bool:
        """Everything before token ``i`` is greeting or filler."""
        return all(w in _GREETING for w in self.words[:i])

    def _span(self, first: int, last: int) -> tuple[int, int]:
        return (self.toks[first].start, self.toks[last].end)

    # -- names -----------------------------------------------------------

    def _forward_name(self, i: int) -> tuple[int, int, bool] | None:
        """Name starting at or after token i: (first, last, had_honorific)."""
        honorific = False
        while i < self.n and self.words[i] in _SKIP_BEFORE_NAME:
            honorific |= self.words[i] in _HONORIFICS
            i += 1
        first = i
        while i < self.n and i - first < _MAX_NAME_WORDS and (
                self._name_word(i)
                or (honorific and i == first and self.words[i] in _SURNAME_AFTER_HONORIFIC)):
            i += 1
        if i == first:
            return None
        return first, i - 1, honorific

    def _backward_name(self, end: int) -> tuple[int, int, bool, int] | None:
        """Name ending just before token ``end``: (first, last, honorific,
        index of the first token before name and honorifics)."""
        j = end - 1
        while j >= 0 and end - 1 - j < _MAX_NAME_WORDS and self._name_word(j):
            j -= 1
        first = j + 1
        if first == end:
            return None
        honorific = False
        while j >= 0 and self.words[j] in _HONORIFICS:
            honorific = True
            j -= 1
        # A colloquial article before the honorific/name: "die frau weber".
        if j >= 0 and self.words[j] in ("der", "die") and honorific:
            j -= 1
        return first, end - 1, honorific, j + 1

    def _name_conf(self, base: float, first: int, last: int, honorific: bool,
                   lang: str) -> float:
        conf = base
        if honorific:
            conf += 0.05
        if last > first:
            conf += 0.05
        return round(min(conf, 0.99) * self._lang_factor(lang), 3)

    def name_candidates(self) -> list[tuple[_Cand, bool]]:
        """(candidate, is_weak_cue) pairs."""
        out: list[tuple[_Cand, bool]] = []
        for i in range(self.n):
            for seq, base, lang in _PRE_NAME_CUES:
                if not self._matches(i, seq):
                    continue
                found = self._forward_name(i + len(seq))
                if found:
                    first, last, hon = found
                    conf = self._name_conf(base, first, last, hon, lang)
                    out.append((self._name_cand(first, last, conf), base < _EXPLICIT))
            for seq, base, lang, needs_greeting, not_after in _POST_NAME_CUES:
                if not self._matches(i, seq):
                    continue
                after = i + len(seq)
                if after < self.n and self.words[after] in not_after:
                    continue
                found = self._backward_name(i)
                if not found:
                    continue
                first, last, hon, before = found
                if needs_greeting and not (hon or self._greeting_prefix(before)):
                    continue
                conf = self._name_conf(base, first, last, hon, lang)
                out.append((self._name_cand(first, last, conf), base < _EXPLICIT))
            if self.words[i] in _AFTER_BARE_NAME:
                found = self._backward_name(i)
                if found:
                    first, last, hon, before = found
                    if self._greeting_prefix(before):
                        lang = "en" if self.words[i] in ("from", "with", "at") else "de"
                        conf = self._name_conf(_BARE_NAME_CONF, first, last, hon, lang)
                        out.append((self._name_cand(first, last, conf), True))
        return out

    def _name_cand(self, first: int, last: int, conf: float) -> _Cand:
        return _Cand(first, last, conf, _normalize_name(self.words[first:last + 1]))

    # -- companies -------------------------------------------------------

    def _walk_company(self, i: int) -> tuple[int, int, bool] | None:
        """Company starting at token i: (first, last, has_legal_form)."""
        while i < self.n and self.words[i] in _SKIP_BEFORE_COMPANY:
            i += 1
        if i >= self.n or self.words[i] in _COMPANY_NOT_FIRST:
            return None
        first = i
        if self.legal[i] is None and not self._company_word(i):
            return None
        content = 0
        last = None
        while i < self.n:
            lg = self.legal[i]
            if lg is not None and content > 0:
                last = i + lg.length - 1
                return first, last, not lg.weak
            w = self.words[i]
            if w in ("und", "and", "&", "+", "of"):
                nxt = i + 1
                if (content > 0 and nxt < self.n and self.words[nxt] not in _COMPANY_NOT_FIRST
                        and (self.legal[nxt] is not None or self._company_word(nxt))):
                    i += 1
                    continue
                break
            if not self._company_word(i) or content >= _MAX_COMPANY_WORDS:
                break
            content += 1
            last = i
            i += 1
        if last is None:
            return None
        return first, last, False

    def _company_cand(self, first: int, last: int, has_legal: bool, base: float,
                      lang: str) -> _Cand:
        conf = base + (_LEGAL_BONUS if has_legal else 0.0)
        conf = round(min(conf, 0.99) * self._lang_factor(lang), 3)
        value = _normalize_words(self.words[first:last + 1])
        return _Cand(first, last, conf, value)

    def _prev_context(self, i: int) -> int:
        """Index of the token before ``i``, skipping fillers (-1 at start)."""
        j = i - 1
        while j >= 0 and self.words[j] in _FILLERS:
            j -= 1
        return j

    def company_candidates(self, name_ends: set[int],
                           name_cands: list[tuple[_Cand, bool]]) -> list[_Cand]:
        out: list[_Cand] = []
        for i in range(self.n):
            for seq, base, lang in _STRONG_COMPANY_CUES:
                if self._matches(i, seq):
                    found = self._walk_company(i + len(seq))
                    if found:
                        out.append(self._company_cand(*found, base, lang))
            cue = _WEAK_COMPANY_CUES.get(self.words[i])
            if cue is None:
                continue
            base, lang = cue
            found = self._walk_company(i + 1)
            if not found:
                continue
            j = self._prev_context(i)
            prev = self.words[j] if j >= 0 else None
            if self.words[i] in ("für", "for"):
                ok = prev in _FOR_CONTEXT
            else:
                ok = (j < 0 or j in name_ends or prev in _ID_CONTEXT
                      or self._greeting_prefix(j + 1))
            if ok:
                out.append(self._company_cand(*found, base, lang))
            elif found[2]:
                # Not an identity context, but a legal form says "company".
                out.append(self._company_cand(*found, _FALLBACK_CONF - 0.05, lang))

        # Legal form without a cue: the words in front of it.
        for i, lg in enumerate(self.legal):
            if lg is None or lg.weak:
                continue
            j = i - 1
            content = 0
            while j >= 0 and content < _MAX_COMPANY_WORDS:
                w = self.words[j]
                if w in ("und", "and", "&", "+", "of") and content > 0 and j > 0 \
                        and self._company_word(j - 1):
                    j -= 1
                    continue
                if not self._company_word(j) or j in self.in_legal:
                    break
                content += 1
                j -= 1
            if content:
                first = j + 1
                while self.words[first] in ("und", "and", "&", "+", "of"):
                    first += 1
                out.append(self._company_cand(first, i + lg.length - 1, True,
                                              _FALLBACK_CONF, self.language or "de"))

        # A "name" that is really an organisation: "hier ist die telekom",
        # "this is amazon customer service".
        for cand, weak in name_cands:
            found = self._org_phrase(cand) if weak else None
            if found:
                out.append(self._company_cand(*found, _HINT_CONF, self.language or "de"))
        return out

    def _org_phrase(self, cand: _Cand) -> tuple[int, int, bool] | None:
        """The company phrase starting at a name candidate, if it contains an
        organisation word ("telekom", "...versicherung", "service" ...)."""
        found = self._walk_company(cand.first)
        if found is None:
            return None
        first, last, _ = found
        if any(w.endswith(_COMPANY_HINT_SUFFIXES) for w in self.words[first:last + 1]):
            return found
        return None

    # -- result ----------------------------------------------------------

    def run(self) -> Identity:
        names = self.name_candidates()
        name_ends = {c.last for c, _ in names}
        companies = self.company_candidates(name_ends, names)
        # Weak-cue names that turned out to be organisations are no names.
        names = [(c, w) for c, w in names if not (w and self._org_phrase(c))]
        company = _best(companies)
        if company is not None:
            names = [(c, w) for c, w in names
                     if c.last < company.first or c.first > company.last]
        name = _best([c for c, _ in names])
        return Identity(
            name=self._extracted(name),
            company=self._extracted(company),
        )

    def _extracted(self, cand: _Cand | None) -> Extracted | None:
        if cand is None or not cand.value:
            return None
        return Extracted(cand.value, self._span(cand.first, cand.last), cand.confidence)


def _best(cands: list[_Cand]) -> _Cand | None:
    if not cands:
        return None
    # Highest confidence; on a tie the earlier, then the longer candidate.
    return max(cands, key=lambda c: (c.confidence, -c.first, c.last))


def extract_identity(transcript: str, language: str = "de") -> Identity:
    """Caller's name and company from a recognizer transcript.

    ``language`` ("de" or "en"; "de-DE" etc. accepted) only weights the cues:
    both German and English cues are always tried, those of the other
    language score slightly lower.  Any other value means "unsure".
    """
    if not transcript or not transcript.strip():
        return Identity(None, None)
    return _Extractor(transcript, language).run()
