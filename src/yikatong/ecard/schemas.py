"""Request and response shapes of the e-card API. Passwords are SecretStr (never echoed)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr

from yikatong.core.response_models import response_model
from yikatong.ecard.service import ChannelView, EcardView, IssuedQr, Verification


class ChannelInfoOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    bank_code: str | None = None


ChannelOut = response_model(ChannelView, name="ChannelOut")
EcardOut = response_model(EcardView, name="EcardOut", nested={"channels": list[ChannelOut]})


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


QrOut = response_model(IssuedQr, name="QrOut", exclude=("ecard_no",))


class VerifyIn(BaseModel):
    token: str = Field(max_length=400)


class RedeemIn(BaseModel):
    token: str = Field(max_length=400)
    business: str = Field(max_length=64, description="e.g. hospital_registration, bus_boarding")
    terminal_id: str | None = Field(default=None, max_length=64)


# What a verifier may learn about a shown code: masked data only.
VerificationOut = response_model(Verification, name="VerificationOut")


class PublicKeyOut(BaseModel):
    key_version: int
    status: str
    algorithm: str
    public_key_hex: str
