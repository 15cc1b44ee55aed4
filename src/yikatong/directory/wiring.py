"""Start-up hook: `ykt serve` calls `load_on_startup(platform)` after migrating."""

from __future__ import annotations

from yikatong.core.actor import Actor


def configure(platform) -> None:  # noqa: ARG001 - nothing to register: no seams here
    return None


def load_on_startup(platform):
    """Load (or refresh) the banks and outlets; idempotent, safe on every start."""
    from yikatong.directory.service import load_reference_data

    with platform.uow() as uow:
        return load_reference_data(uow=uow, actor=Actor.system("directory-loader"))
