"""No seams to register. The reference data is loaded by `ykt serve` before it listens
(platform_setup.REFERENCE_LOADERS names `directory.service.load_reference_data`)."""

from __future__ import annotations


def configure(platform) -> None:  # noqa: ARG001 - nothing to register: no seams here
    return None
