"""Vendors the schemas of the custom resources the stacks declare, for tests/test_custom_resource_schemas.py.

Each served version's openAPIV3Schema of the kinds in SOURCES, read from the upstream CRD YAML at a pinned tag
(and commit: a moved tag is refused), is written as JSON to tests/crd_schemas/<source>-<tag>/<group>_<kind>_<version>.json,
and tests/crd_schemas/SOURCES.json records where each came from (repo, tag, commit, path, sha256 of the CRD file).
Descriptions are dropped (the CRD file, found by its sha256, has them); everything else, CEL rules included, is kept.

It reads local git clones, never the network: `--mirrors DIR` (default $CRD_SCHEMA_MIRRORS, else /work/.mirror)
holds `<owner>+<name>/repo`, `<owner>+<name>` or `<name>`, a bare or a plain clone that has the tags.

    python -m tools.crd_schemas          # rewrite tests/crd_schemas/ (then review the diff)
    python -m tools.crd_schemas --check  # exit 1 if tests/crd_schemas/ differs from the sources; skipped without mirrors

A maintainer's tool, not a CI step: CI has no mirrors, and the tests read only the vendored files.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "crd_schemas"
MANIFEST = OUT / "SOURCES.json"
DEFAULT_MIRRORS = Path(os.environ.get("CRD_SCHEMA_MIRRORS", "/work/.mirror"))

GATEWAY_API_FILES = ("config/crd/standard/gateway.networking.k8s.io_gateways.yaml",
                     "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml")
GATEWAY_API_KINDS = (("gateway.networking.k8s.io", "Gateway"), ("gateway.networking.k8s.io", "HTTPRoute"))


@dataclass(frozen=True)
class Source:
    name: str
    """The directory prefix: tests/crd_schemas/<name>-<tag>/."""
    repo: str
    tag: str
    commit: str
    """What the tag pointed to when vendored; a tag that has moved since is an error, not a silent update."""
    paths: tuple[str, ...]
    kinds: tuple[tuple[str, str], ...]
    """(group, kind): every served version of each is written; a kind missing from the files is an error."""

    @property
    def directory(self) -> str:
        return f"{self.name}-{self.tag}"


SOURCES = (
    # The oldest Gateway API the platform supports: what NGINX Gateway Fabric v2.6.7 is built on (its go.mod, and
    # config/crd/gateway-api/standard/kustomization.yaml installs v1.5.1). Standard channel: what clusters install.
    Source("gateway-api", "kubernetes-sigs/gateway-api", "v1.5.1", "e7677b70ae75d14a4448fba94870e7deea6cf0ad",
           GATEWAY_API_FILES, GATEWAY_API_KINDS),
    # The newest: AWS Load Balancer Controller v3.5.0 is built against v1.6.0 (go.mod); v1.6.1 is its patch release.
    Source("gateway-api", "kubernetes-sigs/gateway-api", "v1.6.1", "8bb74df00e56ec8f944d48c25e6c1c9c2f6848e3",
           GATEWAY_API_FILES, GATEWAY_API_KINDS),
    Source("nginx-gateway-fabric", "nginx/nginx-gateway-fabric", "v2.6.7", "5e34a17a8f7787e90f41d1af91258a556f0795b4",
           ("deploy/crds.yaml",),
           (("gateway.nginx.org", "ClientSettingsPolicy"), ("gateway.nginx.org", "ProxySettingsPolicy"))),
    # What the Monitoring component declares; the operator's release of 2026-07-28 (kube-prometheus-stack installs
    # the same CRD files from this directory's release).
    Source("prometheus-operator", "prometheus-operator/prometheus-operator", "v0.93.0",
           "f8fafd475f3d132e239432ae6172de60a6cb6516",
           ("example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
            "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"),
           (("monitoring.coreos.com", "ServiceMonitor"), ("monitoring.coreos.com", "PrometheusRule"))),
    # The same CRDs as config/crd/gateway/gateway-crds.yaml and the Helm chart's crds/gateway-crds.yaml (identical).
    Source("aws-load-balancer-controller", "kubernetes-sigs/aws-load-balancer-controller", "v3.5.0",
           "11eb202c97e4ae2ee45e0658c4cde9a4b59f33d4",
           ("config/crd/gateway/gateway.k8s.aws_loadbalancerconfigurations.yaml",
            "config/crd/gateway/gateway.k8s.aws_targetgroupconfigurations.yaml"),
           (("gateway.k8s.aws", "LoadBalancerConfiguration"), ("gateway.k8s.aws", "TargetGroupConfiguration"))),
)


class MissingMirrorError(Exception):
    pass


def git_dir(mirrors: Path, repo: str) -> Path:
    owner, name = repo.split("/")
    for candidate in (mirrors / f"{owner}+{name}" / "repo", mirrors / f"{owner}+{name}", mirrors / name):
        if candidate.is_dir():
            return candidate
    raise MissingMirrorError(f"no clone of {repo} under {mirrors} (looked for {owner}+{name}/repo, {owner}+{name}, {name})")


def git(directory: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, check=True).stdout


def without_descriptions(schema: Any) -> Any:
    """The schema without its `description` keywords; a property that happens to be named "description" stays."""
    if isinstance(schema, list):
        return [without_descriptions(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key in ("properties", "patternProperties", "definitions"):
            result[key] = {name: without_descriptions(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            result[key] = without_descriptions(value)
        else:
            # enum, default, example, x-kubernetes-validations, ...: values, not schemas.
            result[key] = value
    return result


def generate(source: Source, mirrors: Path) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """{relative file name: schema} and {relative file name: where it came from} for one source."""
    directory = git_dir(mirrors, source.repo)
    commit = git(directory, "rev-parse", f"{source.tag}^{{commit}}").decode().strip()
    if commit != source.commit:
        raise SystemExit(f"{source.repo} {source.tag} is {commit} in {directory}, not the pinned {source.commit}: "
                         "review the upstream change and update SOURCES")
    schemas: dict[str, Any] = {}
    origins: dict[str, dict[str, str]] = {}
    wanted = set(source.kinds)
    for path in source.paths:
        text = git(directory, "show", f"{commit}:{path}")
        digest = hashlib.sha256(text).hexdigest()
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        for document in yaml.load_all(text, Loader=loader):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            spec = document["spec"]
            key = (spec["group"], spec["names"]["kind"])
            if key not in wanted:
                continue
            wanted.discard(key)
            for version in spec["versions"]:
                if not version.get("served"):
                    continue
                name = f"{source.directory}/{key[0]}_{key[1]}_{version['name']}.json"
                schemas[name] = without_descriptions(version["schema"]["openAPIV3Schema"])
                origins[name] = {"repo": source.repo, "tag": source.tag, "commit": commit, "path": path,
                                 "sha256": digest}
    if wanted:
        raise SystemExit(f"{source.repo} {source.tag}: no CRD for {sorted(wanted)} in {list(source.paths)}")
    return schemas, origins


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def expected(mirrors: Path) -> dict[str, str]:
    """Every file under tests/crd_schemas/ as it should be: relative name -> text."""
    files: dict[str, str] = {}
    origins: dict[str, dict[str, str]] = {}
    for source in SOURCES:
        schemas, found = generate(source, mirrors)
        files.update({name: dump(schema) for name, schema in schemas.items()})
        origins.update(found)
    files["SOURCES.json"] = dump(origins)
    return files


def present() -> dict[str, str]:
    if not OUT.is_dir():
        return {}
    return {str(p.relative_to(OUT)): p.read_text() for p in sorted(OUT.rglob("*.json"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare tests/crd_schemas/ with the sources; write nothing")
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help="directory of local git clones")
    args = parser.parse_args(argv)
    try:
        files = expected(args.mirrors)
    except MissingMirrorError as missing:
        if args.check:
            print(f"crd_schemas --check SKIPPED: {missing}; nothing was compared", file=sys.stderr)
            return 0
        print(f"crd_schemas: {missing}", file=sys.stderr)
        return 2
    current = present()
    if args.check:
        stale = sorted(name for name in files.keys() | current.keys() if files.get(name) != current.get(name))
        for name in stale:
            state = "missing" if name not in current else "not generated" if name not in files else "differs"
            print(f"tests/crd_schemas/{name}: {state}", file=sys.stderr)
        if stale:
            print("run python -m tools.crd_schemas and review the diff", file=sys.stderr)
        return 1 if stale else 0
    for name in current.keys() - files.keys():
        (OUT / name).unlink()
    for name, text in files.items():
        target = OUT / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if current.get(name) != text:
            target.write_text(text)
    for directory in OUT.iterdir():
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    print(f"wrote {len(files)} files under {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
