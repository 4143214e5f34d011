"""Files that ship inside the package, so every command works from any directory.

local.yaml is the embedded default plan (config/local.yaml is the same file, kept as an example to copy);
the 2016 turnout and vote-share tables weight seeded voters and load-test choices.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
LOCAL_PLAN = DATA_DIR / "local.yaml"
# The voting page. In the repository election/data/website is a symlink to website/ (where people edit it);
# a built wheel copies the files themselves, so a non-editable install serves the page too.
SITE_DIR = DATA_DIR / "website"


def data_file(name: str) -> Path:
    """A bundled data file by name (e.g. turnout_2016.csv)."""
    return DATA_DIR / name


def is_builtin_plan(path: str | Path) -> bool:
    """True when `path` is the packaged local plan (so messages can say 'the built-in local plan')."""
    try:
        return Path(path).resolve() == LOCAL_PLAN
    except OSError:
        return False
