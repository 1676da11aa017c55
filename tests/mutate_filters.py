"""Mutation testing of the filter functions in ``spark_dao/interfaces/filters.py`` (mutmut 3 can only
mutate whole files; this mutates one function at a time and runs only the filter tests).

    PYSPARK_PYTHON=$PWD/.venv/bin/python .venv/bin/python tests/mutate_filters.py [--spark] [--list]

Each mutant changes one operator, constant or condition inside one target function, is written
over the source file, the filter tests run (``-x``), and the file is restored (always, also on
Ctrl-C). A mutant is killed when the tests fail. Prints the score and every survivor.
"""

from __future__ import annotations

import argparse
import ast
import copy
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: (file, top-level names (functions or assignments) to mutate, which tests reach them: "fast", "spark"
#: (only with --spark) or "both" (the operator table: its Spark column runs only with --spark))
TARGETS = [
    ("spark_dao/interfaces/filters.py", ["OPERATORS"], "both"),
    ("spark_dao/interfaces/filters.py",
     ["validate", "matches", "coerce", "arrow_mask", "filter_table", "quote_ident", "to_sql"], "fast"),
    ("spark_dao/interfaces/filters.py", ["from_spark", "spark_column"], "spark"),
]
FAST_TESTS = ["tests/test_filters.py", "tests/test_pruning.py", "tests/test_local_engine.py", "tests/test_files_interface.py"]
FAST_K = "not spark and (filter or prun or boundary or reference or conjunction or comparison or partition)"

CMP_SWAPS = {
    ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt, ast.GtE], ast.Gt: [ast.GtE, ast.Lt], ast.GtE: [ast.Gt, ast.LtE],
    ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq], ast.Is: [ast.IsNot], ast.IsNot: [ast.Is],
    ast.In: [ast.NotIn], ast.NotIn: [ast.In],
}
PC_SWAPS = {"less": "less_equal", "less_equal": "less", "greater": "greater_equal", "greater_equal": "greater",
            "equal": "not_equal", "not_equal": "equal", "is_null": "is_valid", "is_valid": "is_null",
            "and_": "or_", "or_": "and_"}


def _mark_skipped(root: ast.AST) -> None:
    """Error messages (f-string parts) and docstrings are not mutated: only logic is."""
    for sub in ast.walk(root):
        if isinstance(sub, ast.JoinedStr):
            for part in ast.walk(sub):
                part._dao_skip = True  # type: ignore[attr-defined]
        if isinstance(sub, ast.Expr) and isinstance(sub.value, ast.Constant):
            sub.value._dao_skip = True  # type: ignore[attr-defined]


def own_sites(sub: ast.AST) -> list[tuple[str, object]]:
    """(description, action) for the mutation points of ``sub`` itself (not its children)."""
    if getattr(sub, "_dao_skip", False):
        return []
    out: list[tuple[str, object]] = []
    if isinstance(sub, ast.Compare):
        for i, op in enumerate(sub.ops):
            for new in CMP_SWAPS.get(type(op), []):
                out.append((f"line {sub.lineno}: {type(op).__name__} -> {new.__name__}",
                            lambda n, i=i, new=new: n.ops.__setitem__(i, new())))
    elif isinstance(sub, ast.BoolOp):
        new_op = ast.Or if isinstance(sub.op, ast.And) else ast.And
        out.append((f"line {sub.lineno}: {type(sub.op).__name__} -> {new_op.__name__}",
                    lambda n, new_op=new_op: setattr(n, "op", new_op())))
    elif isinstance(sub, ast.UnaryOp) and isinstance(sub.op, ast.Not):
        out.append((f"line {sub.lineno}: drop 'not'", "drop_not"))
    elif isinstance(sub, ast.Constant):
        v = sub.value
        new_v: object = None
        if isinstance(v, bool):
            new_v = not v
        elif isinstance(v, int | float):
            new_v = v + 1
        elif isinstance(v, str) and v:
            new_v = f"XX{v}XX"
        if new_v is not None:
            out.append((f"line {sub.lineno}: {v!r} -> {new_v!r}", lambda n, new_v=new_v: setattr(n, "value", new_v)))
    elif isinstance(sub, ast.Attribute) and sub.attr in PC_SWAPS and isinstance(sub.value, ast.Name):
        out.append((f"line {sub.lineno}: {sub.value.id}.{sub.attr} -> {PC_SWAPS[sub.attr]}",
                    lambda n: setattr(n, "attr", PC_SWAPS[n.attr])))
    elif isinstance(sub, ast.Continue):
        out.append((f"line {sub.lineno}: continue -> break", "continue_break"))
    return out


def mutants(source: str, names: list[str]) -> Iterator[tuple[str, str]]:
    """(description, mutated source) for every mutant of the named top-level definitions."""
    tree = ast.parse(source)
    _mark_skipped(tree)
    lines = source.splitlines(keepends=True)
    for top in tree.body:
        target = top.targets[0] if isinstance(top, ast.Assign) else getattr(top, "target", None)
        name = getattr(top, "name", None) or (target.id if isinstance(target, ast.Name) else None)
        if name not in names:
            continue
        count = sum(len(own_sites(sub)) for sub in ast.walk(top))
        for k in range(count):
            node = copy.deepcopy(top)  # keeps the _dao_skip marks; ast.walk order is the same
            seen = 0
            for sub in ast.walk(node):
                here = own_sites(sub)
                if k < seen + len(here):
                    desc, action = here[k - seen]
                    break
                seen += len(here)
            if action == "drop_not":
                _replace(node, sub, sub.operand)
            elif action == "continue_break":
                _replace(node, sub, ast.Break())
            else:
                action(sub)  # type: ignore[operator]
            ast.fix_missing_locations(node)
            new = "".join(lines[: top.lineno - 1]) + ast.unparse(node) + "\n" + "".join(lines[top.end_lineno:])
            yield f"{name} {desc}", new


def _replace(root: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(root):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list) and any(v is old for v in value):
                value[[i for i, v in enumerate(value) if v is old][0]] = new
                return
    raise LookupError("node not found")


def run_tests(spark: bool) -> bool:
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *FAST_TESTS, "-k", FAST_K]
    if spark:
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "tests/test_pruning.py",
               "tests/test_filters.py", "-k", "spark"]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spark", action="store_true", help="also mutate the Spark-only filter functions")
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    args = parser.parse_args()
    if not args.list and not run_tests(False):
        print("the filter tests fail on the unmutated code; fix that first")
        return 2
    killed, survivors, total = 0, [], 0
    for rel, names, reached_by in TARGETS:
        if reached_by == "spark" and not args.spark:
            continue
        path = ROOT / rel
        original = path.read_text()
        try:
            for desc, mutated in mutants(original, names):
                total += 1
                if args.list:
                    print(f"{rel}: {desc}")
                    continue
                path.write_text(mutated)
                start = time.monotonic()
                dead = (reached_by != "spark" and not run_tests(False)) or (
                    reached_by != "fast" and args.spark and not run_tests(True))
                killed += dead
                if not dead:
                    survivors.append(f"{rel}: {desc}")
                print(f"{'killed  ' if dead else 'SURVIVED'} {rel}: {desc} ({time.monotonic() - start:.1f}s)",
                      flush=True)
        finally:
            path.write_text(original)
    if not args.list:
        print(f"\nscore: {killed}/{total} killed")
        for s in survivors:
            print(f"  survivor: {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
