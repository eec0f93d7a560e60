"""A real OpenID provider on loopback (oidc-provider-mock), minting tokens the way an identity provider does.

Tokens come out of the authorization-code flow (/oauth2/authorize, then /oauth2/token), signed with
the provider's key, discoverable through /.well-known/openid-configuration: nothing is forged here.
Over HTTPS when the stack needs an https:// issuer (ssoIssuerUrl), with a CA of its own the server trusts.
"""

import datetime
import ipaddress
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import oidc_provider_mock
import requests
import werkzeug.serving
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REDIRECT_URI = "http://localhost/callback"


@dataclass(frozen=True)
class IdentityProvider:
    issuer: str
    ca_file: Path | None = None
    """The CA that signed its certificate (https issuers): what a client of it must trust."""

    def token(self, subject: str, audience: str, **claims: Any) -> str:
        """An ID token for `subject` issued to the client `audience`, with these claims."""
        session = requests.Session()
        # Per request: requests lets REQUESTS_CA_BUNDLE override a session's verify.
        verify: str | bool = str(self.ca_file) if self.ca_file else True
        session.put(f"{self.issuer}/users/{subject}", json=claims, timeout=10, verify=verify).raise_for_status()
        params = {"client_id": audience, "redirect_uri": REDIRECT_URI, "response_type": "code", "scope": "openid email"}
        authorized = session.post(f"{self.issuer}/oauth2/authorize", params=params, data={"sub": subject},
                                  allow_redirects=False, timeout=10, verify=verify)
        code = parse_qs(urlsplit(authorized.headers["Location"]).query)["code"][0]
        issued = session.post(f"{self.issuer}/oauth2/token", timeout=10, verify=verify, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": audience, "client_secret": "unused"})
        issued.raise_for_status()
        return str(issued.json()["id_token"])


@contextmanager
def identity_provider(token_lifetime: timedelta = timedelta(hours=1), tls: bool = False) -> Iterator[IdentityProvider]:
    """`tls`: served as https://localhost:<port> with a certificate of a CA made for it (IdentityProvider.ca_file)."""
    with tempfile.TemporaryDirectory() as directory:
        ca_file, context = _tls(Path(directory)) if tls else (None, None)
        with _serving(oidc_provider_mock.app(access_token_max_age=token_lifetime), context) as url:
            yield IdentityProvider(url, ca_file)


@contextmanager
def cloudflare_access_like_provider() -> Iterator[IdentityProvider]:
    """The same provider, publishing its keys where Cloudflare Access publishes a team's:
    <issuer>/cdn-cgi/access/certs (developers.cloudflare.com, "Validate JWTs"), not at a discovered jwks_uri."""
    app = oidc_provider_mock.app()
    app.add_url_rule("/cdn-cgi/access/certs", "cloudflare-certs", app.view_functions["oidc-provider-mock.jwks"])
    with _serving(app, None) as url:
        yield IdentityProvider(url)


@contextmanager
def _serving(app: Any, context: ssl.SSLContext | None) -> Iterator[str]:
    """The app on a loopback port in a thread; its base URL, which is also its issuer (the provider's own host_url)."""
    server = werkzeug.serving.make_server("localhost", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if context else 'http'}://localhost:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def localhost_tls(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA file and a server context for https://localhost, for any other test server on loopback (a model server)."""
    return _tls(directory)


def _tls(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA (written to ca.pem) and a localhost certificate it signed, with the extensions a strict verifier wants."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlflow-platform test identity provider CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
          .not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context
