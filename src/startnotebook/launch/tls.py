"""HTTPS for a session's server: a self-signed certificate per session, or the site's.

The self-signed certificate is made once per session (kept in .startnotebook/tls, key 0600) so a
browser's exception for it outlives one launch. It names localhost and 127.0.0.1 (the usual way
in, through an SSH tunnel), this host and the cluster's nodes are not known in advance: users
check the SHA-256 fingerprint the banner prints instead. Every client of ours pins that
fingerprint rather than trusting a CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
from pathlib import Path

from ..errors import ConfigError
from ..sessions.records import write_private

VALID_DAYS = 825


def session_certificate(folder: Path, common_name: str) -> tuple[str, str]:
    """(certificate, key) of the session's own certificate; made if missing."""
    certificate, key = folder / "certificate.pem", folder / "key.pem"
    if certificate.is_file() and key.is_file():
        return str(certificate), str(key)
    folder.mkdir(mode=0o700, exist_ok=True)
    key_pem, certificate_pem = _self_signed(common_name)
    write_private(key, key_pem)
    write_private(certificate, certificate_pem)
    return str(certificate), str(key)


def site_certificate(certificate: Path | None, key: Path | None) -> tuple[str, str]:
    for path, what in ((certificate, "certificate"), (key, "key")):
        if path is None or not path.is_file():
            raise ConfigError(f"the site's TLS {what} {path} does not exist (site setting tls.{what})")
    return str(certificate), str(key)


def _self_signed(common_name: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "startnotebook")])
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.DNSName("localhost"), x509.DNSName(socket.gethostname()),
             x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    key_pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()
