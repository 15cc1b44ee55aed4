"""A small synthetic population in which every state the code knows is present at least once:
people, applications, cards (HR and financial side), the bank's accounts, e-cards, transit
wallets, top-up orders, wallet refunds, rider grants, identity reviews, corrections,
employer links, and medical insurance (enrolments, personal accounts, visits in every state,
settlements settled and cancelled). Built only through the platform's own use cases (and, for the bank, the
reference bank's branch use cases), so every row obeys the rules and is audited.

Used by the API contract test (schemathesis then meets records in every state) and by
`ykt demo --population`, for a newcomer to look at. Everything is synthetic; nothing here is
read from outside the repository.

Time moves only where a state needs it (a rider grant that ran out), and the clock is left
where the states read as recorded: the 7-day temporary loss is reported last.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import local_date
from yikatong.demo.actors import (
    ADMIN,
    BANK_CODE,
    CHECKER,
    CITIZEN_OUTLET,
    ICBC_BRANCH,
    OUTLET,
    PHONE,
)

EMPLOYER_USCC = "91320400MA1M9XK3PH"
SEED = 20260302
# The password of the population's logins of people who work in pages (synthetic; for looking
# around in a demo and for the browser tests). The partner systems' logins have none: hashing
# a password is slow on purpose, and they are there to be looked at, deactivated or given API
# keys, not to sign in.
PASSWORD = "Changzhou-population-2026"
LOGINS_WITH_PASSWORD = frozenset({Role.ADMIN, Role.HOLDER, Role.SS_OUTLET, Role.CITIZEN_OUTLET,
                                  Role.PHONE_AGENT, Role.EMPLOYER_AGENT, Role.MEDICAL_OFFICE,
                                  Role.MEDICAL_INSTITUTION})
MEDICAL_HOSPITAL = "H32040200001"   # a Level 3 hospital of the reference list (the login's)
MEDICAL_COMMUNITY = "H32040200007"  # a community health centre
MEDICAL_PHARMACY = "P32040200101"


@dataclass
class PopulationIndex:
    """What was made, by the role each record plays (for tests and for `ykt demo`)."""

    person_ids: dict[str, int] = field(default_factory=dict)
    card_nos: dict[str, str] = field(default_factory=dict)
    application_ids: dict[str, int] = field(default_factory=dict)
    top_up_order_nos: dict[str, str] = field(default_factory=dict)
    review_ids: dict[str, int] = field(default_factory=dict)
    correction_ids: dict[str, int] = field(default_factory=dict)
    grant_ids: dict[str, int] = field(default_factory=dict)
    link_ids: dict[str, int] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)  # role played -> login name
    api_key_ids: dict[str, int] = field(default_factory=dict)
    ecard_nos: list[str] = field(default_factory=list)
    asns: list[str] = field(default_factory=list)
    closure_task_ids: list[str] = field(default_factory=list)
    setl_ids: dict[str, str] = field(default_factory=dict)  # medical settlements by what they show
    mdtrt_ids: dict[str, str] = field(default_factory=dict)  # medical visits by their state


def build_population(platform) -> PopulationIndex:
    """Load the reference data and build the population on the platform's database."""
    return Population(platform).build()


class Population:
    def __init__(self, platform) -> None:
        self.platform = platform
        self.clock = platform.clock
        self.rng = random.Random(SEED)
        self.index = PopulationIndex()
        self._serial = 0
        self.applicants: dict[str, object] = {}  # role -> ApplicantData as presented

    # --- small helpers ---------------------------------------------------------------------

    def call(self, operation: Callable, **kwargs):
        """One use case in its own unit of work, committed (a no-op for those that commit)."""
        with self.platform.uow() as uow:
            result = operation(uow=uow, **kwargs)
            uow.commit()
        return result

    def applicant(self, *, birth: date | None = None, gender: str | None = None,
                  name: str | None = None):
        from yikatong.applications.reference import synthetic_photo
        from yikatong.applications.service import ApplicantData
        from yikatong.people.samples import make_citizen_ssn, make_name

        self._serial += 1
        gender = gender or ("F" if self._serial % 2 else "M")
        birth = birth or date(1960 + self._serial % 40, 1 + self._serial % 12, 1 + self._serial % 27)
        number = make_citizen_ssn("320404", birth, gender, rng=self.rng)
        return ApplicantData(
            name=name or make_name(self.rng), document_type="resident_id_card",
            document_number=number, gender=gender, birth_date=birth, nationality="CHN",
            phone=f"139{self._serial:08d}", address=f"江苏省常州市钟楼区示例路 {self._serial} 号（虚构）",
            document_valid_until=date(2036, 1, 1), photo_jpeg=synthetic_photo(number))

    def submit(self, role: str, applicant=None, *, kind: str = "first",
               exchange_reason: str | None = None):
        from yikatong.applications.service import CardChoice, submit_at_outlet

        choice = CardChoice(kind=kind, bank_code=BANK_CODE, pickup_outlet_code="SS-TN-01",
                            exchange_reason=exchange_reason)
        applicant = applicant or self.applicant()
        self.applicants[role] = applicant
        with self.platform.uow() as uow:
            application = submit_at_outlet(uow=uow, actor=OUTLET, applicant=applicant,
                                           choice=choice)
        self.index.application_ids[role] = application.id
        if application.person_id is not None:
            self.index.person_ids.setdefault(role, application.person_id)
        return application

    def submit_online(self, role: str):
        """An online application (real-name checked) by a person the synthetic population
        registry has on file, delivered by EMS cash on delivery."""
        from yikatong.applications.protocols import IdentityAuthenticator, PopulationRegistry
        from yikatong.applications.reference import SYNTHETIC_PEOPLE
        from yikatong.applications.service import CardChoice, submit_online

        name, number, *_ = SYNTHETIC_PEOPLE[0]
        actor = Actor(user_id=f"population-{role}", role=Role.HOLDER, channel=Channel.ONLINE_APP)
        choice = CardChoice(kind="first", bank_code=BANK_CODE, delivery="ems_cod",
                            mailing_address="江苏省常州市天宁区示例街 1 号（虚构）")
        with self.platform.uow() as uow:
            application = submit_online(
                uow=uow, actor=actor, name=name, id_number=number, evidence="face-ok",
                choice=choice, phone="13900000000",
                authenticator=self.platform.get(IdentityAuthenticator),
                registry=self.platform.get(PopulationRegistry))
        self.index.application_ids[role] = application.id
        self.index.person_ids[role] = application.person_id
        return application

    def approve(self, *roles: str) -> None:
        from yikatong.applications import service as applications

        for role in roles:
            with self.platform.uow() as uow:
                applications.approve(uow=uow, actor=OUTLET,
                                     application_id=self.index.application_ids[role])

    def produce(self, *roles: str) -> None:
        """Approve the roles' applications and run production: each gets its card (and chip)."""
        from yikatong.applications import production
        from yikatong.applications.protocols import CardFactory

        self.approve(*roles)
        production.run_production(uows=self.platform.uow, actor=ADMIN,
                                  factory=self.platform.get(CardFactory),
                                  personalise=production.chip_personaliser(self.platform))
        for role in roles:
            self.index.card_nos[role] = self.application(role).card_no

    def application(self, role: str):
        from yikatong.applications import service as applications

        with self.platform.uow() as uow:
            return applications.get_application(uow=uow, actor=ADMIN,
                                                application_id=self.index.application_ids[role])

    def hand_over(self, *roles: str) -> None:
        from yikatong.applications import service as applications

        for role in roles:
            application_id = self.index.application_ids[role]
            for move in (applications.mark_ready_for_pickup, applications.hand_over):
                with self.platform.uow() as uow:
                    move(uow=uow, actor=OUTLET, application_id=application_id)

    def card(self, role: str):
        from yikatong.cards import service as cards

        with self.platform.uow() as uow:
            return cards.get_card(uow=uow, card_no=self.index.card_nos[role])

    def reader(self, role: str):
        from yikatong.chip.protocols import ChipStore
        from yikatong.chip.reader import EmulatorReader

        reader = EmulatorReader(self.platform.get(ChipStore).load(self.index.card_nos[role]))
        reader.connect()
        return reader

    # --- the population ----------------------------------------------------------------------

    def build(self) -> PopulationIndex:
        from yikatong.directory.service import load_reference_data

        self.call(load_reference_data, actor=Actor.system("population"))
        self.cards_in_hand()
        self.rider_grants()  # moves the clock two days on: the first grant runs out
        self.financial_side()
        self.wallets()
        self.retirements()
        self.applications_on_the_way()
        self.people_under_review()
        self.corrections_and_links()
        self.logins()
        self.medical()
        self.losses()  # last: the 7-day temporary loss is in force at the clock left behind
        self.collect_index()
        return self.index

    # Cards in use, each to end in one state; `holder` is the first person (the richest record).
    IN_HAND = ("holder", "not_activated", "temporary_loss", "formal_loss", "frozen",
               "financial_temporary_loss", "financial_expired", "replaced", "exchanged",
               "transferred_out", "deceased", "top_up_paid", "top_up_pending_write",
               "top_up_created", "top_up_refunding", "refund_closing")

    def cards_in_hand(self) -> None:
        from yikatong.cards import service as cards

        for role in self.IN_HAND:
            self.submit(role)
        self.produce(*self.IN_HAND)
        self.hand_over(*self.IN_HAND)
        for role in self.IN_HAND:
            if role != "not_activated":
                self.call(cards.activate_financial, actor=ICBC_BRANCH,
                          card_no=self.index.card_nos[role])

    def rider_grants(self) -> None:
        """Active, revoked and expired grants (a student grant that ran out, then renewed)."""
        from yikatong.transit import grants

        person = self.index.person_ids["holder"]
        today = local_date(self.clock.now())

        def grant(role: str, category: str, proof: str, until: date | None) -> None:
            view = self.call(grants.grant_rider_category, actor=CITIZEN_OUTLET,
                             idempotency_key=f"population-grant-{role}", person_id=person,
                             category=category, proof_kind=proof,
                             proof_reference=f"POP-{role.upper()}-0001", valid_until=until)
            self.index.grant_ids[role] = view.id

        grant("expired", "student", "student_status_certificate", today + timedelta(days=1))
        self.clock.advance(timedelta(days=2))
        grant("active", "student", "student_status_certificate", today + timedelta(days=200))
        grant("revoked", "disabled", "disability_certificate", None)
        self.call(grants.revoke_rider_grant, actor=CITIZEN_OUTLET,
                  grant_id=self.index.grant_ids["revoked"], reason="recorded in error (synthetic)")

    def financial_side(self) -> None:
        """The financial function in each state the bank can put it in."""
        from yikatong.cards import service as cards
        from yikatong.cards.protocols import BankEvent, BankEventType

        card_no = self.index.card_nos
        self.call(cards.report_loss, actor=ICBC_BRANCH, card_no=card_no["financial_temporary_loss"],
                  kind="temporary", function="financial")
        # The reference bank never decides an expiry itself; a partner bank tells the platform
        # through its event door (POST /cards/bank-events), which is this use case.
        expired = self.card("financial_expired")
        self.call(cards.apply_bank_event, event=BankEvent(
            event_id=f"{BANK_CODE}-population-expired-1", bank_code=BANK_CODE,
            card_no=expired.card_no, pan=expired.pan, type=BankEventType.EXPIRED,
            occurred_at=self.clock.now(), channel="bank_rule"))

    def wallets(self) -> None:
        self.top_ups()
        self.wallet_refunds()

    def top_up(self, role: str, order: str, *, payer=None, write: bool = True):
        """Read the role's card at a citizen-card counter, order a top-up and (if `write`)
        write it to the card; returns the order and the reader the card is in."""
        from yikatong.transit import service as transit
        from yikatong.transit.protocols import Payer, PayerKind

        reader = self.reader(role)
        transit.contact(platform=self.platform, reader=reader, actor=CITIZEN_OUTLET)
        view = transit.create_top_up(platform=self.platform, actor=CITIZEN_OUTLET,
                                     idempotency_key=f"population-{order}",
                                     asn=self.card(role).asn, amount=5000,
                                     payer=payer or Payer(PayerKind.CASH, "till SMK-DIRECT-01"))
        self.index.top_up_order_nos[order] = view.order_no
        if write:
            transit.write_top_up(platform=self.platform, reader=reader, actor=CITIZEN_OUTLET,
                                 order_no=view.order_no)
        return view, reader

    def top_ups(self) -> None:
        """Top-up orders in every state (one open order per card at a time)."""
        from yikatong.chip.emulator import TearPoint
        from yikatong.chip.protocols import CardRemoved
        from yikatong.transit import service as transit
        from yikatong.transit.protocols import Payer, PayerKind, PaymentDeclined, PaymentUnavailable

        orders = self.index.top_up_order_nos
        self.top_up("holder", "done")
        try:
            self.top_up("holder", "failed", payer=Payer(PayerKind.CASH, "DECLINE-population"))
        except PaymentDeclined:  # the order is recorded as failed
            orders["failed"] = self._order_of_key("population-failed")
        refunded, _ = self.top_up("holder", "refunded", write=False)
        transit.refund_order(platform=self.platform, order_no=refunded.order_no,
                             reason="holder changed their mind (synthetic)", actor=CITIZEN_OUTLET)
        self.top_up("top_up_paid", "paid", write=False)
        torn, reader = self.top_up("top_up_pending_write", "pending_write", write=False)
        reader.card.arm_tear(TearPoint.BEFORE_COMMIT, ins=0x52)  # at CREDIT FOR LOAD
        try:
            transit.write_top_up(platform=self.platform, reader=reader, actor=CITIZEN_OUTLET,
                                 order_no=torn.order_no)
        except CardRemoved:
            pass  # the card left mid-write: the order waits as pending_write
        with self._acquirer_down():
            try:
                self.top_up("top_up_created", "created", write=False)
            except PaymentUnavailable:  # the order waits as created
                orders["created"] = self._order_of_key("population-created")
        refunding, _ = self.top_up("top_up_refunding", "refunding", write=False)
        with self._acquirer_down():
            try:
                transit.refund_order(platform=self.platform, order_no=refunding.order_no,
                                     reason="acquirer outage (synthetic)", actor=CITIZEN_OUTLET)
            except PaymentUnavailable:
                pass  # claimed for the refund, the acquirer did not answer: refunding

    def wallet_refunds(self) -> None:
        """退值: read from the card and refunded (before the exchange), one torn halfway
        (closing), one card too damaged to read (waiting for the shadow balance)."""
        from yikatong.chip.emulator import TearPoint
        from yikatong.chip.protocols import CardRemoved
        from yikatong.transit import refunds

        card_no = self.index.card_nos
        refunds.refund_wallet(platform=self.platform, reader=self.reader("exchanged"),
                              actor=CITIZEN_OUTLET, card_no=card_no["exchanged"])
        reader = self.reader("refund_closing")
        reader.card.arm_tear(TearPoint.BEFORE_COMMIT, ins=0x1E)  # at APPLICATION BLOCK
        try:
            refunds.refund_wallet(platform=self.platform, reader=reader, actor=CITIZEN_OUTLET,
                                  card_no=card_no["refund_closing"])
        except CardRemoved:
            pass  # the card left before the wallet was closed on it: closing
        self.call(refunds.register_unreadable_wallet, actor=CITIZEN_OUTLET,
                  card_no=card_no["deceased"])

    def _order_of_key(self, key: str) -> str:
        from sqlalchemy import select

        from yikatong.transit.models import TopUpOrder

        with self.platform.uow() as uow:
            return uow.session.execute(select(TopUpOrder.order_no).where(
                TopUpOrder.idempotency_key == key)).scalar_one()

    def _acquirer_down(self):
        """The acquirer does not answer for a while (an outside system's outage)."""
        import contextlib

        from yikatong.transit.protocols import PaymentGateway, PaymentUnavailable

        platform = self.platform

        class Unreachable:
            def __getattr__(self, name):
                def call(**_kwargs):
                    raise PaymentUnavailable()
                return call

        @contextlib.contextmanager
        def outage():
            working = platform.get(PaymentGateway)
            platform.provide(PaymentGateway, Unreachable())
            try:
                yield
            finally:
                platform.provide(PaymentGateway, working)

        return outage()

    def retirements(self) -> None:
        """Replaced, exchanged (and its account closed at the bank), transferred out, deceased."""
        from yikatong.banking import service as banking
        from yikatong.banking.runtime import ReferenceBank
        from yikatong.cards import service as cards

        card_no = self.index.card_nos
        person = self.index.person_ids
        # Replacement after a formal loss at the bank (both functions lost there).
        self.call(cards.report_loss, actor=ICBC_BRANCH, card_no=card_no["replaced"],
                  kind="formal")
        self.submit("replacement", self._same_person("replaced"), kind="replacement")
        self.produce("replacement")
        self.hand_over("replacement")
        # Exchange (damage) after the wallet refund; the bank closes the old account.
        self.submit("exchange", self._same_person("exchanged"), kind="exchange",
                    exchange_reason="damage")
        self.produce("exchange")
        self.hand_over("exchange")
        bank = self.platform.get(ReferenceBank)
        with bank.uow() as uow:
            tasks = banking.closure_tasks(uow=uow, bank_code=BANK_CODE)
        for task in tasks:
            with bank.uow() as uow:
                banking.complete_closure(uow=uow, actor=ICBC_BRANCH, bank_code=BANK_CODE,
                                         task_id=task.task_id)
                bank.commit(uow)
            self.index.closure_task_ids.append(task.task_id)
        self.call(cards.transfer_out, actor=ADMIN, card_no=card_no["transferred_out"],
                  destination_province="31", rule_note="转入地规定换发当地社保卡（虚构）")
        self.call(cards.retire_deceased, actor=ADMIN, card_no=card_no["deceased"],
                  note="死亡注销（虚构）")
        person.setdefault("replacement", person["replaced"])
        person.setdefault("exchange", person["exchanged"])

    def _same_person(self, role: str):
        """The applicant data the person of `role` presented (same document, same person)."""
        return self.applicants[role]

    def applications_on_the_way(self) -> None:
        """Applications in every state that has no card in hand yet (and a cancelled card)."""
        from yikatong.applications import production
        from yikatong.applications import service as applications
        from yikatong.applications.protocols import CardFactory

        for role in ("produced", "ready_for_pickup", "cancelled_card"):
            self.submit(role)
        self.submit_online("shipped")
        self.produce("produced", "ready_for_pickup", "shipped", "cancelled_card")
        self.call(applications.mark_ready_for_pickup, actor=OUTLET,
                  application_id=self.index.application_ids["ready_for_pickup"])
        self.call(applications.ship, actor=OUTLET, tracking_no="EA123456789CN",
                  application_id=self.index.application_ids["shipped"])
        self.call(applications.cancel, actor=OUTLET, reason="持卡人放弃领取（虚构）",
                  application_id=self.index.application_ids["cancelled_card"])
        self.submit("rejected")
        self.call(applications.reject, actor=OUTLET, reason="照片不符合要求（虚构）",
                  application_id=self.index.application_ids["rejected"])
        self.submit("in_production")
        self.approve("in_production")
        with self.platform.uow() as uow:  # handed to the factory, not collected yet
            production.start_production_batch(uow=uow, actor=ADMIN,
                                              factory=self.platform.get(CardFactory))
        self.submit("approved")
        self.approve("approved")
        self.submit("submitted")

    def people_under_review(self) -> None:
        """Identity reviews: open, waiting for the second operator, merged, distinct."""
        from yikatong.people import service as people

        for role in ("review_open", "review_pending_approval", "review_merged", "review_distinct"):
            namesake = self.applicants["submitted"]
            twin = self.applicant(birth=namesake.birth_date, gender=namesake.gender,
                                  name=namesake.name)
            self.submit(role, twin)
            self.index.review_ids[role] = self.application(role).identity_review_id
        reviews = self.index.review_ids
        for role in ("review_pending_approval", "review_merged"):
            self.call(people.resolve_review, actor=ADMIN, review_id=reviews[role],
                      resolution="merge", reason="同一人（虚构）")
        self.call(people.approve_review, actor=CHECKER, review_id=reviews["review_merged"])
        self.call(people.resolve_review, actor=ADMIN, review_id=reviews["review_distinct"],
                  resolution="distinct", reason="不同人（虚构）")

    def corrections_and_links(self) -> None:
        """Corrections pending, approved and rejected; employer links open and ended."""
        from yikatong.applications.service import (
            AgentData,
            CardChoice,
            EmployeeRow,
            submit_employer_batch,
        )
        from yikatong.employers import service as employers
        from yikatong.people import service as people

        corrections = self.index.correction_ids
        for role, subject in (("pending", "submitted"), ("approved", "rejected"),
                              ("rejected", "approved")):
            view = self.call(people.propose_correction, actor=ADMIN,
                             person_id=self.index.person_ids[subject],
                             changes={"name": f"更正{role}"}, reason="登记错误（虚构）")
            corrections[role] = view.id
        self.call(people.approve_correction, actor=CHECKER, correction_id=corrections["approved"])
        self.call(people.reject_correction, actor=CHECKER, correction_id=corrections["rejected"],
                  reason="材料不足（虚构）")
        choice = CardChoice(kind="first", bank_code=BANK_CODE, pickup_outlet_code="SS-TN-01")
        agent = self.applicant()
        submit_employer_batch(
            uows=self.platform.uow, actor=OUTLET, employer_name="常州示例科技有限公司（虚构）",
            uscc=EMPLOYER_USCC, employees=[EmployeeRow(self.applicant(), choice),
                                           EmployeeRow(self.applicant(), choice)],
            agent=AgentData(name=agent.name, document_type=agent.document_type,
                            document_number=agent.document_number))
        with self.platform.uow() as uow:
            links = employers.list_links(uow=uow, actor=ADMIN)
        self.index.link_ids["open"], self.index.link_ids["ended"] = links[0].id, links[1].id
        self.call(employers.end_link, actor=ADMIN, link_id=links[1].id,
                  reason="离职（虚构）")

    def logins(self) -> None:
        """A login for every role (the holder's linked to the first person), one deactivated
        operator, and a partner's API keys: one live, one revoked. The people who work in
        pages (LOGINS_WITH_PASSWORD) sign in with PASSWORD."""
        from yikatong.auth import service as auth

        scoped = {Role.HOLDER: {"person_id": self.index.person_ids["holder"]},
                  Role.SS_OUTLET: {"branch_code": "SS-TN-01"},
                  Role.CITIZEN_OUTLET: {"branch_code": "SMK-DIRECT-01"},
                  Role.EMPLOYER_AGENT: {"employer_uscc": EMPLOYER_USCC},
                  Role.BANK: {"bank_code": BANK_CODE, "branch_code": "ICBC-CZ-001"},
                  Role.MEDICAL_INSTITUTION: {"branch_code": "H32040200001"},
                  Role.PAYING_OFFICE: {"branch_code": "CZ-SI"},
                  Role.BILLER: {"branch_code": "CZ-WATER"},
                  Role.VENUE_OPERATOR: {"branch_code": "CZ-DINO"},
                  Role.LIBRARIAN: {"branch_code": "CZLIB"},
                  Role.MERCHANT: {"branch_code": "M-CZ-0001"},
                  Role.CAMPAIGN_SPONSOR: {"branch_code": "CZ-HRSS"}}
        people = [(str(role), role) for role in Role if role is not Role.SYSTEM]
        people.append(("deactivated", Role.SS_OUTLET))
        with self.platform.uow() as uow:
            users = {}
            for name, role in people:
                username = f"population-{name}".replace("_", "-")
                password = PASSWORD if role in LOGINS_WITH_PASSWORD and name == role else None
                users[name] = auth.create_user(uow=uow, actor=ADMIN, username=username,
                                               password=password, role=role,
                                               **scoped.get(role, {}))
                self.index.usernames[name] = username
            auth.set_active(uow=uow, actor=ADMIN, user=users["deactivated"], active=False)
            for label in ("live", "revoked"):
                _, key = auth.issue_api_key(uow=uow, user=users[str(Role.BANK)], actor=ADMIN,
                                            label=f"population {label}")
                self.index.api_key_ids[label] = key.id
            auth.revoke_api_key(uow=uow, actor=ADMIN, user=users[str(Role.BANK)],
                                key_id=self.index.api_key_ids["revoked"])
            uow.commit()

    def medical(self) -> None:
        """Medical insurance: the holder enrolled as an employee with a personal account and
        settled visits at a Level 3 hospital, a community centre and a pharmacy, and a chronic
        disease filed; a retired employee with a cancelled settlement and a visit still open; a
        resident with an inpatient stay discharged, not yet settled. All through the office's
        and the institutions' own use cases (visits.py), on the clock's day."""
        from yikatong.medical import service as medical
        from yikatong.medical import visits
        from yikatong.medical.visits import FeeInput

        office = Actor(user_id="population-medical-office", role=Role.MEDICAL_OFFICE,
                       channel=Channel.MEDICAL_DESK)
        self.call(medical.load_reference_data, actor=Actor.system("population"))
        with self.platform.uow() as uow:
            today = medical.today(uow)
        january = today.replace(month=1, day=1)
        people = {role: self.index.person_ids[role] for role in ("holder", "top_up_paid", "not_activated")}
        self.call(medical.enrol, actor=office, person_id=people["holder"], scheme="310",
                  insured_admdvs="320404", start_date=january, employer_uscc=EMPLOYER_USCC,
                  employer_name="常州示例科技有限公司（虚构）")
        self.call(medical.enrol, actor=office, person_id=people["top_up_paid"], scheme="310",
                  insured_admdvs="320402", start_date=january, retired=True)
        self.call(medical.enrol, actor=office, person_id=people["not_activated"], scheme="390",
                  insured_admdvs="320411", start_date=january)
        for role, amount in (("holder", 80_000), ("top_up_paid", 50_000)):
            self.call(medical.credit_account, actor=office, person_id=people[role], amount=amount,
                      request_id=f"population-credit-{role}")
        self.call(medical.file_disease, actor=office, person_id=people["holder"], kind="chronic",
                  disease_code="I10.X00", disease_name="高血压（虚构）", begin_date=january)
        serial = iter(range(1, 100))

        def at(code: str):
            actor = Actor(user_id=f"population-his-{code}", role=Role.MEDICAL_INSTITUTION,
                          channel=Channel.HOSPITAL, branch_code=code)

            def call(operation, msgid: str | None = None, **kwargs):
                with self.platform.uow() as uow:
                    return operation(uow=uow, actor=actor, msgid=msgid or f"POP{next(serial):05d}",
                                     **kwargs)
            return call

        def ssn(role: str) -> str:
            return self.applicants[role].document_number

        def outpatient(code: str, role: str, lines: list):
            call = at(code)
            visit = call(visits.register, cert_type="02", cert_no=ssn(role),
                         med_type="41" if code.startswith("P") else "11")
            call(visits.upload_fees, mdtrt_id=visit.mdtrt_id, lines=lines)
            return visit, call(visits.settle, mdtrt_id=visit.mdtrt_id, cert_type="02", cert_no=ssn(role))

        consult = [FeeInput("1", "001102000030000", 1, 4_000), FeeInput("2", "002101000010000", 1, 2_000),
                   FeeInput("3", "XC10AAA040A001010100345", 2, 3_500)]
        scan = [FeeInput("1", "001102000020000", 1, 2_500), FeeInput("2", "002305000010000", 1, 60_000),
                FeeInput("3", "002303000010000", 1, 8_000), FeeInput("4", "XA11GAV010A001010109999", 1, 1_500)]
        self.index.setl_ids["hospital"] = outpatient(MEDICAL_HOSPITAL, "holder", scan)[1].setl_id
        self.index.setl_ids["community"] = outpatient(MEDICAL_COMMUNITY, "holder", consult)[1].setl_id
        self.index.setl_ids["pharmacy"] = outpatient(MEDICAL_PHARMACY, "holder", [
            FeeInput("1", "XA10BAE010A001010100123", 2, 1_200)])[1].setl_id
        self.index.setl_ids["resident"] = outpatient(MEDICAL_HOSPITAL, "not_activated", consult)[1].setl_id
        visit, cancelled = outpatient(MEDICAL_HOSPITAL, "top_up_paid", consult)
        at(MEDICAL_HOSPITAL)(visits.cancel, setl_id=cancelled.setl_id, mdtrt_id=visit.mdtrt_id)
        self.index.setl_ids["cancelled"] = cancelled.setl_id
        self.index.mdtrt_ids["open"] = visit.mdtrt_id  # reopened by the cancellation
        self.index.mdtrt_ids["settled"] = outpatient(MEDICAL_HOSPITAL, "top_up_paid", consult)[1].mdtrt_id
        call = at(MEDICAL_HOSPITAL)
        stay = call(visits.admit, cert_type="02", cert_no=ssn("not_activated"), dept="普外科")
        call(visits.upload_fees, mdtrt_id=stay.mdtrt_id, lines=[
            FeeInput("1", "001103000010000", 3, 4_500), FeeInput("2", "003301000010000", 1, 180_000)])
        call(visits.discharge, mdtrt_id=stay.mdtrt_id)
        self.index.mdtrt_ids["discharged"] = stay.mdtrt_id
        community = at(MEDICAL_COMMUNITY)  # a registration whose answer was lost, reversed (2601)
        withdrawn = community(visits.register, msgid="POP-LOST-1", cert_type="02", cert_no=ssn("top_up_paid"))
        community(visits.reverse, omsgid="POP-LOST-1", oinfno="2201")
        self.index.mdtrt_ids["cancelled"] = withdrawn.mdtrt_id

    def losses(self) -> None:
        """HR losses and the freeze, reported last so the 7-day temporary loss is in force."""
        from yikatong.cards import service as cards

        card_no = self.index.card_nos
        holder = Actor(user_id="population-holder", role=Role.HOLDER, channel=Channel.ONLINE_APP,
                       person_id=self.index.person_ids["formal_loss"])
        self.call(cards.report_loss, actor=holder, card_no=card_no["formal_loss"], kind="formal")
        self.call(cards.report_loss, actor=ICBC_BRANCH, card_no=card_no["formal_loss"],
                  kind="formal", function="financial")  # online covers the HR side only
        self.call(cards.freeze, actor=ADMIN, card_no=card_no["frozen"], reason_code="fraud_suspected",
                  note="冻结（虚构）")
        self.call(cards.report_loss, actor=PHONE, card_no=card_no["temporary_loss"],
                  kind="temporary")

    def collect_index(self) -> None:
        from sqlalchemy import select

        from yikatong.ecard.models import Ecard
        from yikatong.transit.models import TransitWallet

        with self.platform.uow() as uow:
            self.index.ecard_nos = list(uow.session.execute(
                select(Ecard.ecard_no).order_by(Ecard.id)).scalars())
            self.index.asns = list(uow.session.execute(
                select(TransitWallet.asn).order_by(TransitWallet.id)).scalars())


def run_population(*, console, workdir=None, start=None) -> PopulationIndex:
    """`ykt demo --population`: build the population on a fresh SQLite database (migrated as
    `ykt serve` migrates, so a kept one can be served) and print what is in it."""
    from rich.table import Table

    from yikatong.demo.scenario import demo_platform, serve_command

    with demo_platform(workdir, start) as platform:
        index = build_population(platform)
        table = Table(title="合成人群 / the synthetic population: a card in every state")
        for column in ("role", "person", "card", "HR", "financial", "application"):
            table.add_column(column)
        with platform.uow() as uow:
            from yikatong.cards import service as cards

            for role, card_no in index.card_nos.items():
                card = cards.get_card(uow=uow, card_no=card_no)
                table.add_row(role, str(index.person_ids.get(role, "")), card_no,
                              card.hr_status, card.financial_status,
                              str(index.application_ids.get(role, "")))
        console.print(table)
        console.print(f"applications {len(index.application_ids)}, top-up orders "
                      f"{len(index.top_up_order_nos)}, e-cards {len(index.ecard_nos)}, "
                      f"logins {len(index.usernames)} (people's logins: password {PASSWORD})")
    if workdir is not None:
        console.print("查看 / to look at it in the API and pages:\n" + serve_command(workdir),
                      soft_wrap=True)
    return index
