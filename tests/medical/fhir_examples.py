"""FHIR R4B request bodies as an institution's system would post them (tests of the FHIR door)."""

from __future__ import annotations

from typing import Any

from yikatong.medical.fhir import Cs, Sid

INSTITUTION = "H32040200001"


def claim(*, identifier: str = "claim-0001", card_no: str | None = None,
          id_number: str | None = None, claim_type: str = "professional",
          items: list[tuple[str, str]] | None = None, provider: str = INSTITUTION,
          status: str = "active", system: str = "urn:yikatong-test:his:claim") -> dict[str, Any]:
    """A Claim for an outpatient (professional) or pharmacy visit; `items` are (catalogue
    code, net in yuan as a string)."""
    patient = ({"system": Sid.SS_CARD, "value": card_no} if card_no else
               {"system": Sid.ID_NUMBER, "value": id_number or "320402199001011234"})
    lines = items if items is not None else [("XA01", "120.00"), ("XB01", "80.50")]
    return {
        "resourceType": "Claim",
        "identifier": [{"system": system, "value": identifier}],
        "status": status,
        "type": {"coding": [{"system": Cs.CLAIM_TYPE, "code": claim_type}]},
        "use": "claim",
        "patient": {"identifier": patient},
        "created": "2026-03-02T09:30:00+08:00",
        "provider": {"identifier": {"system": Sid.INSTITUTION, "value": provider}},
        "priority": {"coding": [{"system": Cs.PROCESS_PRIORITY, "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True,
                       "coverage": {"display": "基本医疗保险 / basic medical insurance"}}],
        "item": [{"sequence": n, "productOrService": {"coding": [
                      {"system": Cs.CATALOGUE, "code": code}]},
                  "quantity": {"value": 1},
                  # a JSON number: float's repr keeps two-decimal amounts exact
                  "net": {"value": float(net), "currency": "CNY"}}
                 for n, (code, net) in enumerate(lines, start=1)],
    }


def eligibility_request(*, card_no: str | None = None, id_number: str | None = None,
                        day: str = "2026-03-02", provider: str = INSTITUTION,
                        identifier: str | None = "elig-0001") -> dict[str, Any]:
    patient = ({"system": Sid.SS_CARD, "value": card_no} if card_no else
               {"system": Sid.ID_NUMBER, "value": id_number or "320402199001011234"})
    body: dict[str, Any] = {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["validation"],
        "patient": {"identifier": patient},
        "servicedDate": day,
        "created": f"{day}T09:00:00+08:00",
        "provider": {"identifier": {"system": Sid.INSTITUTION, "value": provider}},
        "insurer": {"identifier": {"system": Sid.OFFICE, "value": "320400"}},
    }
    if identifier:
        body["identifier"] = [{"system": "urn:yikatong-test:his:elig", "value": identifier}]
    return body
