"""Test CA and server certificate for the rig's TLS listeners (loopback only).

Usage::

    from tests.rig.tls import make_rig_pki

    pki = make_rig_pki(tmp_path / "tls")              # hosts 127.0.0.1 + localhost
    ctx = ssl.create_default_context(cafile=str(pki.ca_file))
    # kamailio's tls.cfg: certificate = pki.cert_file, private_key = pki.key_file

The CA is a :class:`trustme.CA` (``pki.ca``; a test can issue more certs
with it or call ``pki.ca.configure_trust(ctx)``).  The server certificate is
built here with ``cryptography`` (a trustme dependency) and signed by that CA,
because trustme turns ``"127.0.0.1"`` into an IP SAN only: linphone
(belle-sip/mbedtls) ignores IP SANs and, with a SAN present, the CN, and
reported ``CN-mismatch`` against 127.0.0.1 (measured for issue #15).  So
every IP identity gets **both** ``IP:<addr>`` (what Python's ``ssl`` and
OpenSSL check) and ``DNS:<addr>`` (what mbedtls checks).  Name identities
(``localhost``, ``wrong.example``) become ``DNS:`` entries.  RSA 2048 keys
for both certificates (accepted by every softphone the rig drives).

Files written (PEM): ``ca.pem`` (trust this), ``server.pem`` (the server
certificate alone: there is no intermediate CA, and a server does not send the
root), ``server.key`` (unencrypted, mode 0600).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

__all__ = ["RigPki", "make_rig_pki", "DEFAULT_CERT_HOSTS"]

#: Names the server certificate is issued for unless told otherwise.
DEFAULT_CERT_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class RigPki:
    """Paths (and the CA object) of a generated test PKI."""

    ca: Any  # trustme.CA
    ca_file: Path
    cert_file: Path
    key_file: Path
    hosts: tuple[str, ...]


def _san_entries(hosts: Iterable[str]) -> list:
    from cryptography import x509

    out: list = []
    for host in hosts:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            out.append(x509.DNSName(host))
        else:
            out.append(x509.IPAddress(addr))
            out.append(x509.DNSName(host))  # for mbedtls (linphone), see module doc
    return out


def make_rig_pki(directory: Path | str, hosts: Iterable[str] = DEFAULT_CERT_HOSTS) -> RigPki:
    """Make a fresh CA and a server cert for ``hosts``; write them under ``directory``."""
    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    hosts = tuple(hosts)
    if not hosts:
        raise ValueError("make_rig_pki needs at least one host name")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    ca = trustme.CA(organization_name="callbot test rig", key_type=trustme.KeyType.RSA)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "callbot test rig"),
            x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
        ]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.SubjectAlternativeName(_san_entries(hosts)), critical=False)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False,
                          crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca_file = directory / "ca.pem"
    cert_file = directory / "server.pem"
    key_file = directory / "server.key"
    ca.cert_pem.write_to_path(str(ca_file))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.TraditionalOpenSSL,
                                   serialization.NoEncryption()))
    return RigPki(ca=ca, ca_file=ca_file, cert_file=cert_file, key_file=key_file, hosts=hosts)
