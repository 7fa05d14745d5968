"""Where the tests' files are: one place, so that moving a test never breaks a path."""

from __future__ import annotations

from pathlib import Path
from typing import Final

TESTS_DIR: Final = Path(__file__).resolve().parent.parent
REPO_ROOT: Final = TESTS_DIR.parent
SUPPORT: Final = TESTS_DIR / "support"
VMS: Final = SUPPORT / "vms"
TOOLS: Final = SUPPORT / "tools"
DATA: Final = TESTS_DIR / "data"
