from typing import Annotated, Literal

from pydantic import BaseModel, Field


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
    username: str = Field(min_length=3, max_length=64)
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
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str | None = Field(default=None, max_length=128,
                                 description="none for a partner system that uses API keys only")
    role: str = Field(max_length=32)
    display_name: str | None = Field(default=None, max_length=64)
    bank_code: str | None = Field(default=None, max_length=16)
    branch_code: str | None = Field(default=None, max_length=32)


class UserOut(BaseModel):
    username: str
    role: str
    bank_code: str | None
    branch_code: str | None


class ApiKeyIn(BaseModel):
    label: str = Field(min_length=1, max_length=64)


class ApiKeyOut(BaseModel):
    api_key: str
    note: str = "只显示这一次，请妥善保存 / shown once only: store it safely"
