"""The word lists and cue tables of :mod:`callbot.text.extract` (data only).

Stop words that end a name or a company, greetings and fillers, the cues
that introduce a name ("mein name ist", "this is" ...) or a company
("firma", "von", "from" ...), and the confidence figures. Lower case, as the
recognizer writes; add a word here and a case to ``tests/test_extract.py``.
"""

from __future__ import annotations

import re

from callbot.text.tokens import word_set

ARTICLES = word_set("der die das den dem des the")

HONORIFICS = word_set("""
    herr herrn frau fräulein doktor dr doc prof professor dipl diplom ing
    mr mister mrs missus ms miss doctor sir madam
""")

GREETING = word_set("""
    hallo hallöchen hallihallo hi hey hello hiya guten gutn tag tach morgen
    moin abend grüß grüss gott servus schönen wunderschönen einen mahlzeit
    ja jo jawohl na also äh ähm öh öhm hm hmm mhm so good morning afternoon
    evening day there yes yeah yep ok okay oh well um uh er erm hallo
""")

NUMBERS = word_set("""
    null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf
    zwanzig dreißig hundert tausend
    zero one two three four five six seven eight nine ten eleven twelve
    twenty thirty hundred thousand
""")

FUNCTION_DE = word_set("""
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

ADVERBS_DE = word_set("""
    hier da dort gerade grade jetzt nicht nur noch schon auch so ja nein
    doch mal nochmal nochmals einmal eben halt bitte danke gern gerne sehr
    ganz kurz kurze leider eigentlich wieder heute morgen gestern bald gleich
    immer nie oft sicher klar genau okay ok gut schön wirklich vielleicht
    natürlich selbst selber dran drin damit dazu darum daher deshalb dann
    zurück wohl bereits momentan aktuell derzeit zuständig unterwegs
    interessiert erreichbar beschäftigt krank fertig froh neu neue neuer
    neuen neues alte alter alten richtig falsch
""")

VERBS_DE = word_set("""
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

NOUNS_DE = word_set("""
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

FUNCTION_EN = word_set("""
    the a an i me my mine you your yours he him his she her it its we us our
    they them their this that these those who whom whose what where why how
    which someone anyone nobody something nothing
    from with at of for on in into to about regarding re by as if than then
    and or but so because since though although
""")

WORDS_EN = word_set("""
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

NAME_STOP = (
    FUNCTION_DE | ADVERBS_DE | VERBS_DE | NOUNS_DE | FUNCTION_EN
    | WORDS_EN | GREETING | NUMBERS | ARTICLES
)

# ("weiß" is deliberately absent from the verbs: Weiß is a common surname.)

# Words that end (or may not start) a company.  Content words that occur in
# company names ("energie", "direkt", "service", numbers ...) are absent.
COMPANY_STOP = (
    (FUNCTION_DE | ADVERBS_DE | VERBS_DE | FUNCTION_EN | GREETING
     | word_set("""
        is am are was were be been have has had do does did would can could
        should will i'm i've i'd it's that's there's we're you're
        calling call called ringing phoning speaking talking wanted want
        like just not no yes thanks thank please sorry interested today
        tomorrow yesterday here there now name number anruf termin frage
        rechnung anliegen thema sache woche monat jahr letzter letzten letzte
        vergangenen nächste nächsten last next week month year
     """))
    - word_set("of & und and")   # handled explicitly
)

# English contractions ("we'd", "i'll", "you've", "they're", "i'm") are
# clause words, never part of a name or company.
CONTRACTION = re.compile(r"^[a-z]+'(d|ll|ve|re|m)$")

# Words a company may not start with even though they may occur inside one.
COMPANY_NOT_FIRST = word_set("of & und and + co ko")

# Words that mark a candidate name as really being an organisation.
COMPANY_HINT_SUFFIXES = (
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
ID_CONTEXT = word_set("""
    hier bin sind rufe rufen ruft anrufe an mich uns komme kommen kommt
    melde melden arbeite arbeiten arbeitet tätig spreche sprechen spricht
    nochmal
    calling call ringing phoning here speaking i'm am are we're work works
    working
""")
# "für"/"for" only after a verb of working ("ich arbeite für", "i work for"),
# or German "ich rufe für die ergo an" -- "calling for" is usually the callee.
FOR_CONTEXT = word_set("arbeite arbeiten arbeitet tätig rufe rufen anrufe melde work works working")
FILLERS = word_set("äh ähm öh öhm hm hmm mhm also nur jetzt heute mal nochmal um uh er erm just")

PRE_NAME_CUES: list[tuple[tuple[str, ...], float, str]] = [
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
POST_NAME_CUES: list[tuple[tuple[str, ...], float, str, bool, frozenset[str]]] = [
    (("ist", "mein", "name"), 0.85, "de", False, frozenset()),
    (("mein", "name"), 0.85, "de", False, word_set("ist lautet wäre")),
    (("is", "my", "name"), 0.85, "en", False, frozenset()),
    (("am", "apparat"), 0.7, "de", True, word_set("ist")),
    (("speaking",), 0.75, "en", True, word_set("with to")),
    (("hier",), 0.6, "de", True, frozenset()),
    (("here",), 0.6, "en", True, frozenset()),
]

# Bare name after a greeting, before one of these: "grüß gott maier von ...".
AFTER_BARE_NAME = word_set("von vom bei aus from with at")
BARE_NAME_CONF = 0.45
# Name cues at least this confident ("mein name ist", "my name is") are
# trusted even if the name looks like an organisation word.
EXPLICIT = 0.85

SKIP_BEFORE_NAME = word_set("der die da äh ähm öh also nochmal mal einmal so") | HONORIFICS

# Adjectives/adverbs that are also surnames; accepted right after an
# honorific ("frau schön", "herr kurz"), otherwise they are stop words.
SURNAME_AFTER_HONORIFIC = word_set("""
    schön kurz gut gern froh klar sicher neu alt bald richtig wohl fertig
    genau lange
""")

STRONG_COMPANY_CUES: list[tuple[tuple[str, ...], float, str]] = [
    (("firma",), 0.8, "de"),
    (("im", "auftrag"), 0.8, "de"),
    (("im", "namen"), 0.8, "de"),
    (("in", "vertretung"), 0.75, "de"),
    (("on", "behalf", "of"), 0.8, "en"),
    (("in", "the", "name", "of"), 0.75, "en"),
]
WEAK_COMPANY_CUES: dict[str, tuple[float, str]] = {
    "von": (0.55, "de"), "vom": (0.55, "de"), "bei": (0.5, "de"),
    "beim": (0.5, "de"), "für": (0.5, "de"),
    "from": (0.55, "en"), "with": (0.5, "en"), "at": (0.5, "en"),
    "for": (0.45, "en"),
}
SKIP_BEFORE_COMPANY = ARTICLES | word_set("firma company von vom")
LEGAL_BONUS = 0.15
FALLBACK_CONF = 0.45
HINT_CONF = 0.4   # below every cue, even with the other-language factor
MAX_NAME_WORDS = 3
MAX_COMPANY_WORDS = 6
OTHER_LANGUAGE_FACTOR = 0.9
