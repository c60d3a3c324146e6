"""No private (``_name``) names across packages: a capability asks another (or core)
through its public functions. import-linter sees modules, not names, so this reads the
source: ``from x import _y`` and ``alias._y`` where ``alias`` is a module of another
package (a capability, or core)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHALICELIB = ROOT / "chalicelib"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str) -> str:
    """chalicelib.tags.service -> chalicelib.tags (core counts as one package)."""
    return ".".join(module.split(".")[:2])


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def private_reaches(source: str, module: str, is_package: bool = False) -> list[str]:
    own = _package(module)
    tree = ast.parse(source, module)
    foreign: dict[str, str] = {}  # local alias -> module of another package
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            origin = _resolve(module, is_package, node)
            for alias in node.names:
                target = f"{origin}.{alias.name}"
                if not target.startswith("chalicelib.") or _package(target) == own:
                    continue
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{module}:{node.lineno} imports {target}")
                foreign[alias.asname or alias.name] = target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("chalicelib.") and _package(alias.name) != own and alias.asname:
                    foreign[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in foreign
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{module}:{node.lineno} uses {foreign[node.value.id]}.{node.attr}")
    return found


def test_given_every_module_then_none_reaches_into_another_packages_private_names() -> None:
    reaches = [r for path in sorted(CHALICELIB.rglob("*.py"))
               for r in private_reaches(path.read_text(), _module_name(path), path.name == "__init__.py")]
    assert reaches == []


def test_given_a_private_reach_then_the_check_names_it() -> None:
    # the check itself: the three reaches it was written for are found
    sample = ("from ..core.table import cursor\nfrom ..segments.filters import _compare\n"
              "def f():\n    from ..tags import service as tags\n"
              "    return tags._user_tag, cursor._secret(), tags.public\n")
    found = private_reaches(sample, "chalicelib.journeys._probe_private_reach")
    assert found == [
        "chalicelib.journeys._probe_private_reach:2 imports chalicelib.segments.filters._compare",
        "chalicelib.journeys._probe_private_reach:5 uses chalicelib.tags.service._user_tag",
        "chalicelib.journeys._probe_private_reach:5 uses chalicelib.core.table.cursor._secret",
    ]
