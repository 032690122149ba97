"""The dependency rule (DESIGN.md, "Layout"): app.py -> stacks -> components, config read by app.py and stacks.

No stack module imports another; components never import stacks, and see
config only through its types and constants, never its validators or loader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a component may take from config: settings types and constants, nothing that validates or loads.
COMPONENT_CONFIG = {"config.constants", "config.placeholders", "config.instance_memory"}
CONFIG_TYPES_ONLY = (
    "config.settings", "config.network", "config.data", "config.app", "config.dr", "config.eks", "config.tls", "config.types",
    "config.audit",
    "config.ops",
)  # fmt: skip


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def violations(path: Path, root: Path = ROOT) -> list[str]:
    folder = path.relative_to(root).parts[0]
    problems = []
    for module, names in imports(path):
        if folder == "stacks" and module.startswith("stacks"):
            problems.append(f"{path.name} imports the stack module {module}")
        if folder == "components" and (module == "stacks" or module.startswith("stacks.")):
            problems.append(f"{path.name} imports the stack module {module}")
        if folder == "components" and (module == "config" or module.startswith("config.")):
            if module in COMPONENT_CONFIG or (module == "config" and names == ["constants"]):
                continue
            # A settings model is a type; a function is a validator or the loader.
            wrong = [n for n in names if not n[:1].isupper()] if module in CONFIG_TYPES_ONLY else [module]
            if wrong:
                problems.append(f"{path.name} takes {', '.join(wrong)} from {module}: components see config's types only")
    return problems


@pytest.mark.parametrize("folder", ["stacks", "components"])
def test_the_dependency_rule_holds(folder: str) -> None:
    problems = [p for path in modules(folder) for p in violations(path)]
    assert problems == []


def test_the_rule_catches_what_it_forbids(tmp_path: Path) -> None:
    # The check itself must be able to fail: a stack importing a stack, a component a validator and a stack.
    (tmp_path / "stacks").mkdir()
    (tmp_path / "components").mkdir()
    stack = tmp_path / "stacks" / "probe.py"
    component = tmp_path / "components" / "probe.py"
    stack.write_text("from stacks.network import NetworkStack\n")
    component.write_text("from config.settings import VolumeSpec, validate_io1\nfrom stacks import network\n")
    assert violations(stack, tmp_path) == ["probe.py imports the stack module stacks.network"]
    assert violations(component, tmp_path) == [
        "probe.py takes validate_io1 from config.settings: components see config's types only",
        "probe.py imports the stack module stacks",
    ]


def test_tests_share_helpers_through_helper_modules_never_through_other_test_files() -> None:
    crossing = [
        f"{path.name} imports {module}"
        for path in sorted((ROOT / "tests").glob("*.py"))
        for module, _ in imports(path)
        if module.startswith("tests.test_")
    ]
    assert crossing == []
