"""What well-known OpenID providers put in their ID tokens, from their discovery documents' claims_supported.

A setting that depends on a claim the provider never sends (e.g. groups from Google) would silently match nobody:
no admin, or nobody allowed in. Those are refused at preview with the provider named.
"""

PROVIDER_CLAIMS: dict[str, tuple[str, tuple[str, ...]]] = {
    # https://accounts.google.com/.well-known/openid-configuration, claims_supported (Google OpenID Connect API
    # reference, developers.google.com/identity/openid-connect/reference): no groups. Google Workspace groups need
    # oauth2-proxy's google provider with a service account (Admin SDK), not OIDC claims.
    "https://accounts.google.com": ("Google", ("aud", "email", "email_verified", "family_name", "given_name", "iat",
                                               "iss", "locale", "name", "picture", "sub", "hd", "exp")),
}


def missing_claim(issuer: str, claim: str) -> str | None:
    """The provider's name when its ID tokens never carry `claim`; None when they may, or it is not a known one."""
    provider = PROVIDER_CLAIMS.get(issuer.rstrip("/"))
    return provider[0] if provider and claim not in provider[1] else None
