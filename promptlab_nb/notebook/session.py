"""The kernel's Lab: the one the magics use, also returned by ``promptlab_nb.current_lab()``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptlab_nb.core.config import PromptLab

if TYPE_CHECKING:
    from promptlab_nb._lab import Lab


class _KernelSession:
    def __init__(self) -> None:
        self.settings: PromptLab | None = None
        self.lab: Lab | None = None
        self.url: str | None = None

    def close_lab(self) -> None:
        if self.lab is not None:
            self.lab.close()
        self.lab = self.url = None


_kernel = _KernelSession()


def use_settings(settings: PromptLab) -> None:
    """Make ``settings`` (the PromptLab configurable the extension registered) the kernel's settings."""
    _kernel.settings = settings


def settings() -> PromptLab:
    if _kernel.settings is None:
        _kernel.settings = PromptLab()
    return _kernel.settings


def current_lab() -> Lab:
    """The kernel's Lab on the store named by ``%config PromptLab.db_url`` (or PROMPTLAB_URL, or
    ./promptlab.duckdb); it is reopened when that setting changes."""
    from promptlab_nb._lab import Lab

    current = settings()
    if _kernel.lab is None or _kernel.url != current.db_url:
        _kernel.close_lab()
        _kernel.lab = Lab(settings=current)
        _kernel.url = current.db_url
    return _kernel.lab


lab = current_lab
"""The former name of ``current_lab``, kept so that existing notebooks still run."""


def forget() -> None:
    _kernel.close_lab()
    _kernel.settings = None
