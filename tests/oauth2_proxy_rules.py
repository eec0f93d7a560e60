"""oauth2-proxy v7.15.2's rules for a request that carries a bearer JWT (--skip-jwt-bearer-tokens), transcribed from
its source so tests can ask what the rendered flags let through. Each step names the function it follows."""

from collections.abc import Sequence
from typing import Any


def flag_values(args: Sequence[str], flag: str) -> list[str]:
    return [arg.split("=", 1)[1] for arg in args if arg.startswith(f"--{flag}=")]


def verifying_issuer(args: Sequence[str], claims: dict[str, Any]) -> str | None:
    """The provider's own issuer takes tokens for its client ID; each --extra-jwt-issuers=<issuer>=<audience> pair
    takes tokens for that audience (oauthproxy.go buildSessionChain: the provider's CreateSessionFromToken, then a
    verifier per pair, pkg/validation/options.go newVerifierFromJwtIssuer, on the `aud` claim). None: no verifier accepts it."""
    audiences = claims.get("aud")
    audiences = audiences if isinstance(audiences, list) else [audiences]
    pairs = [(flag_values(args, "oidc-issuer-url")[0], flag_values(args, "client-id")[0])]
    pairs += [(pair.split("=", 1)[0], pair.split("=", 1)[1]) for pair in flag_values(args, "extra-jwt-issuers")]
    return next((issuer for issuer, audience in pairs if claims.get("iss") == issuer and audience in audiences), None)


def email_allowed(email: str, domains: Sequence[str], allowed: Sequence[str]) -> bool:
    """validator.go newValidatorImpl: '*' admits anything; else one '@' and a domain suffix, or a value of the
    authenticated-emails file, both sides lower-cased (UserMap.IsValid, LoadAuthenticatedEmailsFile)."""
    email = email.lower()
    if "*" in domains:
        return True
    if email.count("@") == 1:
        host = email.split("@")[1]
        for domain in (d.lower() for d in domains):
            if email.endswith("@" + domain) or (domain.startswith(".") and host.endswith(domain)) or (
                    domain.startswith("*.") and host.endswith(domain[1:])):
                return True
    return email in {value.strip().lower() for value in allowed}


def bearer_refusal(args: Sequence[str], files: dict[str, str], claims: dict[str, Any]) -> str | None:
    """Why oauth2-proxy refuses a request with this (signature-valid, unexpired) token, or None if it passes.
    `files`: the container's files by path (the --authenticated-emails-file is read from them)."""
    if verifying_issuer(args, claims) is None:
        return "no verifier: unknown issuer or audience"
    # pkg/apis/middleware/session.go CreateTokenToSessionFunc (and providers/oidc.go CreateSessionFromToken):
    # a token without an e-mail gets its sub as the e-mail; email_verified false refuses it, present or not.
    email = claims.get("email") or claims.get("sub") or ""
    if claims.get("email_verified") is False:
        return f"email in id_token ({email}) isn't verified"
    # oauthproxy.go getAuthenticatedSession: the e-mail validator, then the provider's Authorize (the groups).
    allowed = [line for path in flag_values(args, "authenticated-emails-file")
               for line in files[path].splitlines() if line and not line.startswith("#")]
    if email and not email_allowed(email, flag_values(args, "email-domain"), allowed):
        return f"invalid email {email!r}"
    groups = flag_values(args, "allowed-group")
    if groups and not set(groups) & set(claims.get("groups") or []):
        return "unauthorized: no allowed group"  # providers/provider_default.go Authorize
    return None
