"""The call: one inbound call from INVITE to its final row, written against small ports.

- ``ports.py``        the protocols: InboundCall / CallIO (frames in and out), Clock, Recognizer
- ``caller.py``       who is calling: SIP headers → Caller, every CLIR (withheld) rule, E.164 (pure)
- ``policy.py``       caller + lists → Decision (withheld → blocked → allowed → screening) (pure)
- ``handler.py``      INVITE → row → decision → carried out (433, ring on, REFER, prompt, script) → outcome
- ``calllog.py``      where a call's row is written: the row at INVITE, events, turns, the final outcome
- ``screening.py``    the owner's script on an answered call: say, listen, branch; turns saved, findings
- ``conversation.py`` say a prompt paced at 20 ms, listen for one caller turn
- ``settings.py``     CallSettings, HandoffSettings, PhoneSettings (filled by callbot.config)

What happens to a withheld caller: policy.decide → handler._announce (or 433). Where a turn
ends: callbot.speech.turns. Where a call row is written: calllog.

May import: the domain (script, lists, prompts, text), the adapters (store, speech, telephony's
pure modules) and the leaves. Never callbot.config, callbot.app or the front ends.
"""
