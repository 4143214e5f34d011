"""Deterministic Lambda zips: same sources, same bytes, same sha256.

Fixed timestamps (1980-01-01), sorted entries and fixed permissions make the
zip's sha256 depend on file contents only, so `up` can compare it with the
deployed CodeSha256 and update a function's code only when it really changed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from election.errors import ElectionError
from election.lambdas import contract

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
PACKAGE_STUB = b'"""election: handler package as deployed to Lambda."""\n'


@dataclass(frozen=True)
class Package:
    """One function's zip and its sha256 in Lambda's CodeSha256 format (base64 of the digest)."""

    role: str
    data: bytes
    sha256_b64: str
    files: tuple[str, ...]


def handler_string(role: str) -> str:
    return f"election.lambdas.{contract.FUNCTIONS[role].module}.handler"


def sources(role: str, lambdas_dir: Path = LAMBDAS_DIR) -> dict[str, bytes]:
    """Archive path -> bytes: the role's handler plus every shared (non-handler) module.

    A function without its handler module is refused here, when the plan is computed, never deployed.
    """
    module = contract.FUNCTIONS[role].module
    if not (lambdas_dir / f"{module}.py").is_file():
        raise ElectionError(f"{lambdas_dir / module}.py is missing: the function '{role}' of "
                            "election/lambdas/contract.py FUNCTIONS needs its handler module.")
    handlers = {f.module for f in contract.FUNCTIONS.values()}
    files: dict[str, bytes] = {"election/__init__.py": PACKAGE_STUB}
    init = lambdas_dir / "__init__.py"
    files["election/lambdas/__init__.py"] = init.read_bytes() if init.exists() else b""
    for path in sorted(lambdas_dir.glob("*.py")):
        stem = path.stem
        if stem == "__init__" or (stem in handlers and stem != module):
            continue
        files[f"election/lambdas/{path.name}"] = path.read_bytes()
    return files


def zip_files(files: Mapping[str, bytes]) -> tuple[bytes, str]:
    """Archive path -> bytes zipped in sorted order with fixed metadata: (zip bytes, base64 sha256).

    The one deterministic zip of the tool: the election's functions (build) and the load fleet's worker
    (provision/fleet.py) both come from here, so their bytes depend on the files' contents only.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            zf.writestr(info, files[name], compresslevel=9)
    data = buf.getvalue()
    return data, base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def build(role: str, lambdas_dir: Path = LAMBDAS_DIR) -> Package:
    """The role's sources, zipped deterministically."""
    files = sources(role, lambdas_dir)
    data, digest = zip_files(files)
    return Package(role=role, data=data, sha256_b64=digest, files=tuple(sorted(files)))
