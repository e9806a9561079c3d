"""Where catsnn finds its own files and puts what it builds.

Sources that the flow compiles (the firmware, the Verilator harness, the simulator's UART
module) are package data: they are found next to the installed modules, in a checkout and in a
wheel install alike. Builds go to ``$CATSNN_BUILD`` if set, else to ``build/`` of the checkout
when catsnn runs from one (an editable install), else to the user's cache folder
(``$XDG_CACHE_HOME/catsnn``, default ``~/.cache/catsnn``). Models are always taken by path.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def checkout() -> Path | None:
    """The source checkout catsnn runs from, or None for an installed package."""
    root = PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / "gateware" / "log_ttfs_core.py").is_file():
        return root
    return None


def build_root() -> Path:
    if os.environ.get("CATSNN_BUILD"):
        return Path(os.environ["CATSNN_BUILD"])
    if checkout() is not None:
        return checkout() / "build"
    return user_cache()


def user_cache() -> Path:
    """``$XDG_CACHE_HOME/catsnn``, default ``~/.cache/catsnn``."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "catsnn"


def package_dir(module: str) -> Path:
    """The folder of a catsnn subpackage (``catsnn.firmware``, ``catsnn.gateware``, ...)."""
    import importlib
    return Path(importlib.import_module(module).__file__).resolve().parent


def shipped_models() -> list[Path]:
    """The model artifacts of the checkout (none in an installed package)."""
    root = checkout()
    if root is None:
        return []
    models = root / "models"
    return sorted([*models.glob("*.catsnn"), *models.glob("*.catsnn.xz")])
