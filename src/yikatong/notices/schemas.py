from datetime import datetime

from pydantic import BaseModel


class SmsMessageOut(BaseModel):
    id: int
    template: str
    phone_masked: str
    person_id: int | None
    subject: str | None
    text_zh: str
    text_en: str
    status: str
    created_at: datetime
    sent_at: datetime | None


class OutboxMessageOut(BaseModel):
    id: int
    reference: str
    phone: str
    text: str
    delivered_at: datetime
