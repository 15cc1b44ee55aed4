from pydantic import BaseModel, Field

from yikatong.auth.rules import USERNAME_PATTERN


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


class MeOut(BaseModel):
    username: str
    role: str
    channel: str
    bank_code: str | None
    person_id: int | None


class HolderSignUpIn(BaseModel):
    name: str = Field(min_length=1, max_length=30)
    id_number: str = Field(min_length=15, max_length=18)
    evidence: str = Field(min_length=1, description="ticket from the real-name check / 实名认证凭据")
    username: str = Field(min_length=3, max_length=64, pattern=USERNAME_PATTERN)
    password: str = Field(min_length=1, max_length=128)


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
