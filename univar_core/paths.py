"""Where the project's own files live: one home for the repository root and the folders under it."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSETS_DIR = REPO_ROOT / "assets"
CACHE_DIR = REPO_ROOT / ".cache"
