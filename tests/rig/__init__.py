"""callbot integration test rig: Kamailio + SIPp + RTP sink, all on 127.0.0.1.

Import it as ``tests.rig`` (``python -m pytest`` from the repo root, like the
other tests' ``from tests.conftest import ...``) or as ``rig`` (plain
``pytest``: ``tests/`` has no ``__init__.py`` so pytest puts it on
``sys.path``); the rig itself only uses relative imports::

    from tests.rig import Kamailio, RtpSink, run_sipp, start_sipp, write_rtp_pcap

Typical bot test (the bot registers as ``callbot``)::

    with Kamailio(tmp_path / "kam") as kam, RtpSink() as sink:
        bot = start_the_bot(registrar=kam.address)            # lead's code
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        res = run_sipp("uac_call", kam.address, workdir=tmp_path,
                       keys={"sink_port": sink.port}, from_user="+4930111222")
        assert res.ok, res.describe()
        assert res.find("received", "BYE")                    # bot hung up
        assert abs(sink.duration().by_count - prompt_seconds) < 0.2

Modules:

* :mod:`rig.kamailio` -- :class:`Kamailio` (proxy/registrar, optional digest
  auth, location queries via ``OPTIONS`` + ``X-Rig-Query``; ``tls=True`` adds
  TCP and TLS listeners), :func:`sip_request`, :func:`kamailio_tls_module`.
* :mod:`rig.tls` -- :func:`make_rig_pki`: test CA (trustme) + server certificate.
* :mod:`rig.sipp` -- :func:`run_sipp` / :func:`start_sipp`, :class:`SippResult`
  (counts, exit code, parsed ``-trace_msg`` log).
* :mod:`rig.rtp` -- :class:`RtpSink`, :func:`write_rtp_pcap`, G.711 helpers,
  :func:`free_udp_port`.
* ``scenarios/`` -- SIPp XML: callers ``uac_call`` (callee hangs up),
  ``uac_caller_bye`` (caller hangs up after ``hold_ms``), ``uac_cancel``,
  ``uac_play`` (plays ``pcap``), ``uac_anonymous`` (Privacy/PAI), and for
  the rig's own tests ``uac_register``, ``uas_answer``, ``uas_answer_bye``,
  ``uas_ring``.
"""

from .kamailio import (
    Kamailio,
    KamailioError,
    SipResponse,
    free_tcp_port,
    kamailio_binary,
    kamailio_tls_module,
    sip_request,
)
from .rtp import (
    PTIME,
    RtpDurations,
    RtpPacket,
    RtpSink,
    alaw_decode,
    alaw_encode,
    free_udp_port,
    pcm16_tone,
    ulaw_decode,
    ulaw_encode,
    write_rtp_pcap,
)
from .tls import RigPki, make_rig_pki
from .sipp import (
    DEFAULT_KEYS,
    SCENARIO_DIR,
    SippProcess,
    SippResult,
    SipTraceMessage,
    anonymous_headers,
    run_sipp,
    scenario_path,
    sipp_binary,
    start_sipp,
)

__all__ = [
    "Kamailio",
    "KamailioError",
    "SipResponse",
    "kamailio_binary",
    "kamailio_tls_module",
    "free_tcp_port",
    "sip_request",
    "RigPki",
    "make_rig_pki",
    "PTIME",
    "RtpDurations",
    "RtpPacket",
    "RtpSink",
    "alaw_decode",
    "alaw_encode",
    "free_udp_port",
    "pcm16_tone",
    "ulaw_decode",
    "ulaw_encode",
    "write_rtp_pcap",
    "DEFAULT_KEYS",
    "SCENARIO_DIR",
    "SippProcess",
    "SippResult",
    "SipTraceMessage",
    "anonymous_headers",
    "run_sipp",
    "scenario_path",
    "sipp_binary",
    "start_sipp",
]
