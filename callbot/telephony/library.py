"""The SIP library as callbot loads it: module-level workarounds applied once, at import.

Imported by :mod:`callbot.telephony.client` before anything else of rfcvoip is used.
Each workaround names the upstream file:line it answers.
"""

from __future__ import annotations

import logging

import rfcvoip
from rfcvoip import SIP, RTP
from rfcvoip.SIPTransport import SIPConnection
from rfcvoip.SIPTransport import SIPTransport as SIPTransportKind
from rfcvoip.VoIP import VoIP as _voip_module

from callbot.telephony.stream import stream_source

_lib_log = logging.getLogger("callbot.telephony.rfcvoip")


# WORKAROUND rfcvoip/__init__.py:30-34: ``debug()`` prints to stdout even with
# DEBUG off. Each rfcvoip module binds ``debug = rfcvoip.debug`` at import
# time, so we rebind those module globals to a logger (nothing on stdout).
def _library_debug(message, error=None):
    _lib_log.debug("%s", error if error is not None else message)


for _module in (rfcvoip, SIP, RTP, _voip_module):
    _module.debug = _library_debug
rfcvoip.DEBUG = False

#: The largest UDP datagram: a SIP message over UDP may be up to this long.
MAX_DATAGRAM = 65535


# WORKAROUND SIPTransport.py:588: a UDP read takes at most 8192 bytes, so a longer INVITE (a
# 10 kB display name, many headers) was cut and dropped without an answer. Read the whole
# datagram; the message is then parsed (or answered 400) like any other.
def _recv_whole_datagram(self) -> bytes:
    if self.socket is None:
        raise RuntimeError("SIP connection is not open.")
    if self.target.transport == SIPTransportKind.UDP:
        data, address = self.socket.recvfrom(MAX_DATAGRAM)
        self.last_recv_address = (str(address[0]), int(address[1]))
        return data
    message = self._recv_stream_message()
    # WORKAROUND SIPTransport.py:584-591: a stream message had no source, and the gatekeeper
    # refused every INVITE "from :0"; the source is the registrar the connection goes to.
    self.last_recv_address = stream_source(self) or self.last_recv_address
    return message


SIPConnection.recv_raw_message = _recv_whole_datagram


def wideband_problem() -> str | None:
    """Why G.722 cannot be answered (its codec library, PyPI ``G722``, does not load), or None."""
    from rfcvoip.codecs.g722 import G722Codec

    availability = G722Codec.availability()
    return None if availability.available else (availability.reason or "the G722 package does not load")


def supported_codecs() -> tuple[str, ...]:
    """The codec names the bot answers (see :mod:`callbot.telephony.offer`): G.722 only where its
    codec library loads — rfcvoip would not answer it otherwise — then G.711."""
    return (() if wideband_problem() else ("G722",)) + ("PCMU", "PCMA")
