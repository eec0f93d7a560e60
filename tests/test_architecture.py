"""The program's layout: config -> settings -> components -> exports, with no import cycle anywhere.

A backend that imports its component's facade (mlflow_platform/x/__init__.py) while the facade imports
the backend is the cycle this guards against: Args live in args.py, which both import.
"""

import ast
from pathlib import Path

from harness import ROOT

PACKAGES = ("mlflow_platform", "settings")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the project modules it imports explicitly (a package's implicit parent import is not an edge)."""
    files = {module_name(p, root): p for package in packages for p in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:
                    anchor = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
                    base = ".".join([*anchor, node.module])
                # `from package import submodule` imports the submodule; otherwise the module itself.
                targets |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names}
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
        graph[module] = {t for t in targets if t in files and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_program_has_no_import_cycle() -> None:
    graph = import_graph(ROOT)
    assert len(graph) > 30  # every module was read
    assert cycles(graph) == []


def test_the_detector_finds_a_backend_that_imports_its_facade(tmp_path: Path) -> None:
    package = tmp_path / "mlflow_platform" / "store"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from mlflow_platform.store.minio import build\n\nclass StoreArgs: ...\n")
    (package / "minio.py").write_text("from mlflow_platform.store import StoreArgs\n\ndef build(args: StoreArgs) -> None: ...\n")
    assert cycles(import_graph(tmp_path, ("mlflow_platform",))) == [["mlflow_platform.store", "mlflow_platform.store.minio"]]


def test_components_never_read_config_or_settings() -> None:
    """Components take Args; only settings/ reads pulumi.Config."""
    graph = import_graph(ROOT)
    for module, targets in graph.items():
        if module.startswith("mlflow_platform"):
            assert not any(t.startswith("settings") for t in targets), module
    for path in (ROOT / "mlflow_platform").rglob("*.py"):
        assert "pulumi.Config(" not in path.read_text(), path


def test_each_component_is_a_package_and_shared_helpers_live_in_one_place() -> None:
    packages = {p.name for p in (ROOT / "mlflow_platform").iterdir() if (p / "__init__.py").exists()}
    assert packages == {"artifact_bucket", "mlflow_postgres", "mlflow_server", "ingress_sso", "monitoring",
                        "network_policies", "kube"}
    for package in packages - {"kube"}:
        assert (ROOT / "mlflow_platform" / package / "args.py").exists(), package
    loose = {p.name for p in (ROOT / "mlflow_platform").glob("*.py")}
    assert loose == {"__init__.py", "validation.py", "versions.py", "outputs.py", "args.py", "conversion.py", "inputs.py"}
