"""Who may log a kiosk in (SIP2 93 Login, CN user id / CO password).

A kiosk logs in with a platform login of the library: role librarian, its branch code the
library's code (`ykt user add kiosk-czlib --role librarian --branch CZLIB`). The platform keeps
only the argon2 hash; the password is never logged, and a refusal looks the same whether the
login is unknown, inactive, of another library or has another password. Failures count
against the platform's login throttle (auth.throttle: `login_user` per login name, shared with
the web login, and `login_address` per kiosk address), so a kiosk port that reconnects after
each refusal cannot guess on; past the limit every attempt is refused until the window ends.
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
                     location: str, address: str, now: datetime) -> KioskAccount | None:
        """The account when `login`/`password` is a kiosk login of `library_code`; None
        otherwise (the kiosk gets 94 with ok 0)."""
        ...


class PlatformKioskAccounts:
    """Kiosk logins checked against the platform's logins (auth.service.verify_credentials);
    each login that succeeds is audited (library.sip2_login, with the kiosk's location)."""

    def __init__(self, platform) -> None:
        self._platform = platform

    def authenticate(self, login: str, password: str, *, library_code: str,
                     location: str, address: str, now: datetime) -> KioskAccount | None:
        from yikatong.auth.errors import LoginLocked, TooManyRequests
        from yikatong.auth.service import verify_credentials
        from yikatong.auth.throttle import throttle_of
        from yikatong.core.actor import Actor, Channel, Role

        throttle = throttle_of(self._platform)
        try:
            by_address, _ = throttle.hit_all(("login_address", address, TooManyRequests),
                                             ("login_user", login, LoginLocked))
        except TooManyRequests:  # LoginLocked included: refused without looking
            return None
        with self._platform.uow() as uow:
            user = verify_credentials(uow=uow, username=login, password=password)
            if user is None or user.role != str(Role.LIBRARIAN) or user.branch_code != library_code:
                return None
            actor = Actor(user_id=user.username, role=Role.LIBRARIAN, channel=Channel.LIBRARY,
                          branch_code=library_code, account_id=user.id)
            uow.audit(actor=actor, action="library.sip2_login", entity_type="user",
                      entity_id=user.id, after={"library": library_code, "location": location})
            uow.commit()
        with throttle.transaction():
            throttle.give_back(by_address)
            throttle.forget("login_user", login)
        return KioskAccount(login=login, library_code=library_code)
