"""TLS for the listener: a server context, from given files or a generated certificate.

A generated certificate is a self-signed ECDSA P-256 certificate for
``localhost``, ``127.0.0.1`` and ``::1`` (and the sink's hostname).  It is
written to a folder whose path is printed at start-up, so a client that wants
to verify the server can trust ``cert.pem`` as its CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertificateFiles:
    """Paths of a PEM certificate and its private key."""

    cert: Path
    key: Path


def generate_certificate(
    folder: str | Path | None = None, hostname: str = "mailsink"
) -> CertificateFiles:
    """Write a new self-signed certificate and key to ``folder`` and return their paths."""
    target = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="mailsink-tls-"))
    target.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailsink test certificate")])
    now = datetime.datetime.now(datetime.timezone.utc)
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    if hostname and hostname != "localhost":
        names.append(x509.DNSName(hostname))
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = CertificateFiles(target / "cert.pem", target / "key.pem")
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def server_context(files: CertificateFiles) -> ssl.SSLContext:
    """Return a server-side TLS context that does not ask clients for certificates."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(files.cert), str(files.key))
    return context
