"""The seam to the SMS carrier.

`SmsGateway` hands one text message to a carrier. The platform records every message it sends
(`notices.models.SmsMessage`: template, masked phone, status, time, the text in Chinese and
English with one-time codes blanked out) whatever the implementation; the implementation only
delivers. In-repo: `reference.DevelopmentSmsOutbox` (development and tests only), which keeps
what it "delivered" in a table the demo and tests read (`ykt sms outbox`). A deployment
registers its carrier's client with `platform.provide(SmsGateway, impl)`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from yikatong.core.errors import DomainError


class SmsUnavailable(DomainError):
    """The carrier could not take the message (down, refused, timed out)."""

    code = "sms_unavailable"
    http_status = 503
    zh = "短信服务暂不可用"
    en = "The SMS service is unavailable"


@runtime_checkable
class SmsGateway(Protocol):
    def send(self, *, phone: str, text: str, reference: str) -> str:
        """Hand one message for `phone` (a mainland mobile number) to the carrier.

        `text` is the whole message as the holder reads it (Chinese, then English); it may
        carry a one-time code, so an implementation never logs it. `reference` is the
        platform's own id of the message (a carrier that dedupes by it makes a retry safe).
        Returns the carrier's message id. Raises SmsUnavailable when the message was not
        accepted; the platform then records it as failed.
        """
        ...
