"""The phrase tables of :mod:`callbot.text.classify`: cold-call / genuine phrases and yes/no cues.

Data only (regular expressions over normalised Vosk transcripts: lower case,
words separated by single spaces); how they are matched and weighed is in
:mod:`callbot.text.classify`. Add a phrase here, and a test case in
``tests/test_classify.py``.
"""

from __future__ import annotations

# Building blocks for the regular expressions below (normalised text: words
# separated by single spaces).
_GAP = r"(?:\w+\s+)"                           # one arbitrary word
_GAP_NOT_IHNEN = r"(?:(?!ihnen\b|euch\b)\w+\s+)"  # ... that is not "ihnen"
_ROLE_DE = (r"(?:geschäftsführung|geschäftsleitung|geschäftsführer(?:in)?|chef(?:in)?|"
            r"inhaber(?:in)?|firmeninhaber(?:in)?|entscheider(?:in)?|verantwortlichen|zuständigen)")
_ROLE_EN = (r"(?:business\s+)?(?:owner|manager|director|boss|decision\s+maker|person\s+in\s+charge|"
            r"head\s+of\s+\w+|ceo|proprietor)")

# ---------------------------------------------------------------------------
# Cold-call / genuine phrase table.  (canonical phrase, weight, regex)
# Order matters only for ties between equally long matches: masks and
# specific genuine phrases first, then cold-call phrases, then generic
# genuine stems (so "stromrechnung" is energy, not an invoice).
# ---------------------------------------------------------------------------
CALL_PHRASES: dict[str, tuple[tuple[str, float, str], ...]] = {
    "de": (
        # -- masks (weight 0: consume the words, never reported) -------------
        ("im Auftrag von", 0.0, r"\bim\s+auftrag\b"),
        ("für Ihre Praxis", 0.0, r"\bfür\s+ihre\s+praxis\b"),
        ("unsere Zusammenarbeit", 0.0, r"\bunsere[rnm]?\s+(?:bisherigen?\s+)?zusammenarbeit\b"),
        ("na ja", 0.0, r"\bna\s+ja\b"),
        # -- genuine, specific --------------------------------------------------
        ("Ihr Angebot", -2.0,
         r"\b(?:ihr|ihrem|ihres|ihren|ihre|euer|eurem)\s+angebot\w*(?:\s+vom|\s+von)?"
         r"|\bangebot\w*\s+(?:vom|von\s+ihnen|das\s+sie|welches\s+sie|was\s+sie|den\s+sie)\b"
         r"|\bangebot\w*\s+" + _GAP + r"{0,4}?(?:geschickt|zugeschickt|gesendet|zugesandt|gemailt|erstellt)\b"
         r"|\bangebotsnummer\w*"),
        ("Angebot anfragen", -1.5,
         r"\b(?:hätte|hätten)\s+gerne?\s+" + _GAP_NOT_IHNEN + r"{0,2}?(?:ein|einen)\s+angebot\b"
         r"|\b(?:möchte|möchten|bräuchte|bräuchten|brauche|brauchen|benötige|benötigen)\s+"
         + _GAP_NOT_IHNEN + r"{0,2}?(?:ein|einen)\s+angebot\b"
         r"|\bangebot\w*\s+" + _GAP + r"{0,2}?(?:anfragen|einholen|anfordern)\b"
         r"|\b(?:können|könnten)\s+sie\s+(?:mir|uns)\s+" + _GAP + r"{0,2}?angebot\b"
         r"|\bbitte\s+um\s+(?:ein\s+)?angebot\b"),
        ("Kundennummer", -2.0,
         r"\b(?:kunden|auftrags|rechnungs|bestell|vertrags|angebots|versicherten|patienten|vorgangs|"
         r"mandanten|referenz|sendungs|mitglieds)\s*(?:nummer|nr)\w*|\baktenzeichen\w*"),
        ("Rückruf", -2.0,
         r"\brückruf\w*|\bzurück(?:ge)?rufen\b|\bzurückzurufen\b|\brufe\s+" + _GAP + r"{0,3}?zurück\b"
         r"|\bsie\s+(?:hatten|haben)\s+" + _GAP + r"{0,3}?angerufen\b"
         r"|\b(?:hatten|haben)\s+(?:mich|uns)\s+" + _GAP + r"{0,2}?angerufen\b"
         r"|\bnachricht\s+" + _GAP + r"{0,3}?hinterlassen\b|\banrufbeantworter\w*|\bmailbox\b"),
        ("Ihr Kollege", -2.0,
         r"\b(?:ihr|ihre|ihrem|ihrer|ihren|euer|eure)\s+(?:kolleg\w*|assistent\w*|sekretär\w*)"
         r"|\b(?:herr|frau)\s+\w+\s+(?:hat|hatte)\s+(?:mich|uns)\s+" + _GAP + r"{0,2}?(?:gebeten|verwiesen|empfohlen)\b"),
        ("wir hatten gesprochen", -2.0,
         r"\b(?:wir|ich)\s+(?:hatten|haben|hatte|habe)\s+" + _GAP + r"{0,4}?(?:gesprochen|telefoniert|besprochen)\b"
         r"|\bwie\s+(?:besprochen|vereinbart|abgesprochen|telefonisch\s+besprochen)\b"
         r"|\bunser(?:em|es|e)?\s+(?:gespräch|telefonat)\w*"),
        ("ich bin Kunde", -2.0,
         r"\b(?:ich\s+bin|wir\s+sind)\s+" + _GAP + r"{0,2}?(?:kunde|kundin|kunden|stammkund\w*|mandant\w*|patient\w*)\b"
         r"|\bbei\s+ihnen\s+kunde\b"),
        ("Bewerbung", -2.0,
         r"\bbewerb\w*|\bbeworben\b|\bvorstellungsgespräch\w*|\bstellenanzeige\w*|\bstellenangebot\w*"
         r"|\bausbildungsplatz\w*|\bpraktikum\w*|\bpraktikant\w*|\blebenslauf\w*"),
        # -- cold call -----------------------------------------------------------
        ("Geschäftsführung sprechen", 2.0,
         r"\b(?:spreche|sprechen|verbinden|verbinde|erreiche|erreichen)\s+(?:sie\s+|ich\s+)?(?:mich\s+)?"
         r"(?:bitte\s+)?(?:mal\s+)?(?:mit\s+)?(?:der|dem|den|ihrem|ihrer|ihren)\s+" + _ROLE_DE + r"\b"
         r"|\b" + _ROLE_DE + r"\s+" + _GAP + r"{0,3}?(?:sprechen|gesprochen|verbinden|erreichen)\b"
         r"|\b" + _ROLE_DE + r"\s+" + _GAP + r"?(?:da|im\s+haus|erreichbar|zu\s+erreichen)\b"),
        ("ich möchte Ihnen vorstellen", 2.0,
         r"\b(?:möchte|möchten|wollte|wollten|würde|würden|darf|dürfte)\s+(?:ich\s+|wir\s+)?ihnen\s+"
         + _GAP + r"{0,5}?(?:vorstellen|präsentieren|zeigen|anbieten)\b"),
        ("darf ich Ihnen kurz", 2.0, r"\bdarf\s+ich\s+ihnen\s+(?:ganz\s+)?(?:kurz|mal|etwas)\b"),
        ("Entscheider", 2.0, r"\bentscheider(?:in|innen)?\b|\bentscheidungsträger\w*|\bentscheidungsbefugt\w*"),
        ("zuständige Person", 1.5,
         r"\bzuständige[nr]?\s+(?:person|ansprechpartner\w*|mitarbeiter\w*|stelle|abteilung)\b"
         r"|\bwer\s+" + _GAP + r"{0,3}?zuständig\b|\bzuständig\s+für\b|\bansprechpartner\w*\s+für\b"),
        ("Geschäftsführung", 0.5,
         r"\bgeschäftsführ\w*|\bgeschäftsleitung\b|\b(?:firmen)?inhaber(?:in)?\b"),
        ("Sonderangebot", 2.0, r"\b\w*sonderangebot\w*|\bsonderaktion\w*"),
        ("Sonderkonditionen", 2.0, r"\bsonderkondition\w*|\bsonderpreis\w*|\bvorzugs(?:preis|kondition)\w*"),
        ("Rabatt", 1.5, r"\b\w*rabatt\w*|\bpreisnachlass\w*|\bnachlass\b"),
        ("Aktion", 1.0,
         r"\b(?:rabatt|preis|werbe|frühjahrs|sommer|herbst|winter|neukunden|einführungs)?aktion(?:en|s\w*)?\b"),
        ("exklusiv", 1.0, r"\bexklusiv\w*"),
        ("kostenlos", 1.5, r"\bkostenlos\w*|\bkostenfrei\w*|\bumsonst\b|\bgebührenfrei\w*"),
        ("gratis", 1.5, r"\bgratis\w*"),
        ("unverbindlich", 1.5, r"\bunverbindlich\w*|\bohne\s+(?:jede\s+)?verpflichtung\b"),
        ("Vergleichsportal", 2.0, r"\bvergleichsportal\w*|\bvergleichsrechner\w*|\bvergleichsseite\w*"),
        ("Vergleich", 1.5, r"\b\w*vergleich\w*"),
        ("private Krankenversicherung", 2.0,
         r"\bprivate[nrm]?\s+krankenversicherung\w*|\bpkv\b|\bprivatversicher\w*|\bprivat\s+versicher\w*"),
        ("Beitrag senken", 2.0,
         r"\bbeitr(?:ag|äge|ags)\w*\s+" + _GAP + r"{0,2}?(?:senken|sparen|reduzieren|optimieren)\b"
         r"|\bbeitrags(?:senkung|optimierung|ersparnis|rückerstattung)\w*"),
        ("Krankenversicherung", 1.5, r"\b\w*krankenversicherung\w*"),
        ("Krankenkasse", 1.0, r"\b\w*krankenkasse\w*"),
        ("Altersvorsorge", 2.0, r"\b\w*altersvorsorge\w*|\bbetriebsrente\w*|\briester\w*|\brürup\w*|\bprivate[nr]?\s+rente\b"),
        ("Geldanlage", 2.0,
         r"\b\w*geldanlage\w*|\bkapitalanlage\w*|\bvermögens(?:aufbau|anlage|berat|verwalt)\w*|\bfinanzberat\w*"
         r"|\bgeld\s+anlegen\b|\baktien\w*|\bfonds\w*|\bkrypto\w*|\bbitcoin\w*"),
        ("Investition", 1.5, r"\binvestition\w*|\binvestier\w*|\binvestment\w*|\brendite\w*"),
        ("Versicherung", 1.5, r"\b\w*versicherung\w*|\bversicherer\w*"),
        ("Abonnement", 1.5, r"\babonnement\w*|\babos?\b|\babonnier\w*"),
        ("Photovoltaik", 2.0, r"\b\w*photovoltaik\w*|\b\w*fotovoltaik\w*|\bpv\s+anlage\w*|\bpv\b"),
        ("Solar", 2.0, r"\b\w*solar\w*"),
        ("Energieversorger", 2.0, r"\benergieversorg\w*|\bversorger(?:wechsel)?\b|\banbieterwechsel\w*"),
        ("Stromanbieter", 2.0,
         r"\b(?:strom|gas|energie|öko\s*strom)(?:anbieter|lieferant|versorger|vertrag|verträge|tarif|preis|kosten|rechnung)\w*"),
        ("Energie", 1.5, r"\b\w*energie\w*"),
        ("Strom", 1.5, r"\bstrom\w*|\bökostrom\w*"),
        ("Gas", 1.5, r"\b(?:erd)?gas\b"),
        ("Wärmepumpe", 1.5, r"\bwärmepumpe\w*|\bheizungs(?:tausch|modernisierung)\w*"),
        ("Werbung", 1.5, r"\bwerbung\w*|\bwerbe\w*|\b(?!bewerb|erwerb)\w+werbung\w*|\breklame\w*"),
        ("Umfrage", 1.5, r"\b\w*umfrage\w*|\b\w*befragung\w*|\bmarktforschung\w*"),
        ("Gewinnspiel", 2.0, r"\b\w*gewinnspiel\w*|\bgewonnen\b|\bgewinner\w*|\bverlosung\w*|\bpreisausschreiben\w*"),
        ("Marketing", 1.5, r"\b\w*marketing\w*"),
        ("Google-Eintrag", 2.0,
         r"\bgoogle\s*(?:eintrag\w*|profil\w*|bewertung\w*|my\s+business|maps|ranking\w*|unternehmensprofil\w*|listung\w*)"
         r"|\bgoogle\w*eintrag\w*"),
        ("Branchenbuch", 2.0,
         r"\b\w*branchenbuch\w*|\bbranchen\w*verzeichnis\w*|\bbranchen\s+eintrag\w*|\bgelbe[nr]?\s+seiten\b"
         r"|\bbranchenportal\w*|\bfirmenverzeichnis\w*|\bbranchenverzeichnis\w*"),
        ("Bewertungen", 1.0, r"\bbewertung(?:en|s\w*)?\b|\bonline\s*bewertung\w*|\brezension\w*"),
        ("Suchmaschine", 1.5,
         r"\bsuchmaschine\w*|\bseo\b|\bsichtbarkeit\w*|\bonline\s*präsenz\w*|\bwebseiten?\s*optimierung\w*"),
        ("Kooperation", 1.5, r"\b\w*kooperation\w*|\bpartnerschaft\w*|\bpartnerprogramm\w*|\bvertriebspartner\w*"),
        ("Zusammenarbeit", 1.0, r"\bzusammenarbeit\w*|\bzusammenarbeiten\b"),
        ("Neukunden", 1.5,
         r"\bneukund\w*|\bneue[nr]?\s+kunden\s+(?:gewinnen|finden|akquirieren)\b|\bkundengewinnung\w*|\bakquise\w*|\bakquir\w*"),
        ("Telefonanbieter", 1.5,
         r"\b\w*telefonanbieter\w*|\b(?:mobilfunk|dsl|glasfaser)\w*"
         r"|\b(?:telefon|internet|handy)(?:anbieter|vertrag|verträge|tarif|tarife|anschluss|anlage)\w*"),
        ("Tarif", 1.0, r"\b\w*tarif\w*"),
        ("sparen", 1.0,
         r"\b(?:ein)?sparen\b|\bersparnis\w*|\beinsparung\w*|\beinsparpotenzial\w*|\beinsparpotential\w*"
         r"|\bkosten\s+" + _GAP + r"?(?:senken|reduzieren)\b"),
        ("Interesse", 1.5,
         r"\b(?:hätten|haben|hätte)\s+sie\s+" + _GAP + r"{0,2}?interesse\b"
         r"|\binteresse\s+an\s+(?:einer|einem|unserem|unserer|unseren)\b"),
        ("Leasing", 1.0, r"\b\w*leasing\w*|\bfinanzierung\w*"),
        ("Angebot", 1.0, r"\b\w*angebot\w*"),
        ("anbieten", 1.0, r"\b(?:an)?bieten\b"),
        ("vorstellen", 1.0, r"\bvorstellen\b|\bvorzustellen\b|\bpräsentieren\b"),
        ("kurz Zeit", 0.5, r"\b(?:haben|hätten)\s+sie\s+" + _GAP + r"{0,2}?(?:zeit|minuten?|moment)\b"),
        # -- genuine, generic stems -------------------------------------------
        ("Rechnung", -1.5, r"\brechnung\w*|\b\w+rechnung(?:en)?\b|\bmahnung\w*|\bgutschrift\w*"),
        # not "...beauftragte(r)": a person (datenschutzbeauftragter), not an order
        ("Auftrag", -1.5, r"\bauftr(?:ag|äge)\w*|\b\w+(?<!be)auftr(?:ag|äge)\w*|\bbeauftragt\b"),
        ("Bestellung", -1.5, r"\b(?:nach)?bestell\w*"),
        ("Termin", -1.5, r"\btermin\w*|\b(?:arzt|untersuchungs|behandlungs|besprechungs|folge)termin\w*"),
        ("Lieferung", -1.5, r"\b\w*lieferung\w*|\bliefer(?:n|t|termin|schein|adresse|datum)\w*|\bgeliefert\b"),
        ("Paket", -1.5,
         r"\bpaket(?:e|en|s)?\b|\bpaket(?:dienst|zusteller|bote|annahme|shop|station)\w*|\bpäckchen\b"
         r"|\bzusteller\w*|\bdhl\b|\bdpd\b|\bhermes\b|\bsendung\w*"),
        ("Reklamation", -2.0,
         r"\breklamation\w*|\breklamier\w*|\bbeschwerde\w*|\bbeschweren\b|\bumtausch\w*|\bgarantie\w*"
         r"|\bgewährleistung\w*|\bdefekt\w*|\bkaputt\w*"),
        ("Patient", -1.5, r"\bpatient\w*"),
        ("Praxis", -1.0, r"\bpraxis\b"),
        ("Rezept", -1.5, r"\brezept\w*|\bkrankschreibung\w*|\barbeitsunfähigkeit\w*|\bbefund\w*|\bsprechstunde\w*"),
        ("Notfall", -1.5, r"\bnotfall\w*"),
        ("Mandat", -1.5, r"\bmandant\w*|\bmandat\w*|\bakte\b"),
    ),
    "en": (
        # -- masks ---------------------------------------------------------------
        ("in order to", 0.0, r"\bin\s+order\s+to\b"),
        ("feel free", 0.0, r"\bfeel\s+free\b|\btoll\s+free\b|\bhands\s+free\b"),
        # -- genuine, specific --------------------------------------------------
        ("your offer", -2.0,
         r"\byour\s+(?:offer|quote|quotation|estimate|proposal)\b"
         r"|\b(?:offer|quote|quotation|estimate|proposal)\s+" + _GAP + r"{0,3}?(?:you\s+sent|you\s+gave|from\s+you|you\s+made|dated)\b"),
        ("request a quote", -1.5,
         r"\b(?:i'?d|we'?d|i\s+would|we\s+would)\s+like\s+(?:to\s+get\s+)?(?:a|an)\s+(?:quote|estimate|offer)\b"
         r"|\b(?:get|request|need)\s+(?:a|an)\s+(?:quote|estimate|quotation)\b"),
        ("customer number", -2.0,
         r"\b(?:customer|account|order|invoice|reference|case|ticket|tracking|policy|patient|client)\s+(?:number|no|id)\b"),
        ("returning your call", -2.0,
         r"\breturning\s+(?:your|the|a)\s+call\b|\byou\s+(?:called|rang|phoned|tried\s+to\s+call)\b"
         r"|\bcall(?:ing)?\s+(?:you\s+)?back\b|\byou\s+left\s+(?:me\s+)?(?:a\s+)?(?:message|voicemail)\b"
         r"|\bgot\s+your\s+(?:message|voicemail)\b"),
        ("your colleague", -2.0,
         r"\byour\s+(?:colleague|coworker|co\s+worker|assistant|secretary)s?\b|\b(?:told|asked)\s+me\s+to\s+call\b"),
        ("we spoke", -2.0,
         r"\b(?:we|i)\s+(?:spoke|talked|discussed)\b|\bas\s+(?:discussed|agreed)\b"
         r"|\bour\s+(?:conversation|call|meeting)\b|\bfollowing\s+up\s+on\s+(?:our|my)\b"),
        ("I'm a customer", -2.0,
         r"\bi(?:'m|\s+am)\s+(?:a|an|your)\s+(?:existing\s+|regular\s+|long\s+time\s+)?(?:customer|client|patient)\b"
         r"|\bcustomer\s+of\s+yours\b|\bclient\s+of\s+yours\b"),
        ("job application", -2.0,
         r"\bapplication\b|\bapplied\b|\bapplying\b|\bjob\s+(?:interview|ad|advert|posting|opening)s?\b"
         r"|\bvacanc\w*|\bresume\b|\bcv\b"),
        # -- cold call -----------------------------------------------------------
        ("speak to the owner", 2.0,
         r"\b(?:speak|talk)(?:ing)?\s+(?:to|with)\s+(?:the|your)\s+" + _ROLE_EN + r"\b"
         r"|\b(?:is|are)\s+(?:the|your)\s+" + _ROLE_EN + r"\s+" + _GAP + r"{0,2}?(?:available|in|there|around)\b"
         r"|\bare\s+you\s+the\s+" + _ROLE_EN + r"\b"),
        ("decision maker", 2.0,
         r"\bdecision\s*makers?\b|\bperson\s+in\s+charge\s+of\b|\bwho(?:'s|\s+is)\s+(?:responsible|in\s+charge)\s+for\b"
         r"|\bwho\s+handles\s+your\b"),
        ("special offer", 2.0,
         r"\bspecial\s+(?:offer|deal|price|rate|promotion)s?\b|\blimited\s+time\b|\bexclusive\s+(?:offer|deal)s?\b"),
        ("no obligation", 2.0,
         r"\bno\s+obligation\b|\bobligation\s+free\b|\bwithout\s+(?:any\s+)?obligation\b|\bno\s+strings\s+attached\b"
         r"|\bno\s+commitment\b"),
        ("free", 1.5, r"\bfree(?:\s+of\s+charge)?\b|\bcomplimentary\b|\bat\s+no\s+(?:cost|charge)\b"),
        ("offer", 1.0, r"\boffer(?:s|ing|ed)?\b|\bdeals?\b"),
        ("compare", 1.5, r"\bcompar\w*"),
        ("solar", 2.0, r"\bsolar\b|\bphotovoltaic\w*"),
        ("energy", 1.5,
         r"\benergy\b|\belectricity\b|\butilit(?:y|ies)\b|\bheat\s+pumps?\b"
         r"|\b(?:gas|power|electric)\s+(?:supplier|provider|bill|bills|prices?|rates?|contract|tariff)s?\b"),
        ("insurance", 1.5, r"\binsur\w*|\bpension\w*|\bretirement\s+plans?\b"),
        ("investment", 1.5,
         r"\binvest\w*|\bfinancial\s+(?:advice|adviser|advisor|planning)\b|\bbusiness\s+loans?\b|\bfunding\b"
         r"|\bmerchant\s+services\b|\bcard\s+(?:processing|terminals?)\b|\bcrypto\w*"),
        ("subscription", 1.5, r"\bsubscri\w*|\bmembership\b"),
        ("survey", 1.5, r"\bsurveys?\b|\bquestionnaires?\b|\bmarket\s+research\b|\bpoll\b"),
        ("marketing", 1.5,
         r"\bmarketing\b|\badvertis\w*|\blead\s+generation\b|\bnew\s+(?:customers|clients)\b|\bsocial\s+media\b"),
        ("SEO", 2.0,
         r"\bseo\b|\bs\s+e\s+o\b|\bsearch\s+engines?\b|\bsearch\s+rankings?\b|\bfirst\s+page\s+of\s+google\b"
         r"|\bonline\s+(?:presence|visibility)\b"),
        ("Google listing", 2.0,
         r"\bgoogle\s+(?:listing|business|profile|ranking|rankings|reviews?|maps|my\s+business|page)\b"
         r"|\bbusiness\s+(?:listing|directory)\b|\byellow\s+pages\b|\bdirectory\s+listing\b"),
        ("reviews", 1.0, r"\breviews\b|\bratings\b"),
        ("promotion", 1.5, r"\bpromo(?:tion|tional|tions|s)?\b"),
        ("discount", 1.5, r"\bdiscount\w*|\bper\s*cent\s+off\b"),
        ("save money", 1.0,
         r"\bsave\s+(?:you\s+)?(?:money|up\s+to|on)\b|\bsavings?\b|\bcut\s+your\b|\breduce\s+your\b|\blower\s+your\b"),
        ("partnership", 1.0, r"\bpartnerships?\b|\bcollaborat\w*|\bpartner\s+with\s+you\b"),
        ("interested", 1.5, r"\b(?:would|are)\s+you\s+(?:be\s+)?interested\b|\binterested\s+in\s+(?:our|a|an)\b"),
        ("introduce", 1.5,
         r"\b(?:i'?d|i\s+would|let\s+me|may\s+i|can\s+i)\s+(?:like\s+to\s+)?(?:quickly\s+)?"
         r"(?:introduce|tell\s+you\s+about|show\s+you)\b"),
        ("phone plan", 1.0,
         r"\btariffs?\b|\bphone\s+(?:plan|provider|system|contract)s?\b|\bbroadband\b|\bvoip\b|\bmobile\s+(?:plan|contract)s?\b"),
        # -- genuine, generic -------------------------------------------------
        ("invoice", -1.5, r"\binvoic\w*|\bbilling\b|\bpayment\b|\bpaid\b|\brefund\w*"),
        ("order", -1.5, r"\border(?:ed|s)?\b|\bpurchased?\b"),
        ("appointment", -1.5, r"\bappointments?\b|\breschedul\w*|\bbook(?:ed)?\s+(?:in|a\s+(?:time|slot|visit))\b"),
        ("delivery", -1.5,
         r"\bdeliver\w*|\bparcels?\b|\bcourier\b|\bshipments?\b|\b(?:your|a)\s+package\s+for\b"),
        ("complaint", -2.0,
         r"\bcomplain\w*|\bfaulty\b|\bbroken\b|\bdefect\w*|\bwarranty\b|\brepairs?\b|\bnot\s+working\b"
         r"|\bdoesn'?t\s+work\b"),
        ("patient", -1.5, r"\bpatients?\b|\bprescriptions?\b|\btest\s+results?\b"),
    ),
}


# ---------------------------------------------------------------------------
# Yes/no phrase table.  (polarity, regex); polarity "yes" | "no" | "unknown"
# (don't know / didn't understand: forces "unknown") | "" (mask: consumes
# words without meaning anything, e.g. "na ja").
# Longest match wins, so "ich weiß nicht" (unknown) beats "nicht" (no),
# "haben wir keine" (no) beats "haben wir" (yes), "nicht sicher" (unknown)
# beats "sicher" (yes).
# ---------------------------------------------------------------------------
_NEG_DE = r"(?:nicht|nichts|kein|keine|keinen|keiner|keins|nie|niemals)"
_NEG_EN = r"(?:not|no|never|n't)"

YES_NO_PHRASES: dict[str, tuple[tuple[str, str], ...]] = {
    "de": (
        # don't know / not understood
        ("unknown",
         r"\b(?:ich\s+)?weiß\s+(?:es\s+|das\s+)?(?:ich\s+)?(?:leider\s+)?(?:auch\s+)?(?:nicht|net|nich)\b"
         r"|\bweiß\s+ich\s+(?:leider\s+)?(?:auch\s+)?(?:nicht|net|nich)\b"
         r"|\b(?:(?:ich|wir)\s+(?:habe|haben|hab|hätte|hätten)\s+)?(?:keine\s+ahnung|keinen\s+plan|kein\s+plan)\b"
         r"|\bjein\b"
         r"|\b(?:ich\s+bin\s+)?(?:mir\s+)?(?:nicht|nich)\s+(?:so\s+)?(?:ganz\s+)?sicher\b"
         r"|\bkann\s+ich\s+(?:ihnen\s+)?(?:so\s+)?(?:jetzt\s+)?(?:nicht|net)\s+(?:sagen|beantworten)\b"
         r"|\bmüsste\s+(?:ich\s+)?" + _GAP + r"{0,3}?(?:nachschauen|nachsehen|nachfragen|fragen|prüfen)\b"
         r"|\bvielleicht\b|\beventuell\b|\bkommt\s+(?:drauf|darauf)\s+an\b|\bweiß\s+nicht\b"
         r"|\b" + _GAP + r"{0,2}?(?:nicht|schlecht)\s+(?:verstanden|verstehen|gehört|hören)\b"
         r"|\bverstehe\s+" + _GAP + r"{0,2}?nicht\b|\bwie\s+bitte\b"),
        # no
        ("no",
         r"\bnicht\s+dass\s+ich\s+(?:wüsste|wüßte)\b"
         r"|\b(?:haben|hab|habe|hat|hatten|gibt\s+es|gibts|gibt's|brauchen|brauche|benötigen|machen|mache|nutzen|"
         r"benutzen|sind|bin|ist|wollen|möchten|können|führen|bieten)\s+(?:wir\s+|ich\s+|es\s+|er\s+|sie\s+)?"
         + _GAP + r"{0,2}?" + _NEG_DE + r"\b"
         r"|\bwir\s+(?:haben|brauchen|nutzen|machen|sind|bieten)\s+" + _GAP + r"{0,2}?" + _NEG_DE + r"\b"
         r"|\b(?:stimmt|richtig|sicher|natürlich|klar|genau|bestimmt|wirklich|eigentlich|leider|gar|noch|überhaupt|"
         r"wohl|absolut|doch|momentan|derzeit|aktuell|zurzeit|jetzt|auch|nun|immer\s+noch)\s+(?:nicht|kein\w*)\b"
         r"|\bnicht\s+(?:so\s+)?(?:richtig|wirklich|ganz|unbedingt|mehr)\b"
         r"|\b(?:wir\s+)?(?:beraten\s+(?:wir\s+)?|nur\s+)telefonisch\b|\bkein\s+bedarf\b|\bauf\s+keinen\s+fall\b"
         r"|\bkeineswegs\b|\b(?:ich\s+)?(?:glaube|denke|schätze|meine)\s+(?:eher\s+)?nicht\b"
         r"|\bnein\b|\bnee\b|\bnö\b|\bnöö+\b|\bnein\s+danke\b|\bneee+\b|\bnicht\b|\bnichts\b|\bkeine?[nrms]?\b"
         r"|\bnie\b|\bniemals\b|\bnirgends\b"
         # "ne" is a tag question at the end ("haben wir ne"); only an answer at the start
         r"|^(?:(?:äh|ähm|öh|hm|hmm|also|naja)\s+)*ne\b"),
        # yes
        ("yes",
         r"\b(?:ja\s+)?(?:haben|hab|habe|hat|hatten)\s+(?:wir|ich)\b(?:\s+schon)?|\bwir\s+haben\b|\bgibt\s+es\b|\bgibts\b"
         r"|\b(?:ich\s+)?(?:glaube|denke|schätze|meine)\s+(?:schon|ja)\b|\bauf\s+jeden\s+fall\b|\bja\s+schon\b"
         r"|\bja\b|\bjawohl\b|\bjo\b|\bjap\b|\bjapp\b|\bjep\b|\bjepp\b|\bjup\b|\bjoa\b|\bgenau\b|\bklar\b"
         r"|\bnatürlich\b|\bsicher\b|\bsicherlich\b|\brichtig\b|\bstimmt\b|\bselbstverständlich\b|\bdoch\b"
         r"|\bkorrekt\b|\bfreilich\b|\blogo\b|\bgewiss\b|\bbestimmt\b|\bexakt\b"),
        # masks
        ("", r"\bna\s+ja\b|\bnaja\b"),
    ),
    "en": (
        ("unknown",
         r"\b(?:i\s+)?(?:don'?t|do\s+not|dont)\s+know\b|\bdunno\b|\b(?:i'?m\s+|i\s+am\s+)?not\s+(?:so\s+|really\s+|quite\s+)?sure\b"
         r"|\b(?:(?:i|we)\s+(?:have|'ve)\s+)?no\s+idea\b|\bmaybe\b|\bperhaps\b|\bit\s+depends\b|\b(?:i\s+)?(?:can'?t|cannot)\s+say\b|\bhard\s+to\s+say\b"
         r"|\bnot\s+certain\b|\b(?:can'?t|cannot|couldn'?t|didn'?t|did\s+not)\s+(?:hear|understand|catch)\b"
         r"|\bsorry\s+what\b|\bpardon\b|\bwhat\s+do\s+you\s+mean\b|\bi'?d\s+have\s+to\s+(?:check|ask)\b"),
        ("no",
         r"\b(?:i\s+)?(?:don'?t|do\s+not)\s+think\s+so\b|\bnot\s+that\s+i\s+know\s+of\b|\bnot\s+really\b|\bnot\s+yet\b"
         r"|\bof\s+course\s+not\b|\b(?:certainly|definitely|absolutely|really|actually)\s+not\b"
         r"|\b(?:we|i|it)\s+(?:do|does|did|have|has|are|am|is)\s+not\b"
         r"|\b(?:we|i|it)\s+(?:don'?t|doesn'?t|didn'?t|haven'?t|hasn'?t|aren'?t|isn'?t|dont|havent)\b"
         r"|\b(?:we|i)\s+have\s+no\b|\bno\s+(?:thanks|thank\s+you)\b|\bnone\b|\bnever\b|\bnope\b|\bnah\b|\bno\b|\bnot\b"
         r"|\b(?:don'?t|doesn'?t|didn'?t|haven'?t|hasn'?t|aren'?t|isn'?t|won'?t|can'?t)\b"),
        ("yes",
         r"\bwe\s+(?:do|have|did|are)\b|\bi\s+(?:do|have|did|am)\b|\bi\s+think\s+so\b|\bthat'?s\s+(?:right|correct)\b"
         r"|\bof\s+course\b|\byes\b|\byeah\b|\byep\b|\byup\b|\byea\b|\bsure\b|\bcorrect\b|\bright\b|\babsolutely\b"
         r"|\bdefinitely\b|\bcertainly\b|\bindeed\b|\bexactly\b|\baffirmative\b|\buh\s+huh\b"),
        ("", r"\bright\s+now\b|\ball\s+right\b"),
    ),
}

#: Words after which the answer may turn ("ja also eigentlich nicht").
TURN_WORDS = {
    "de": frozenset({"aber", "eigentlich", "sondern", "obwohl", "doch", "allerdings"}),
    "en": frozenset({"but", "actually", "although", "though", "however"}),
}
