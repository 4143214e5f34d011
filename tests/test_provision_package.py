"""The Lambda zip is deterministic and holds exactly the role's handler plus the shared modules."""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
import os
import zipfile
from pathlib import Path

import pytest
from provision_support import lambdas_copy

from election.errors import ElectionError
from election.lambdas import contract
from election.provision import package


def test_same_sources_give_the_same_bytes_whatever_the_file_times(tmp_path: Path) -> None:
    src = lambdas_copy(tmp_path)
    first = package.build("process", src)
    for f in src.glob("*.py"):
        os.utime(f, (1_700_000_000, 1_700_000_000))
    second = package.build("process", src)
    assert first.data == second.data and first.sha256_b64 == second.sha256_b64


@pytest.mark.parametrize("which", ["tally", "fleet"])
def test_zip_entries_are_sorted_with_fixed_time_and_mode(tmp_path: Path, which: str) -> None:
    from election.provision import fleet
    data = fleet.build_zip()[0] if which == "fleet" else package.build("tally", lambdas_copy(tmp_path)).data
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert {(i.compress_type, i.create_system) for i in infos} == {(zipfile.ZIP_DEFLATED, 3)}


def test_the_shared_zip_depends_on_contents_only_and_its_digest_is_lambdas_code_sha256() -> None:
    files = {"b.py": b"two\n", "a/x.py": b"one\n"}
    data, digest = package.zip_files(files)
    assert package.zip_files(dict(reversed(list(files.items())))) == (data, digest)   # insertion order is irrelevant
    assert package.zip_files({**files, "b.py": b"three\n"})[1] != digest
    assert digest == base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == ["a/x.py", "b.py"] and zf.read("b.py") == b"two\n"


def test_only_the_roles_handler_and_the_shared_modules_are_packed(tmp_path: Path) -> None:
    src = lambdas_copy(tmp_path)
    pkg = package.build("enqueue", src)
    handlers = {f"election/lambdas/{r}.py" for r in contract.FUNCTIONS}
    assert "election/lambdas/enqueue.py" in pkg.files
    assert not (handlers - {"election/lambdas/enqueue.py"}) & set(pkg.files)
    assert {"election/__init__.py", "election/lambdas/__init__.py", "election/lambdas/contract.py"} <= set(pkg.files)
    shared = {f"election/lambdas/{p.name}" for p in src.glob("*.py") if p.stem not in contract.FUNCTIONS}
    assert shared <= set(pkg.files)
    assert package.handler_string("enqueue") == "election.lambdas.enqueue.handler"


def test_a_handler_change_changes_only_that_roles_zip_and_a_shared_change_changes_all(tmp_path: Path) -> None:
    src = lambdas_copy(tmp_path)
    before = {r: package.build(r, src).sha256_b64 for r in contract.FUNCTIONS}
    (src / "tally.py").write_text((src / "tally.py").read_text() + "\n# changed\n")
    after = {r: package.build(r, src).sha256_b64 for r in contract.FUNCTIONS}
    assert [r for r in contract.FUNCTIONS if before[r] != after[r]] == ["tally"]
    (src / "contract.py").write_text((src / "contract.py").read_text() + "\n# shared change\n")
    shared = {r: package.build(r, src).sha256_b64 for r in contract.FUNCTIONS}
    assert all(shared[r] != after[r] for r in contract.FUNCTIONS)


def test_a_missing_handler_module_is_refused_naming_it(tmp_path: Path) -> None:
    src = lambdas_copy(tmp_path)
    (src / "results.py").unlink()
    with pytest.raises(ElectionError, match=r"results\.py is missing: the function 'results'"):
        package.build("results", src)
    assert package.build("tally", src).files   # the other functions still package


def test_every_function_of_the_contract_has_its_handler_module() -> None:
    for role, fn in contract.FUNCTIONS.items():
        assert callable(importlib.import_module(f"election.lambdas.{fn.module}").handler), role
