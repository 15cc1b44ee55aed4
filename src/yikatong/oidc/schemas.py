from datetime import datetime

from pydantic import BaseModel


class LoginStartOut(BaseModel):
    authorization_url: str
    expires_in: int  # seconds the sign-in may take at the provider


class RealNameEvidenceOut(BaseModel):
    evidence: str        # the provider's ID token: pass it as the sign-up's evidence
    name: str
    id_number: str       # the holder's own, as the provider asserts it (to pre-fill sign-up)
    expires_at: datetime  # after this the evidence is refused; authenticate again
