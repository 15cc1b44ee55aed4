"""Register the library's reference implementations: the platform's patron authority and the
reference library system (a deployment with a real library system registers its own)."""

from __future__ import annotations

from yikatong.library.protocols import LibrarySystem, PatronAuthority


def configure(platform) -> None:
    from yikatong.library.authority import PlatformPatronAuthority
    from yikatong.library.system import ReferenceLibrarySystem

    if not platform.has(PatronAuthority):
        platform.provide(PatronAuthority, factory=PlatformPatronAuthority)
    if not platform.has(LibrarySystem):
        platform.provide(LibrarySystem, factory=ReferenceLibrarySystem)
