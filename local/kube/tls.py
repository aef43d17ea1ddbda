"""TLS for the emulator: a one-day CA of its own and the 127.0.0.1/localhost serving certificate it signs."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LIFETIME = dt.timedelta(days=1)
BACKDATE = dt.timedelta(minutes=5)  # tolerate clients whose clock lags a little
# The emulator listens on 127.0.0.1; kubeconfigs and clients may name it either way.
SERVING_NAMES = (x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost"))
CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


@dataclass(frozen=True)
class ServingMaterial:
    """PEM material for one emulator: the CA certificate clients trust, the server's chain and its key."""

    ca_pem: bytes
    chain_pem: bytes  # the server certificate, then the CA certificate
    key_pem: bytes

    @property
    def ca_data(self) -> str:
        """The CA certificate as base64 PEM, as EKS reports it and kubeconfigs carry it."""
        return base64.b64encode(self.ca_pem).decode()


def issue(now: dt.datetime | None = None) -> ServingMaterial:
    """Create a fresh self-signed CA and a serving certificate for 127.0.0.1 and localhost, both valid one day."""
    start = (now or dt.datetime.now(dt.UTC)) - BACKDATE
    until = start + LIFETIME
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(list(SERVING_NAMES)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    return ServingMaterial(
        ca_pem=ca_pem,
        chain_pem=server_cert.public_bytes(serialization.Encoding.PEM) + ca_pem,
        key_pem=server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def server_context(material: ServingMaterial) -> ssl.SSLContext:
    """A TLS 1.2+ server context that presents the material's chain."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # load_cert_chain only reads files: the key touches disk, in a private directory, just for that call.
    with tempfile.TemporaryDirectory(prefix="kube-emulator-") as tmpdir:
        cert_path, key_path = os.path.join(tmpdir, "server.crt"), os.path.join(tmpdir, "server.key")
        with open(cert_path, "wb") as handle:
            handle.write(material.chain_pem)
        with open(key_path, "wb") as handle:
            handle.write(material.key_pem)
        context.load_cert_chain(cert_path, key_path)
    return context
