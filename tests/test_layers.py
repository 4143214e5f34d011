"""The packages' layering (DESIGN.md section 3), read from the imports in the source.

- handler code (election/lambdas) imports only the standard library, boto3/botocore and itself: it is
  zipped alone;
- ops never imports the CLI, Click or the local runtime (the local runtime may drive ops: `demo`);
- the local runtime never imports the CLI;
- every package imports on its own, in a fresh interpreter (no cycle that only works in one order).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "election"
STDLIB = set(sys.stdlib_module_names)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included), absolute names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, f"{path}: a relative import hides its layer; import absolutely"
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)   # `from election import cli` is election.cli
    return found


def _modules(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


def _offending(package: str, allowed: Callable[[str], bool]) -> dict[str, list[str]]:
    out = {}
    for path in _modules(package):
        bad = sorted(m for m in _imports(path) if not allowed(m))
        if bad:
            out[str(path.relative_to(ROOT))] = bad
    return out


def _under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_handler_code_imports_only_the_standard_library_boto3_and_itself() -> None:
    def allowed(m: str) -> bool:
        return m.split(".")[0] in STDLIB or _under(m, "boto3", "botocore", "election.lambdas") or m == "election"

    assert _offending("lambdas", allowed) == {}


def test_ops_imports_neither_click_nor_the_cli_nor_the_local_runtime() -> None:
    assert _offending("ops", lambda m: not _under(m, "click", "election.cli", "election.local")) == {}


def test_the_local_runtime_does_not_import_the_cli() -> None:
    assert _offending("local", lambda m: not _under(m, "click", "election.cli")) == {}


def test_the_checks_above_see_imports_inside_functions(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import click\n    from election.local import stack\n    from election import cli\n")
    assert _imports(probe) == {"click", "election.local", "election.local.stack", "election", "election.cli"}


@pytest.mark.parametrize("package", ["lambdas", "ops", "local", "provision", "cli"])
def test_each_package_imports_alone_in_a_fresh_interpreter(package: str) -> None:
    names = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in _modules(package)]
    names = [n.removesuffix(".__init__") for n in names]
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    done = subprocess.run([sys.executable, "-c", code, *names], check=False, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
