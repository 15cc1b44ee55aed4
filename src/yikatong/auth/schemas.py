from pydantic import BaseModel


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


class MeOut(BaseModel):
    username: str
    role: str
    channel: str
    bank_code: str | None
    person_id: int | None
