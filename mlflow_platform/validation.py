"""Checks shared by stack settings and component Args, so each rule is written once."""

import ipaddress
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import pulumi
from croniter import croniter

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# k8s.io/apimachinery pkg/api/resource/quantity.go: <signedNumber><suffix>, the suffix binary SI, decimal SI or an
# exponent (e/E and a signed integer), the number digits with an optional fraction ("5.", ".5" and "5.5").
_QUANTITY = re.compile(r"(?P<sign>[+-])?(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)"
                       r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[eE](?P<exponent>[+-]?[0-9]+)|m|k|M|G|T|P|E)?")
_SUFFIX_FACTORS = {
    "": Decimal(1), "m": Decimal("0.001"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def parse_quantity(value: str) -> Decimal:
    """A Kubernetes resource quantity as a number (bytes or cores); ValueError if malformed."""
    # Exactly as written: the API server refuses surrounding spaces, which would fail only at apply.
    match = _QUANTITY.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 10Gi, 1e3)")
    if match["sign"] == "-":
        raise ValueError(f"{value!r} is not a Kubernetes quantity a size may be: it is negative")
    try:
        exponent = match["exponent"]
        factor = Decimal(10) ** int(exponent) if exponent is not None else _SUFFIX_FACTORS[match["suffix"] or ""]
        return Decimal(match["number"]) * factor
    except (InvalidOperation, OverflowError) as err:  # an exponent beyond what a Decimal holds
        raise ValueError(f"{value!r} is not a Kubernetes quantity this platform can size") from err


# The distribution reference grammar (github.com/distribution/reference, regexp.go): [domain/]path[:tag][@digest], the
# domain's components alphanumeric with inner '-' (any case), a port, the path's components lower-case alphanumeric
# joined by '.', '_', '__' or '-'s, the tag a word character then up to 127 of [A-Za-z0-9_.-]; the name at most 255.
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(rf"(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
                        r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
                        r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?")


def image_problem(image: str) -> str | None:
    """Why an image reference is not one, or not pinned (a tag other than latest, or a sha256 digest); else None."""
    match = _REFERENCE.fullmatch(image) if isinstance(image, str) else None
    if match is None or len(match["name"]) > 255:
        return (f"{image!r} is not an image reference ([registry/]path[:tag][@sha256:digest], the path in lower case, "
                "the tag of letters, digits, '_', '.' and '-' not starting with '.' or '-')")
    if match["digest"]:
        return None if _DIGEST.search(image) else f"{image!r}: pin a @sha256 digest (64 hex digits)"
    if not match["tag"]:
        return f"{image!r} has no tag; pin a version tag or a @sha256 digest"
    if match["tag"].lower() == "latest":
        return f"{image!r} uses a floating tag; pin a version tag or a @sha256 digest"
    return None


def dns_subdomain_problem(value: str) -> str | None:
    """Why a value cannot be the name of an object Kubernetes names by DNS subdomain (RFC 1123: StorageClass,
    Secret, ...), or None: up to 253 characters of dot-separated labels."""
    if len(value) > 253 or any(dns_label_problem(label) for label in value.split(".")):
        return (f"{value!r} is not a DNS subdomain (lower-case letters, digits, '-' and '.', each part starting and "
                "ending alphanumeric, up to 253 characters)")
    return None


def namespace_problem(value: str) -> str | None:
    """A namespace the platform may create and fill: a DNS label, not one of Kubernetes' own (kube-system,
    kube-public, kube-node-lease: the kube- prefix is reserved for them) nor `default`."""
    if problem := dns_label_problem(value):
        return problem
    if value.startswith("kube-") or value == "default":
        return (f"{value!r} is a namespace of the cluster's own (the kube- prefix is Kubernetes', default everyone's); "
                "the platform declares a default-deny NetworkPolicy there: name one of its own, e.g. mlflow")
    return None


def dns_label_problem(value: str, max_length: int = 63) -> str | None:
    """Why a value cannot be a Kubernetes object name (RFC 1123 label), or None."""
    if len(value) > max_length:
        return f"{value!r} is longer than {max_length} characters"
    if not _DNS_LABEL.fullmatch(value):
        return f"{value!r} must be lower-case letters, digits and '-', starting and ending alphanumeric"
    return None


def bucket_name_problem(value: str) -> str | None:
    """Why a value is not a valid S3 bucket name, or None."""
    if not _BUCKET.fullmatch(value) or ".." in value or re.match(r"^\d+\.\d+\.\d+\.\d+$", value):
        return f"{value!r} is not a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')"
    return None


def cidr_problem(value: str, network: str | None = None) -> str | None:
    """Why a value is not a network in CIDR form (host bits clear), or None. With `network` named, the whole address
    space is refused too: a rule for every address is no rule."""
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return f"{value!r} is not a network in CIDR form like 10.0.0.0/16"
    if network and value in ("0.0.0.0/0", "::/0"):
        return f"{value!r} is everywhere: name {network}"
    return None


def quantity_problem(value: str) -> str | None:
    try:
        parse_quantity(value)
    except ValueError as err:
        return str(err)
    return None


# Names, addresses and identifiers a component may take from another resource (checked when they resolve).

def dns_name_problem(value: str) -> str | None:
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or any(dns_label_problem(label) for label in labels):
        return f"{value!r} is not a DNS name like mlflow.example.com"
    return None


def https_url_problem(value: str) -> str | None:
    """An https URL by its grammar (page_url_problem's: a host, no fragment)."""
    if not value.startswith("https://") or page_url_problem(value):
        return f"{value[:80]!r} is not an https:// URL with a host, like https://accounts.example.com"
    return None


def issuer_url_problem(value: str) -> str | None:
    """An OIDC issuer: https, or http on this machine only (a local test identity provider)."""
    if re.fullmatch(r"http://(localhost|127\.0\.0\.1)(:[0-9]+)?(/\S*)?", value):
        return None
    return https_url_problem(value)


def printable_ascii(value: str, max_length: int) -> bool:
    """1 to max_length printable ASCII characters without spaces (RFC 6749's VSCHAR less the space)."""
    return 1 <= len(value) <= max_length and all("!" <= c <= "~" for c in value)


def program_identity_problem(value: str) -> str | None:
    """What oauth2-proxy compares a program's token by: its e-mail, or its `sub` when it has none (an OIDC `sub` is
    at most 255 ASCII characters, OpenID Connect Core 1.0 section 2). oauth2-proxy reads the list as CSV, one value
    per line, with '#' starting a comment (validator.go, LoadAuthenticatedEmailsFile), so a space, a comma, a quote
    or a leading '#' would turn the value into another one."""
    if (not printable_ascii(value, 255) or set(value) & {",", '"'}
            or value.startswith("#")):
        return (f"{value!r} is not a token's e-mail or sub as oauth2-proxy reads them: 1-255 printable ASCII "
                "characters without spaces, commas or quotes, not starting with '#'")
    return None


# ARNs (AWS IAM User Guide, "IAM identifiers"): arn:partition:service:region:account-id:resource.
_PARTITION = r"aws(?:-cn|-us-gov|-iso(?:-[a-z])?)?"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]"
KMS_KEY_ARN = re.compile(rf"arn:{_PARTITION}:kms:{_REGION}:[0-9]{{12}}:(?:key/(?:[0-9a-f]{{8}}(?:-[0-9a-f]{{4}}){{3}}"
                         r"-[0-9a-f]{12}|mrk-[0-9a-f]{32})|alias/[A-Za-z0-9/_-]{1,256})")


def arn_problem(value: str) -> str | None:
    """A KMS key's ARN (the only ARNs the components take: their kms_key_arn), by the key's or an alias's form."""
    if KMS_KEY_ARN.fullmatch(value):
        return None
    return (f"{value[:100]!r} is not a KMS key ARN like arn:aws:kms:us-east-1:123456789012:key/"
            "1234abcd-12ab-34cd-56ef-1234567890ab (or :alias/<name>)")


SUBNET_ID = re.compile(r"subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})")
ACM_CERTIFICATE_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:acm:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:"
                                 r"certificate/[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")


def subnet_id_problem(value: str) -> str | None:
    """EC2 resource ids are the type's prefix and 8 (before 2016) or 17 lower-case hex digits."""
    return None if SUBNET_ID.fullmatch(value) else f"{value!r} is not a subnet id like subnet-0123456789abcdef0"


def acm_certificate_arn_problem(value: str) -> str | None:
    """arn:<partition>:acm:<region>:<account>:certificate/<uuid> (ACM's ARN format)."""
    return None if ACM_CERTIFICATE_ARN.fullmatch(value) else (
        f"{value!r} is not an ACM certificate ARN like arn:aws:acm:us-east-1:123456789012:certificate/<uuid>")


def database_host_problem(value: str) -> str | None:
    """A host name or an IP address and nothing else: the URI is built from it, so a '?', '/' or '@' would add
    parameters (e.g. sslmode=disable) or change the user."""
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if len(value) > 253 or not all(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", label) for label in labels):
        return f"{value!r} is not a host name or IP address (e.g. pg.internal.example.com or 10.0.12.7)"
    return None


# A Host header pattern as MLflow matches it (--allowed-hosts, fnmatch): a host name, an IPv4 address or a bracketed
# IPv6 one, with '*' wildcards, and an optional port or ':*'.
_HOST_PATTERN = re.compile(r"(\[[0-9A-Fa-f:.*]+\]|[A-Za-z0-9*]([A-Za-z0-9*.-]{0,251}[A-Za-z0-9*])?)(:([0-9]{1,5}|\*))?")


def host_problem(value: str) -> str | None:
    if not _HOST_PATTERN.fullmatch(value):
        return (f"{value[:80]!r} is not a host name or host:port pattern (letters, digits, '.', '-' and '*' wildcards, "
                "up to 253 characters, an optional :port or :*)")
    if re.fullmatch(r"[*.]+(:.*)?", value):
        return (f"{value!r} admits every Host header, which turns MLflow's host check (its DNS-rebinding "
                "protection) off: name the hosts; wildcards like *.example.com work")
    return None


_ORIGIN = re.compile(r"https?://[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?")


def origin_problem(value: str) -> str | None:
    """A browser Origin as MLflow compares it (--cors-allowed-origins): scheme://host[:port], no path."""
    if not _ORIGIN.fullmatch(value):
        return f"{value!r} is not an origin like https://mlflow.example.com (scheme, host and port only)"
    return None


# RFC 3986 (section 3.3, 3.4): a path's and a query's characters, percent-encodings whole.
_PCHAR = r"([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
_PATH_AND_QUERY = re.compile(rf"(/({_PCHAR}|/)*)?(\?({_PCHAR}|[/?])*)?")


def page_url_problem(value: str) -> str | None:
    """A web page to link to, whose sections are added as #fragments: http(s)://host[:port][/path][?query], the host a
    DNS name (each label by its rule) or an IPv4 address, no fragment of its own, at most 2000 characters."""
    what = (f"{value[:80]!r} is not an http(s) URL of a page, like "
            "https://git.example.com/mlflow-platform/docs/monitoring.md")
    match = re.fullmatch(r"https?://([^/?#:]+)(:([0-9]{1,5}))?(.*)", value, re.S)
    if len(value) > 2000 or match is None or not _PATH_AND_QUERY.fullmatch(match.group(4)):
        return what
    host, port = match.group(1), match.group(3)
    ipv4 = re.fullmatch(r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}", host)
    if not ipv4 and (len(host) > 253 or any(dns_label_problem(label.lower()) for label in host.split("."))):
        return what
    if port is not None and not 1 <= int(port) <= 65535:
        return what
    return None


Check = Callable[[str], str | None]


def checked(owner: str, field: str, value: Any, check: Check) -> tuple[Any, str | None]:
    """A value that may be another resource's output: a known one is checked now, at preview (its problem returned);
    an unknown one when it resolves, as the returned Output, which then fails the update with the same message."""
    if value is None or isinstance(value, str):
        return value, None if value is None else check(value)

    def verified(resolved: str) -> str:
        if (problem := check(resolved)) is not None:
            raise ValueError(f"{owner}: {field}: {problem}")
        return resolved

    return pulumi.Output.from_input(value).apply(verified), None


def input_problem(owner: str, args: Any, field: str, check: Check) -> str | None:
    """`checked` for a field of a frozen dataclass, from its __post_init__: an Output is replaced by the checked one."""
    value, problem = checked(owner, field, getattr(args, field), check)
    object.__setattr__(args, field, value)
    return problem


def inputs_problems(owner: str, args: Any, field: str, check: Check) -> list[str]:
    """input_problem for a tuple of such values (e.g. host names), each checked on its own."""
    pairs = [checked(owner, f"{field}[{index}]", value, check) for index, value in enumerate(getattr(args, field))]
    object.__setattr__(args, field, tuple(value for value, _ in pairs))
    return [f"{field}[{index}]: {problem}" for index, (_, problem) in enumerate(pairs) if problem]


def refuse(owner: str, *problems: str | None) -> None:
    """Raise one ValueError listing every problem found (None entries are fine)."""
    found = [p for p in problems if p]
    if found:
        raise ValueError(f"{owner}: " + "; ".join(found))


# Kubernetes reads CronJob schedules with robfig/cron's standard parser (kubernetes pkg/apis/batch/validation,
# cron.ParseStandard): five fields or a descriptor; numbers, '*', ranges, steps, lists, '?' and month/weekday
# names. croniter checks the values (ranges, steps above 0); its own extensions (L, #, H, a seconds field) are
# refused by the shape first.
_CRON_FIELD = re.compile(r"[0-9*/,?-]+|[A-Za-z]{3}([-,][A-Za-z]{3})*")
_CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


# `mlflow gc --older-than`: days, hours, minutes, seconds in that order, each optional (mlflow/cli/__init__.py's
# regex); decimals as numbers, not MLflow's looser [.\d]+, so "1..5d" is refused here rather than by Python's float(), and
# ASCII digits only (MLflow's \d and float() also take other scripts' digits, which no one means to write).
_DURATION = re.compile(r"(?:(?P<days>\d+(?:\.\d+)?)d)?(?:(?P<hours>\d+(?:\.\d+)?)h)?"
                       r"(?:(?P<minutes>\d+(?:\.\d+)?)m)?(?:(?P<seconds>\d+(?:\.\d+)?)s)?", re.ASCII)


def older_than_problem(value: str) -> str | None:
    """MLflow's --older-than grammar, and more than nothing: 0 would purge what was deleted a moment ago."""
    match = _DURATION.fullmatch(value)
    if not value or not match:
        return (f"{value!r} is not a duration mlflow gc reads: days, hours, minutes, seconds in that order, "
                "e.g. 30d or 1d12h")
    if not any(float(part) for part in match.groupdict().values() if part):
        return f"{value!r} is no time at all: gc would purge what was deleted a moment ago"
    return None


def cron_problem(value: str) -> str | None:
    fields = value.split(" ")
    shaped = value in _CRON_DESCRIPTORS or (len(fields) == 5 and all(_CRON_FIELD.fullmatch(f) for f in fields))
    if shaped and croniter.is_valid(value):
        return None
    return (f"{value!r} is not a cron schedule Kubernetes accepts: five fields separated by single spaces, like "
            "'0 3 * * *' (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7, steps above 0), or one of "
            + ", ".join(_CRON_DESCRIPTORS))
