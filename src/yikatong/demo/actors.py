"""The staff the demos act as (synthetic): the narrated scenario and the population share them,
so an audit trail of either names the same outlets, bank branch and agents."""

from __future__ import annotations

from yikatong.core.actor import Actor, Channel, Role

OUTLET = Actor(user_id="demo-outlet", role=Role.SS_OUTLET, channel=Channel.OUTLET,
               branch_code="SS-TN-01")
CITIZEN_OUTLET = Actor(user_id="demo-smk", role=Role.CITIZEN_OUTLET,
                       channel=Channel.CITIZEN_OUTLET, branch_code="SMK-DIRECT-01")
PHONE = Actor(user_id="demo-12333", role=Role.PHONE_AGENT, channel=Channel.PHONE_12333)
ICBC_BRANCH = Actor(user_id="demo-icbc", role=Role.BANK, channel=Channel.BANK_BRANCH,
                    bank_code="ICBC", branch_code="ICBC-CZ-001")
ADMIN = Actor(user_id="demo-admin", role=Role.ADMIN, channel=Channel.SYSTEM)
# A second card-centre login: the checker of a maker-checker decision is never its maker.
CHECKER = Actor(user_id="demo-checker", role=Role.ADMIN, channel=Channel.SYSTEM)
BANK_CODE = "ICBC"
