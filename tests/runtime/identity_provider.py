"""A real OpenID provider on loopback (oidc-provider-mock), minting tokens the way an identity provider does.

Tokens come out of the authorization-code flow (/oauth2/authorize, then /oauth2/token), signed with
the provider's key, discoverable through /.well-known/openid-configuration: nothing is forged here.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
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
