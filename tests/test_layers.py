"""The import direction of DESIGN.md: ``fingerprint`` and ``storage`` beneath everything,
``client`` beneath the harvester, and the wire parsers loadable without the client."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("fingerprint", "storage", "client", "harvester")


def _loaded_after(statement: str) -> set[str]:
    """The top-level and project modules a fresh interpreter has after ``statement``."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


def _imports(path: Path) -> set[str]:
    """The absolute modules a source file imports (relative ones resolved in its package)."""
    package = path.relative_to(ROOT).parent.as_posix().replace("/", ".")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join([*base, node.module] if node.module else base))
            else:
                found.add(node.module or "")
    return found


def _project_packages(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imports(path)} & set(PROJECT)


def test_import_fingerprint_loads_no_client_browser_or_database() -> None:
    loaded = _loaded_after("import fingerprint")
    heavy = {"curl_cffi", "nodriver", "aiosqlite", "client", "harvester", "storage"}
    assert not {m.split(".")[0] for m in loaded} & heavy
    assert not [m for m in loaded if m.startswith("client.providers")]
    assert "hpack" in loaded  # its one third-party dependency


def test_the_tests_proxy_does_not_load_the_client() -> None:
    loaded = _loaded_after("import tests.emulators.proxy")
    assert "fingerprint" in loaded
    assert not {m.split(".")[0] for m in loaded} & {"client", "curl_cffi", "harvester"}


@pytest.mark.parametrize(
    ("package", "allowed"),
    [
        ("fingerprint", set()),
        ("storage", set()),
        ("client", {"fingerprint", "storage"}),
        ("harvester", {"fingerprint", "storage", "client"}),
    ],
)
def test_each_package_imports_only_the_layers_beneath(package: str, allowed: set[str]) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(_project_packages(path) - allowed - {package})
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert not {path: names for path, names in wrong.items() if names}


def test_the_fingerprint_endpoint_does_not_import_the_client() -> None:
    endpoint = ROOT / "harvester" / "_endpoint.py"
    assert _project_packages(endpoint) == {"fingerprint"}
    assert not {m for m in _imports(endpoint) if m.startswith("harvester.")}


def test_fingerprint_imports_no_third_party_package_but_hpack() -> None:
    stdlib = sys.stdlib_module_names
    for path in (ROOT / "fingerprint").rglob("*.py"):
        outside = {
            name.split(".")[0]
            for name in _imports(path)
            if not name.startswith("fingerprint") and name.split(".")[0] not in stdlib
        }
        assert outside <= {"hpack", "__future__"}, f"{path.name} imports {outside}"
