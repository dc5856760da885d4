"""A throw-away certificate so the simulator can speak HTTPS, the scheme production uses.

Tests then exercise the client's real TLS path (``verify`` pointed at a CA bundle) instead of the
plain-HTTP loopback exception. ``cryptography`` is imported only here, only when TLS is asked for.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

#: The names every certificate carries: the simulator always listens on loopback.
DEFAULT_NAMES = ("127.0.0.1", "localhost")


def write_self_signed(directory: Path, extra_names: Iterable[str] = ()) -> tuple[Path, Path]:
    """Write ``cert.pem`` (also the CA bundle clients trust) and ``key.pem`` for 127.0.0.1/localhost.

    ``extra_names`` (host names or IP addresses) are added to the certificate, so clients that reach
    the simulator under another name -- a compose service name -- can verify it.
    """
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError as exc:  # pragma: no cover - cryptography ships with Airflow and moto
        raise RuntimeError(
            "SimulatorConfig(tls=True) needs the 'cryptography' package: pip install cryptography"
        ) from exc

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Netskope tenant simulator")])
    now = datetime.now(UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [_general_name(x509, name) for name in _unique((*DEFAULT_NAMES, *extra_names))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    # Key first, certificate last, each replaced atomically: a reader polling a shared folder for
    # cert.pem never sees a half-written file or a certificate without its key.
    _write_atomically(
        key_path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        mode=0o600,
    )
    _write_atomically(cert_path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert_path, key_path


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(name.strip().lower() for name in names if name.strip()))


def _general_name(x509, name: str):
    """An IP address SAN for an address, a DNS SAN otherwise (clients match IPs only against IP SANs)."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(partial, mode)  # O_CREAT's mode is reduced by the umask
    os.replace(partial, path)


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context
