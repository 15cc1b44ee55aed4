"""Request and response shapes of the e-card API. Passwords are SecretStr (never echoed)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr


class ChannelInfoOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    bank_code: str | None = None


class ChannelOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    consented: bool
    granted_at: datetime | None
    withdrawn_at: datetime | None
    reauthorised_at: datetime | None
    usable: bool
    refusal: str | None
    refusal_zh: str | None
    refusal_en: str | None


class EcardOut(BaseModel):
    ecard_no: str
    person_id: int
    status_index: int
    card_no: str | None
    state: str
    state_zh: str
    state_en: str
    card_status: str
    card_status_zh: str
    card_status_en: str
    reason: str
    reason_zh: str
    reason_en: str
    loss_started_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None
    password_set: bool
    password_locked_until: datetime | None
    channels: list[ChannelOut]
    usable: bool
    next_step_zh: str
    next_step_en: str


class ReauthoriseIn(BaseModel):
    password: SecretStr = Field(max_length=64)


class PasswordIn(BaseModel):
    new_password: SecretStr = Field(max_length=64)
    old_password: SecretStr | None = Field(default=None, max_length=64)


class SmsCodeResetIn(BaseModel):
    proof: Literal["sms_code"]
    code: str = Field(min_length=1, max_length=12, description="the code texted to the phone on file / 短信验证码")
    new_password: SecretStr = Field(max_length=64)


class RealNameResetIn(BaseModel):
    proof: Literal["real_name"]
    name: str = Field(max_length=64)
    id_number: str = Field(max_length=32)
    evidence: str = Field(max_length=8192, description="the real-name provider's ID token / 实名认证令牌")
    new_password: SecretStr = Field(max_length=64)


# The reset names the proof it carries.
PasswordResetIn = Annotated[SmsCodeResetIn | RealNameResetIn, Field(discriminator="proof")]


class CodeSentOut(BaseModel):
    sent_to: str  # the masked phone number
    note_zh: str = "验证码已发送，10 分钟内有效"
    note_en: str = "A code valid for 10 minutes was texted"


class QrIn(BaseModel):
    channel: str = Field(max_length=40)
    password: SecretStr | None = Field(default=None, max_length=64)


class QrOut(BaseModel):
    token: str
    channel: str
    issued_at: datetime
    expires_at: datetime
    refresh_at: datetime


class VerifyIn(BaseModel):
    token: str = Field(max_length=400)


class RedeemIn(BaseModel):
    token: str = Field(max_length=400)
    business: str = Field(max_length=64, description="e.g. hospital_registration, bus_boarding")
    terminal_id: str | None = Field(default=None, max_length=64)


class VerificationOut(BaseModel):
    genuine: bool
    valid: bool
    reason: str
    reason_zh: str
    reason_en: str
    ecard_no_masked: str | None
    name_masked: str | None
    ssn_masked: str | None
    state: str | None
    card_status: str | None
    card_status_zh: str | None
    card_status_en: str | None
    issued_at: datetime | None
    expires_at: datetime | None
    used: bool


class PublicKeyOut(BaseModel):
    key_version: int
    status: str
    algorithm: str
    public_key_hex: str
