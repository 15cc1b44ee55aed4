from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from yikatong.auth.rules import (
    API_KEY_DEFAULT_LIFETIME,
    API_KEY_DEFAULT_ROTATION_GRACE,
    API_KEY_MAX_LIFETIME,
    API_KEY_MAX_ROTATION_GRACE,
    MAX_PASSWORD_LENGTH,
    USERNAME_PATTERN,
)

_MAX_GRACE_HOURS = int(API_KEY_MAX_ROTATION_GRACE.total_seconds() // 3600)
_DEFAULT_GRACE_HOURS = int(API_KEY_DEFAULT_ROTATION_GRACE.total_seconds() // 3600)
_VALID_DAYS = Field(default=None, ge=1, le=API_KEY_MAX_LIFETIME.days,
                    description=f"days the key is valid (default {API_KEY_DEFAULT_LIFETIME.days}, "
                                f"at most {API_KEY_MAX_LIFETIME.days}) / 有效天数")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


class MeOut(BaseModel):
    username: str
    role: str
    channel: str
    bank_code: str | None
    person_id: int | None


class _SignUpBase(BaseModel):
    name: str = Field(min_length=1, max_length=30)
    id_number: str = Field(min_length=15, max_length=18)
    username: str = Field(min_length=3, max_length=64, pattern=USERNAME_PATTERN)
    password: str = Field(min_length=1, max_length=128)


class SmsCodeSignUpIn(_SignUpBase):
    proof: Literal["sms_code"]
    code: str = Field(min_length=1, max_length=12,
                      description="the one-time code texted to the phone on file / 短信验证码")


class ActivationCodeSignUpIn(_SignUpBase):
    proof: Literal["activation_code"]
    code: str = Field(min_length=1, max_length=20,
                      description="the activation code handed over with the card / 领卡时的激活码")


class RealNameSignUpIn(_SignUpBase):
    proof: Literal["real_name"]
    evidence: str = Field(min_length=1, max_length=8192,
                          description="the real-name provider's ID token / 实名认证机构签发的身份令牌")


# The sign-up names the proof it carries.
HolderSignUpIn = Annotated[SmsCodeSignUpIn | ActivationCodeSignUpIn | RealNameSignUpIn,
                           Field(discriminator="proof")]


class SignUpCodeIn(BaseModel):
    name: str = Field(min_length=1, max_length=30)
    id_number: str = Field(min_length=15, max_length=18)


class CodeRequestedOut(BaseModel):
    note_zh: str
    note_en: str


class HolderSignUpOut(BaseModel):
    username: str
    linked_to_person: bool


class UserIn(BaseModel):
    username: str = Field(min_length=3, max_length=64, pattern=USERNAME_PATTERN)
    password: str | None = Field(default=None, max_length=128,
                                 description="none for a partner system that uses API keys only")
    role: str = Field(max_length=32)
    display_name: str | None = Field(default=None, max_length=64)
    bank_code: str | None = Field(default=None, max_length=16)
    branch_code: str | None = Field(default=None, max_length=32)
    employer_uscc: str | None = Field(
        default=None, max_length=18,
        description="employer agents only, required: the employer's unified social credit code")


class UserOut(BaseModel):
    username: str
    role: str
    bank_code: str | None
    branch_code: str | None
    employer_uscc: str | None = None


class ApiKeyIn(BaseModel):
    label: str = Field(min_length=1, max_length=64)
    valid_days: int | None = _VALID_DAYS


class ApiKeyOut(BaseModel):
    api_key: str
    key_id: int
    expires_at: datetime
    note: str = "只显示这一次，请妥善保存 / shown once only: store it safely"


class ApiKeyInfo(BaseModel):
    """An API key as a listing shows it: never the secret, only its last four characters."""

    key_id: int
    label: str | None
    hint: str | None = Field(description="the key's last four characters / 密钥末四位")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    status: str = Field(description="active | expired | revoked")


class ApiKeyRotateIn(BaseModel):
    grace_hours: int = Field(default=_DEFAULT_GRACE_HOURS, ge=0, le=_MAX_GRACE_HOURS,
                             description="how long the old key keeps working (0: revoked now) / 旧密钥宽限小时数")
    valid_days: int | None = _VALID_DAYS


class ApiKeyRotateOut(ApiKeyOut):
    old_key_id: int
    old_key_valid_until: datetime


class PasswordChangeIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class PasswordChangeOut(BaseModel):
    changed: bool = True
    other_sessions_ended: int


class UserStateOut(BaseModel):
    username: str
    active: bool
    credentials_revoked: int
