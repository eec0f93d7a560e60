"""A real OpenID provider on loopback (oidc-provider-mock), minting tokens the way an identity provider does.

Tokens come out of the authorization-code flow (/oauth2/authorize, then /oauth2/token), signed with
the provider's key, discoverable through /.well-known/openid-configuration: nothing is forged here.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import oidc_provider_mock
import requests
import werkzeug.serving
from oidc_provider_mock import run_server_in_thread

REDIRECT_URI = "http://localhost/callback"


@dataclass(frozen=True)
class IdentityProvider:
    issuer: str

    def token(self, subject: str, audience: str, **claims: Any) -> str:
        """An ID token for `subject` issued to the client `audience`, with these claims."""
        session = requests.Session()
        session.put(f"{self.issuer}/users/{subject}", json=claims, timeout=10).raise_for_status()
        params = {"client_id": audience, "redirect_uri": REDIRECT_URI, "response_type": "code", "scope": "openid email"}
        authorized = session.post(f"{self.issuer}/oauth2/authorize", params=params, data={"sub": subject},
                                  allow_redirects=False, timeout=10)
        code = parse_qs(urlsplit(authorized.headers["Location"]).query)["code"][0]
        issued = session.post(f"{self.issuer}/oauth2/token", timeout=10, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": audience, "client_secret": "unused"})
        issued.raise_for_status()
        return str(issued.json()["id_token"])


@contextmanager
def identity_provider(token_lifetime: timedelta = timedelta(hours=1)) -> Iterator[IdentityProvider]:
    with run_server_in_thread(access_token_max_age=token_lifetime) as server:
        yield IdentityProvider(f"http://localhost:{server.server_port}")


@contextmanager
def cloudflare_access_like_provider() -> Iterator[IdentityProvider]:
    """The same provider, publishing its keys where Cloudflare Access publishes a team's:
    <issuer>/cdn-cgi/access/certs (developers.cloudflare.com, "Validate JWTs"), not at a discovered jwks_uri."""
    app = oidc_provider_mock.app()
    app.add_url_rule("/cdn-cgi/access/certs", "cloudflare-certs", app.view_functions["oidc-provider-mock.jwks"])
    server = werkzeug.serving.make_server("localhost", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield IdentityProvider(f"http://localhost:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
