"""Where code lives: dependencies point one way (catalog <- interfaces <- engines <- dao), no import
circle between modules, no module over about 600 lines, and heavy libraries imported lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "spark_dao"
MAX_LINES = 620

#: layer of each sub-package; a module may import only from its own layer or lower ones
LAYERS = {"errors": 0, "_redact": 0, "catalog": 1, "interfaces": 2, "engines": 3, "testing": 5}
TOP = 4  # dao.py, registry.py, cli.py, _data.py, _call_args.py, __init__.py
# spark_dao.testing (test helpers users import, e.g. the Redshift test server) sits above everything:
# it may use any part of spark_dao, and nothing in spark_dao may import it


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], TOP) if len(parts) > 1 else TOP


def top_level_imports(path: Path) -> set[str]:
    """spark_dao modules imported when ``path`` is imported (module level, not inside functions or
    ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Try):
                visit(node.body)
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("spark_dao"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("spark_dao"):
                    continue
                # "from . import x" names a module when x is one
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    sub = ROOT / Path(*candidate.split("."))
                    found.add(candidate if sub.with_suffix(".py").exists() or sub.is_dir() else target)

    visit(tree.body)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_no_module_is_over_about_600_lines() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these along their seams: {long}"


def test_dependencies_point_one_way() -> None:
    wrong = []
    for module, path in MODULES.items():
        for imported in top_level_imports(path):
            if imported.startswith("spark_dao.") and layer(imported) > layer(module):
                wrong.append(f"{module} imports {imported}")
    assert wrong == []


def test_no_import_circle_between_modules() -> None:
    graph = {m: {i for i in top_level_imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    # a package's __init__ re-exporting its modules is not a circle: drop edges into a package init
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    graph = {m: {i for i in deps if i not in packages} for m, deps in graph.items()}
    seen: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in seen:
                walk(nxt, stack + [nxt])
        seen[node] = 2

    for module in sorted(graph):
        if module not in seen:
            walk(module, [module])
    assert cycles == []


@pytest.mark.parametrize("heavy", ["pyspark", "boto3", "botocore", "pandas", "yaml"])
def test_importing_the_package_does_not_import_heavy_libraries(heavy: str) -> None:
    code = (
        "import sys, spark_dao, spark_dao.interfaces.files, spark_dao.interfaces.objects, spark_dao.catalog; "
        "from spark_dao import DataAccessObject; "
        f"print({heavy!r} in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False", f"importing spark_dao imported {heavy}"


def test_the_checks_see_a_real_violation(tmp_path: Path) -> None:
    """The graph builder finds imports (else every check above would pass vacuously)."""
    files = top_level_imports(PACKAGE / "interfaces" / "files.py")
    assert {"spark_dao.interfaces.base", "spark_dao.interfaces._publish", "spark_dao.catalog.model"} <= files
    assert layer("spark_dao.interfaces.files") == 2 and layer("spark_dao.catalog.loader") == 1
    assert layer("spark_dao.dao") == TOP
    assert layer("spark_dao.testing.redshift") > TOP
