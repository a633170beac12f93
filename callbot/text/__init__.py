"""What the caller said, read as text: pure rules over recognizer transcripts (no I/O, stdlib only).

Modules
-------
``classify``           cold call / genuine / unclear (classify_call) and yes/no answers (yes_no)
``classify_phrases``   the phrase tables classify weighs (data)
``extract``            the caller's name and company (extract_identity, Extracted, Identity)
``extract_names``      the name cues: finding name candidates
``extract_companies``  the company cues: finding company candidates
``extract_words``      the word lists and cue tables of the extractor (data)
``legal_forms``        legal forms in any spelling (legal_at) and normalize_company
``transcript``         a transcript as tokens with word tests (Transcript, Candidate)
``tokens``             cutting a transcript into words (tokenize)
``findings``           what screening found out: summarize() of the caller's answers

May import: the standard library and its own modules only — nothing else of
callbot (it is a "domain rules" unit: the script and the call layer use it).
"""
