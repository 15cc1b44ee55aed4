"""A hospital information system talking to the institution interface: it numbers its
messages, signs each request and reads the answer envelope."""

from __future__ import annotations

import itertools
import secrets
from datetime import datetime

from yikatong.core.clock import CST
from yikatong.medical import envelope as env

URL = "/api/v1/medical/fsi/api/rsfComIfsService/callService"


class Hospital:
    def __init__(self, client, credential: dict, *, code: str, secret: str, clock,
                 admdvs: str = "320400", name: str = "常州市第一人民医院") -> None:
        self.client, self.credential, self.code, self.secret = client, credential, code, secret
        self.clock, self.admdvs, self.name = clock, admdvs, name
        self.sequence = itertools.count(1)
        self.sign_no = ""

    def msgid(self) -> str:
        stamp = self.clock.now().astimezone(CST).strftime("%Y%m%d%H%M%S")
        return f"{self.code}{stamp}{next(self.sequence) % 10_000:04d}"

    def envelope(self, infno: str, data: dict, *, msgid: str | None = None, key: str = "data",
                 insuplc_admdvs: str = "320400", signtype: str = "") -> dict:
        body = {"infno": infno, "msgid": msgid or self.msgid(), "mdtrtarea_admvs": self.admdvs,
                "insuplc_admdvs": insuplc_admdvs, "recer_sys_code": "YKT", "dev_no": "",
                "dev_safe_info": "", "cainfo": "", "signtype": signtype, "infver": "V1.0",
                "opter_type": "1", "opter": "0001", "opter_name": "收费员",
                "inf_time": env.beijing(self.clock.now()), "fixmedins_code": self.code,
                "fixmedins_name": self.name, "sign_no": self.sign_no, "input": {key: data}}
        if signtype == "SM3":
            body["cainfo"] = env.body_signature(body, secret=self.secret)
        return body

    def headers(self, *, nonce: str | None = None, secret: str | None = None,
                now: datetime | None = None, paasid: str | None = None) -> dict:
        signed = env.signed_headers(paasid=paasid or self.code, secret=secret or self.secret,
                                    nonce=nonce or secrets.token_hex(8), now=now or self.clock.now())
        return {**self.credential, **signed}

    def post(self, body: dict, **header_changes) -> dict:
        response = self.client.post(URL, json=body, headers=self.headers(**header_changes))
        assert response.status_code == 200, response.text
        return response.json()

    def send(self, infno: str, data: dict, **options) -> dict:
        return self.post(self.envelope(infno, data, **options))

    def ok(self, infno: str, data: dict, **options) -> dict:
        answer = self.send(infno, data, **options)
        assert answer["infcode"] == 0, answer
        return answer["output"]

    def sign_in(self) -> str:
        output = self.ok("9001", {"opter_no": "0001", "mac": "00-00-00-00-00-00",
                                  "ip": "10.0.0.8"}, key="signIn")
        self.sign_no = output["signinoutb"]["sign_no"]
        return self.sign_no


def institution_key(platform, admin_actor, code: str) -> dict:
    """A login of role MEDICAL_INSTITUTION for `code` and an API key for its HIS (what a
    hospital's system holds): the X-API-Key header."""
    from yikatong.auth.service import create_api_key, create_user
    from yikatong.core.actor import Role

    username = f"his-{code.lower()}"
    with platform.uow() as uow:
        # a machine login: no password (nothing to hash), only the API key
        user = create_user(uow=uow, actor=admin_actor, username=username, password=None,
                           role=Role.MEDICAL_INSTITUTION, branch_code=code)
        uow.session.flush()
        key = create_api_key(uow=uow, user=user, label="HIS", actor=admin_actor)
        uow.commit()
    return {"X-API-Key": key}


def connected(platform, client, admin_actor, clock, code: str) -> Hospital:
    """A reference institution with a freshly issued secret and its HIS's API key."""
    from tests.medical.conftest import OFFICE
    from yikatong.medical import service
    from yikatong.medical.errors import InstitutionNotFound

    with platform.uow() as uow:
        try:
            issued = service.issue_institution_secret(uow=uow, actor=OFFICE, code=code)
        except InstitutionNotFound:
            raise AssertionError(f"{code} is not a reference institution") from None
    return Hospital(client, institution_key(platform, admin_actor, code), code=code,
                    secret=issued.secret, clock=clock)
