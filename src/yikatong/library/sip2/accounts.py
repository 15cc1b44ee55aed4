"""Who may log a kiosk in (SIP2 93 Login, CN user id / CO password).

A kiosk logs in with a platform login of the library: role librarian, its branch code the
library's code (`ykt user add kiosk-czlib --role librarian --branch CZLIB`). The platform keeps
only the argon2 hash; the password is never logged, and a refusal looks the same whether the
login is unknown, inactive, of another library or has another password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class KioskAccount:
    login: str
    library_code: str


class KioskAccounts(Protocol):
    def authenticate(self, login: str, password: str, *, library_code: str,
                     location: str, now: datetime) -> KioskAccount | None:
        """The account when `login`/`password` is a kiosk login of `library_code`; None
        otherwise (the kiosk gets 94 with ok 0)."""
        ...


class PlatformKioskAccounts:
    """Kiosk logins checked against the platform's logins (auth.service.verify_credentials);
    each login that succeeds is audited (library.sip2_login, with the kiosk's location)."""

    def __init__(self, platform) -> None:
        self._platform = platform

    def authenticate(self, login: str, password: str, *, library_code: str,
                     location: str, now: datetime) -> KioskAccount | None:
        from yikatong.auth.service import verify_credentials
        from yikatong.core.actor import Actor, Channel, Role

        with self._platform.uow() as uow:
            user = verify_credentials(uow=uow, username=login, password=password)
            if user is None or user.role != str(Role.LIBRARIAN) or user.branch_code != library_code:
                return None
            actor = Actor(user_id=user.username, role=Role.LIBRARIAN, channel=Channel.LIBRARY,
                          branch_code=library_code, account_id=user.id)
            uow.audit(actor=actor, action="library.sip2_login", entity_type="user",
                      entity_id=user.id, after={"library": library_code, "location": location})
            uow.commit()
        return KioskAccount(login=login, library_code=library_code)
