"""The ``[calls]``, ``[handoff]`` and ``[phone]`` sections -> the call layer's settings
(:mod:`callbot.call.settings`)."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers

from callbot.call.settings import (
    BLOCKED_MODES,
    GENUINE_MODES,
    HANDOFF_MODES,
    UNKNOWN_MODES,
    WITHHELD_MODES,
    CallSettings,
    HandoffSettings,
    PhoneSettings,
)
from callbot.config.reader import MISSING, Reader, describe


def load_calls(r: Reader, t: dict[str, Any]) -> CallSettings:
    d = CallSettings()
    return CallSettings(
        withheld=r.choice(t, "calls", "withheld", d.withheld, WITHHELD_MODES),
        keep_withheld_evidence=r.boolean(
            t, "calls", "keep_withheld_evidence", d.keep_withheld_evidence
        ),
        unknown=r.choice(t, "calls", "unknown", d.unknown, UNKNOWN_MODES),
        blocked=r.choice(t, "calls", "blocked", d.blocked, BLOCKED_MODES),
        counter_offer_step=r.string(t, "calls", "counter_offer_step", d.counter_offer_step, nonempty=True),
    )


def load_handoff(r: Reader, t: dict[str, Any]) -> HandoffSettings:
    d = HandoffSettings()
    mode = r.choice(t, "handoff", "mode", d.mode, HANDOFF_MODES)
    status = r.integer(t, "handoff", "reject_status", d.reject_status, 400, 699)
    target = r.string(t, "handoff", "transfer_to", d.transfer_to).strip()
    if target and not re.match(r"^sips?:[^\s@]+@[^\s]+$", target):
        r.add(f'handoff.transfer_to: expected a SIP URI such as "sip:100@192.168.178.1", got {describe(target)}')
    elif mode == "transfer" and not target:
        r.add('handoff.transfer_to: is empty but handoff.mode = "transfer" — give the SIP URI of the phone '
              'or group that takes the calls, e.g. "sip:100@192.168.178.1"')
    genuine = r.choice(t, "handoff", "genuine", d.genuine, GENUINE_MODES)
    if genuine == "transfer" and not target and mode != "transfer":
        r.add('handoff.transfer_to: is empty but handoff.genuine = "transfer" — give the SIP URI of the phone '
              'or group that takes genuine callers, e.g. "sip:100@192.168.178.1"')
    return HandoffSettings(mode=mode, reject_status=status, transfer_to=target, genuine=genuine)


def load_phone(r: Reader, t: dict[str, Any]) -> PhoneSettings:
    d = PhoneSettings()
    value = t.get("default_region", MISSING)
    if value is MISSING:
        return d
    if isinstance(value, str) and value.strip().upper() in phonenumbers.SUPPORTED_REGIONS:
        return PhoneSettings(default_region=value.strip().upper())
    r.add(
        f"phone.default_region: expected a two-letter country code such as \"DE\", \"AT\" or "
        f"\"CH\", got {describe(value)}"
    )
    return d
