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


class HolderSignUpIn(BaseModel):
    name: str = Field(min_length=1, max_length=30)
    id_number: str = Field(min_length=15, max_length=18)
    evidence: str = Field(min_length=1, description="ticket from the real-name check / 实名认证凭据")
    username: str = Field(min_length=3, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class HolderSignUpOut(BaseModel):
    username: str
    linked_to_person: bool
