# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A private CA, a server certificate for 127.0.0.1 and a client certificate, as PEM
files, made with the `cryptography` package (ansible-core's own dependency).

    files = make_tls_files(folder)   # TlsFiles: ca, server_cert, server_key, client_cert, client_key
"""

from __future__ import annotations

import collections
import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TlsFiles = collections.namedtuple("TlsFiles", "ca server_cert server_key client_cert client_key")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, subject_key, issuer, issuer_key, *, ca=False, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer).public_key(subject_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    # The key identifiers and the CA's key usage: Python 3.13 verifies with X.509 strict
    # checks (ssl.VERIFY_X509_STRICT), which refuse a chain without them.
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False)
    if issuer != subject:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True)
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, certificate=None, key=None) -> str:
    if certificate is not None:
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(path)


def make_tls_files(folder: Path) -> TlsFiles:
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(_name("fleetimage test CA"), ca_key, _name("fleetimage test CA"), ca_key, ca=True)
    server = _certificate(_name("127.0.0.1"), server_key, ca.subject, ca_key,
                          san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client = _certificate(_name("fleet client"), client_key, ca.subject, ca_key)
    return TlsFiles(
        ca=_write(folder / "ca.pem", certificate=ca),
        server_cert=_write(folder / "server.pem", certificate=server),
        server_key=_write(folder / "server.key", key=server_key),
        client_cert=_write(folder / "client.pem", certificate=client),
        client_key=_write(folder / "client.key", key=client_key),
    )
