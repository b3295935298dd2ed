"""The kernel's Lab: the one the magics use, also returned by ``promptlab_nb.lab()``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptlab_nb.core.config import PromptLab

if TYPE_CHECKING:
    from promptlab_nb._lab import Lab

_kernel: dict[str, object] = {"settings": None, "lab": None, "url": None}


def use_settings(settings: PromptLab) -> None:
    """Make ``settings`` (the PromptLab configurable the extension registered) the kernel's settings."""
    _kernel["settings"] = settings


def settings() -> PromptLab:
    if _kernel["settings"] is None:
        _kernel["settings"] = PromptLab()
    return _kernel["settings"]  # type: ignore[return-value]


def lab() -> Lab:
    """The kernel's Lab on the store named by ``%config PromptLab.db_url`` (or PROMPTLAB_URL, or
    ./promptlab.duckdb); it is reopened when that setting changes."""
    from promptlab_nb._lab import Lab

    current = settings()
    if _kernel["lab"] is None or _kernel["url"] != current.db_url:
        if _kernel["lab"] is not None:
            _kernel["lab"].close()  # type: ignore[attr-defined]
        _kernel["lab"] = Lab(settings=current)
        _kernel["url"] = current.db_url
    return _kernel["lab"]  # type: ignore[return-value]


def forget() -> None:
    if _kernel["lab"] is not None:
        _kernel["lab"].close()  # type: ignore[attr-defined]
    _kernel.update(settings=None, lab=None, url=None)
