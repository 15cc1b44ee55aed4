"""People settings. Example defaults – not official policy (domain-rules.md §1.3, checked
2026-11-26: no public source gives the format of an agency-assigned social security number)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PeopleConfig:
    # 人员识别号 prefix: the issuing agency's region code (Changzhou).
    person_code_region: str = "320400"
    # Foreigners without a PR card (and HK/Macao/Taiwan residents with a travel permit only)
    # get an opaque number from the agency: prefix + zero-padded sequence.
    assigned_ssn_prefix: str = "W320400"
    assigned_ssn_length: int = 18
    assigned_ssn_max_length: int = 20

    def __post_init__(self) -> None:
        if not 0 < self.assigned_ssn_length <= self.assigned_ssn_max_length:
            raise ValueError("assigned_ssn_length must be within assigned_ssn_max_length")
