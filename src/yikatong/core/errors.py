"""The error model: typed domain errors with a stable code and zh-CN + en messages.

Domains subclass `DomainError`; the doors (API, CLI) turn them into problem+json or a CLI
message. Nothing else formats errors.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "domain_error"
    http_status: ClassVar[int] = 400
    zh: ClassVar[str] = "业务规则不允许此操作"
    en: ClassVar[str] = "The operation is not allowed by the business rules"

    def __init__(self, zh: str | None = None, en: str | None = None, **details: Any) -> None:
        self.details = details
        self.message_zh = (zh or self.zh).format(**details)
        self.message_en = (en or self.en).format(**details)
        super().__init__(f"{self.code}: {self.message_en}")

    def http_headers(self) -> dict[str, str]:
        """Headers the API answer carries beside the problem (e.g. Retry-After on a 429)."""
        return {}

    def to_problem(self) -> dict[str, Any]:
        """RFC 9457 problem details, with our machine code and both languages."""
        problem: dict[str, Any] = {
            "type": f"https://yikatong.example/problems/{self.code}",
            "title": self.message_zh,
            "title_en": self.message_en,
            "status": self.http_status,
            "code": self.code,
            "detail": f"{self.message_zh} / {self.message_en}",
        }
        if self.details:
            problem["details"] = {k: v for k, v in self.details.items() if _jsonable(v)}
        return problem


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | dict | type(None))


class NotFound(DomainError):
    code = "not_found"
    http_status = 404
    zh = "未找到{what}"
    en = "{what} not found"


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403
    zh = "无权执行此操作"
    en = "You are not allowed to do this"


class Unauthenticated(DomainError):
    code = "unauthenticated"
    http_status = 401
    zh = "请先登录"
    en = "Authentication required"


class InvalidInput(DomainError):
    code = "invalid_input"
    http_status = 422
    zh = "输入有误：{reason_zh}"
    en = "Invalid input: {reason_en}"


class Conflict(DomainError):
    code = "conflict"
    http_status = 409
    zh = "与当前状态冲突"
    en = "Conflicts with the current state"


class ConcurrentChange(Conflict):
    code = "concurrent_change"
    zh = "该记录刚被他人修改，请刷新后重试"
    en = "The record was changed by someone else at the same time; reload and retry"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    zh = "幂等键已用于另一请求"
    en = "The idempotency key was already used for a different request"


def checked_idempotency_key(key: str | None) -> str:
    """An idempotency key as a service takes it: 1–100 printable characters, trimmed; anything
    else is refused before it could name a stored request."""
    key = (key or "").strip()
    if not 0 < len(key) <= 100 or not key.isprintable():
        raise InvalidInput(reason_zh="幂等键应为 1–100 个可打印字符",
                           reason_en="the idempotency key must be 1–100 printable characters")
    return key
