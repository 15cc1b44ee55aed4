"""The inter-region clearing as a property: whatever mix of visitors' settlements and
cancellations a day brings, each region's clearing agrees with the national platform's book to
the fen, is posted once, and leaves nothing receivable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yikatong.core.actor import Actor, Channel, Role
from yikatong.ledger import service as ledger
from yikatong.ledger.errors import AccountNotFound
from yikatong.medical import crossregion, interregion, national
from yikatong.medical.national import NationalMedicalPlatform, SimulatedRegionOffice, VisitClaim
from yikatong.medical.policy import policy_in_force
from yikatong.medical.rules import FeeLine, ItemClass, Level, MedType

pytestmark = pytest.mark.db

OFFICE = Actor(user_id="yb-clerk", role=Role.MEDICAL_OFFICE, channel=Channel.MEDICAL_DESK)
REGIONS = ("320100", "310000")
HOSPITALS = ("H32040200001", "H32041100002")


def balance(platform, code):
    with platform.uow() as uow:
        try:
            return ledger.balance(uow=uow, code=code)
        except AccountNotFound:
            return 0


@pytest.fixture
def world(clock):
    offices = {office.admdvs: office for office in national.simulated_offices()}
    # Only the routing needs Changzhou's office here (the visits are of other regions' people):
    # a simulated one with no insured people stands in for home_office.HomeOffice.
    home = SimulatedRegionOffice("320400", "常州 Changzhou", policy=policy_in_force(clock.now().date()))
    nation = NationalMedicalPlatform([*offices.values(), home], clock=clock)
    people = {admdvs: [office.enrol(cert_no=f"{admdvs}{i:012d}", name=f"访客{i}", balance=5_000 * i)
                       for i in range(3)] for admdvs, office in offices.items()}
    return nation, people, {"days": 0, "bank": 0, "owed_to_hospitals": 0}


visit = st.tuples(st.sampled_from(REGIONS), st.integers(0, 2), st.sampled_from(HOSPITALS),
                  st.sampled_from([MedType.OUTPATIENT, MedType.INPATIENT]), st.sampled_from([Level.ONE, Level.THREE]),
                  st.integers(1, 300_000), st.integers(0, 50_000), st.booleans(), st.booleans())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(visits=st.lists(visit, min_size=1, max_size=6))
def test_every_day_clears_to_the_fen_whatever_its_visits(platform, clock, world, visits):
    nation, people, state = world
    clock.advance(timedelta(days=1))
    state["days"] += 1
    with platform.uow() as uow:
        day = crossregion.today(uow)
    for number, (region, who, hospital, med_type, level, a_fen, c_fen, emergency, cancel) in enumerate(visits):
        lines = (FeeLine("A", ItemClass.A, a_fen, None, 0), FeeLine("C", ItemClass.C, c_fen, None, 0))
        claim = VisitClaim(msgid=f"d{state['days']}-{number}", mdtrtarea_admvs="320402", fixmedins_code=hospital,
                           insuplc_admdvs=region, psn_no=people[region][who], med_type=med_type, level=level,
                           lines=lines, day=day, emergency=emergency)
        with platform.uow() as uow:
            answer = interregion.settle_visiting(uow=uow, actor=OFFICE, national=nation, claim=claim)
        state["owed_to_hospitals"] += answer.owed
        if cancel:
            with platform.uow() as uow:
                back = interregion.cancel_visiting(uow=uow, actor=OFFICE, national=nation, setl_id=answer.setl_id,
                                                   msgid=f"{claim.msgid}-c")
            state["owed_to_hospitals"] += back.owed
    positions = {payer: sum(e.owed for e in nation.book() if e.day == day and e.payer == payer) for payer in REGIONS}
    for region in REGIONS:
        with platform.uow() as uow:
            batch = interregion.clear_day(uow=uow, actor=OFFICE, national=nation, counterpart_admdvs=region, day=day)
        assert batch.status == "agreed"
        assert batch.receivable == positions[region] and batch.payable == 0
        state["bank"] += batch.net
        assert balance(platform, interregion.receivable_account(region)) == 0
    assert balance(platform, interregion.BANK) == state["bank"]
    assert sum(balance(platform, interregion.institution_account(h)) for h in HOSPITALS) == state["owed_to_hospitals"]
    with platform.uow() as uow:  # again: the same batches, nothing posted twice
        for region in REGIONS:
            interregion.clear_day(uow=uow, actor=OFFICE, national=nation, counterpart_admdvs=region, day=day)
    assert balance(platform, interregion.BANK) == state["bank"]
