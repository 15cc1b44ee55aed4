"""Production: approved applications go to the card factory in batches; results come back
asynchronously and each card is registered (and its chip personalised) in a transaction of
its own, so one spoiled card does not hold back the rest of the batch."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from yikatong.applications import rules
from yikatong.applications.errors import (
    CardNotProducedYet,
    FactoryUnavailable,
    NothingToProduce,
    ProductionBatchNotFound,
)
from yikatong.applications.models import Application, ProductionBatch
from yikatong.applications.protocols import (
    CardFace,
    CardFactory,
    CardFactoryError,
    CardOrder,
    FactoryBatch,
    FactoryBatchUnknown,
    FactoryResults,
    ProducedCard,
)
from yikatong.applications.service import _load, _move
from yikatong.core.actor import Actor
from yikatong.core.clock import local_date
from yikatong.core.errors import DomainError
from yikatong.db.uow import UnitOfWork

log = logging.getLogger(__name__)

# 发卡单位公章: the issuing authority whose seal is printed on side B (seed 一).
ISSUING_SEAL = "江苏省人力资源和社会保障厅"
HR_HOTLINE = "12333"


@dataclass(frozen=True)
class ProductionBatchView:
    id: int
    factory_batch_id: str | None
    status: str
    issue_date: date
    size: int
    produced: int
    failed: int
    application_ids: tuple[int, ...]


@dataclass(frozen=True)
class CollectOutcome:
    batch: ProductionBatchView
    complete: bool
    produced_card_nos: tuple[str, ...] = ()
    failures: tuple[tuple[int, str], ...] = ()   # (application id, reason)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FaceProof:
    """Side B as printed: the face data plus the numbers the factory assigned."""

    face: CardFace
    card_no: str
    pan: str


def _batch_view(uow: UnitOfWork, batch: ProductionBatch) -> ProductionBatchView:
    ids = uow.session.execute(
        select(Application.id).where(Application.production_batch_id == batch.id)
        .order_by(Application.id)).scalars()
    return ProductionBatchView(
        id=batch.id, factory_batch_id=batch.factory_batch_id, status=batch.status,
        issue_date=batch.issue_date, size=batch.size, produced=batch.produced,
        failed=batch.failed, application_ids=tuple(ids),
    )


def card_face(*, uow: UnitOfWork, application_id: int, issue_date=None) -> CardFace:
    """The side-B data of an application's card (seed 一): bank, photo, name, ssn, person
    code, issue date, issuing seal, 12333 and the bank's hotline."""
    from yikatong.directory.service import get_bank
    from yikatong.people.service import get_person, get_photo

    app = _load(uow, application_id)
    person = get_person(uow=uow, person_id=app.person_id)
    bank = get_bank(uow=uow, bank_code=app.bank_code)
    return CardFace(
        bank_code=bank.code, bank_name=bank.name_zh, bank_hotline=bank.hotline,
        name=person.name, ssn=person.ssn, person_code=person.person_code,
        issue_date=issue_date or app.issue_date, issuing_seal=ISSUING_SEAL,
        hr_hotline=HR_HOTLINE, photo_jpeg=get_photo(uow=uow, person_id=person.id),
    )


def face_proof(*, uow: UnitOfWork, application_id: int) -> FaceProof:
    app = _load(uow, application_id)
    if app.card_no is None:
        raise CardNotProducedYet()
    return FaceProof(face=card_face(uow=uow, application_id=app.id), card_no=app.card_no,
                     pan=app.pan)


def start_production_batch(
    *, uow: UnitOfWork, actor: Actor, factory: CardFactory, limit: int | None = None,
) -> ProductionBatchView:
    """Put approved applications (oldest first) into one batch and hand it to the factory.

    The issue date printed on the cards is today's date in Changzhou. If the factory cannot
    take the batch nothing changes (FactoryUnavailable)."""
    query = select(Application).where(Application.status == "approved").order_by(Application.id)
    applications = list(uow.session.execute(query.limit(limit)).scalars())
    if not applications:
        raise NothingToProduce()
    issue_date = local_date(uow.now())
    batch = ProductionBatch(status="submitted", issue_date=issue_date, size=len(applications),
                            produced=0, failed=0, created_at=uow.now())
    uow.session.add(batch)
    uow.session.flush()
    for app in applications:
        _move(uow, actor, app, "in_production", action="application.production_start",
              production_batch_id=batch.id)
    try:
        batch.factory_batch_id = factory.submit_batch(_factory_batch(uow, batch, applications))
    except CardFactoryError as error:
        raise FactoryUnavailable() from error
    uow.audit(actor=actor, action="production_batch.submit", entity_type="production_batch",
              entity_id=batch.id, after={"size": batch.size, "issue_date": str(issue_date),
                                         "factory_batch_id": batch.factory_batch_id})
    uow.commit()
    return _batch_view(uow, batch)


def _factory_batch(uow: UnitOfWork, batch: ProductionBatch,
                   applications: list[Application]) -> FactoryBatch:
    """The order the factory gets for a batch: under the batch's reference, so handing it over
    again is recognised (the factory dedupes by reference)."""
    from yikatong.directory.service import get_bank

    return FactoryBatch(reference=f"PB{batch.id:06d}", orders=tuple(CardOrder(
        application_id=app.id,
        face=card_face(uow=uow, application_id=app.id, issue_date=batch.issue_date),
        bin_prefixes=get_bank(uow=uow, bank_code=app.bank_code).bin_prefixes,
    ) for app in applications))


def _results(uows, factory: CardFactory, batch_id: int, factory_batch_id: str) -> FactoryResults:
    """The factory's results for the batch. A factory that does not know the batch (it lost it,
    or a restart of a factory keeping batches in memory) is handed it again, then asked again."""
    try:
        try:
            return factory.results(factory_batch_id)
        except FactoryBatchUnknown:
            with uows() as uow:
                batch = uow.session.get(ProductionBatch, batch_id)
                waiting = list(uow.session.execute(select(Application).where(
                    Application.production_batch_id == batch_id,
                    Application.status == "in_production").order_by(Application.id)).scalars())
                again = factory.submit_batch(_factory_batch(uow, batch, waiting))
            return factory.results(again)
    except CardFactoryError as error:
        raise FactoryUnavailable() from error


def collect_production_batch(
    *, uows: Callable[[], UnitOfWork], actor: Actor, factory: CardFactory, batch_id: int,
    personalise: Callable[..., None] | None = None,
    on_card: Callable[[int, int], None] | None = None,
) -> CollectOutcome:
    """Poll the factory; when the batch is done register each card (one transaction per card)
    and close the batch. Safe to call again: cards already registered are skipped."""
    with uows() as uow:
        batch = uow.session.get(ProductionBatch, batch_id)
        if batch is None:
            raise ProductionBatchNotFound(batch_id=batch_id)
        if batch.status == "completed":
            return CollectOutcome(batch=_batch_view(uow, batch), complete=True)
        factory_batch_id = batch.factory_batch_id
    results = _results(uows, factory, batch_id, factory_batch_id)
    if not results.complete:
        with uows() as uow:
            return CollectOutcome(batch=_batch_view(uow, uow.session.get(ProductionBatch, batch_id)),
                                  complete=False)
    produced, failures, warnings = [], [], []
    total = len(results.produced) + len(results.failed)
    for done, card in enumerate(results.produced, start=1):
        result = _register_card(uows, actor, batch_id, card, personalise or _personalise_chip)
        if result.registered:
            produced.append(card.card_no)
        elif result.failure:
            failures.append((card.application_id, result.failure))
        warnings.extend(result.warnings)
        if on_card:
            on_card(done, total)
    for done, failed in enumerate(results.failed, start=len(results.produced) + 1):
        _return_to_approved(uows, actor, batch_id, failed.application_id, failed.reason)
        failures.append((failed.application_id, failed.reason))
        if on_card:
            on_card(done, total)
    with uows() as uow:
        batch = uow.session.get(ProductionBatch, batch_id)
        batch.status, batch.completed_at = "completed", uow.now()
        batch.produced, batch.failed = len(produced), len(failures)
        uow.audit(actor=actor, action="production_batch.complete", entity_type="production_batch",
                  entity_id=batch_id, after={"produced": batch.produced, "failed": batch.failed})
        uow.commit()
        return CollectOutcome(batch=_batch_view(uow, batch), complete=True,
                              produced_card_nos=tuple(produced), failures=tuple(failures),
                              warnings=tuple(warnings))


@dataclass(frozen=True)
class _CardResult:
    registered: bool = False            # False and no failure: handled by an earlier collect
    failure: str | None = None          # why the card was refused (application back to approved)
    warnings: tuple[str, ...] = ()


def _register_card(uows, actor: Actor, batch_id: int, card: ProducedCard,
                   personalise: Callable[..., None]) -> _CardResult:
    """Register one produced card with the card registry, in a transaction of its own."""
    problems = rules.produced_card_problems(card_no=card.card_no, card_id_code=card.card_id_code,
                                            asn=card.asn, pan=card.pan)
    failure = "factory returned malformed " + ", ".join(problems) if problems else None
    if failure is None:
        try:
            return _register_checked_card(uows, actor, batch_id, card, personalise)
        except DomainError as error:
            failure = f"{error.code}: {error.message_en}"
    _return_to_approved(uows, actor, batch_id, card.application_id, failure)
    return _CardResult(failure=failure)


def _register_checked_card(uows, actor: Actor, batch_id: int, card: ProducedCard,
                           personalise: Callable[..., None]) -> _CardResult:
    from yikatong.cards.service import register_produced_card
    from yikatong.directory.rules import bin_matches
    from yikatong.directory.service import get_bank

    with uows() as uow:
        app = uow.session.get(Application, card.application_id)
        if app is None or app.status != "in_production" or app.production_batch_id != batch_id:
            return _CardResult()  # registered by an earlier collect, or cancelled meanwhile
        batch = uow.session.get(ProductionBatch, batch_id)
        register_produced_card(
            uow=uow, actor=actor, application_id=app.id, person_id=app.person_id, kind=app.kind,
            bank_code=app.bank_code, card_no=card.card_no, card_id_code=card.card_id_code,
            chip_serial=card.chip_serial, pan=card.pan, asn=card.asn,
            issue_date=batch.issue_date, predecessor_card_no=app.predecessor_card_no,
        )
        _move(uow, actor, app, "produced", action="application.produced", card_no=card.card_no,
              pan=card.pan, issue_date=batch.issue_date)
        personalise(uow=uow, card=card, face=card_face(uow=uow, application_id=app.id))
        warnings = ()
        if not bin_matches(card.pan, get_bank(uow=uow, bank_code=app.bank_code)):
            # The BIN list is an example default, not official policy: warn, never refuse.
            warnings = (f"card {card.card_no}: account number BIN not listed for {app.bank_code}",)
            log.warning(warnings[0])
        uow.commit()
        return _CardResult(registered=True, warnings=warnings)


def _return_to_approved(uows, actor: Actor, batch_id: int, application_id: int,
                        reason: str) -> None:
    """A card the factory could not make: the application waits for the next batch."""
    with uows() as uow:
        app = uow.session.get(Application, application_id)
        if app is None or app.status != "in_production" or app.production_batch_id != batch_id:
            return
        _move(uow, actor, app, "approved", action="application.production_failed",
              reason=reason, production_batch_id=None)
        uow.commit()


def _personalise_chip(*, uow: UnitOfWork, card: ProducedCard, face: CardFace) -> None:
    """No-op personalisation, used when no chip personaliser is passed (unit tests of the
    flow that do not care about chips)."""
    log.debug("no chip personalisation for card %s", card.card_no)


# People records carry no ethnicity; GB/T 3304 "97" (其他) is written until they do.
UNKNOWN_NATION = "97"
CARD_REGION = "320400"


def chip_personaliser(platform) -> Callable[..., None]:
    """Personalise each produced card's chip with `yikatong.chip.image.personalise` under the
    platform's key store and keep it in the platform's ChipStore (a card used today is the
    same card tomorrow). Runs inside the card's registration transaction: a chip that cannot
    be personalised keeps the card from being registered."""
    from yikatong.chip.emulator import Card
    from yikatong.chip.image import personalise
    from yikatong.chip.protocols import ChipStore
    from yikatong.crypto.protocols import KeyStore

    keystore = platform.get(KeyStore)
    store = platform.get(ChipStore)

    def run(*, uow: UnitOfWork, card: ProducedCard, face: CardFace) -> None:
        store.save(Card(personalise(chip_data(uow=uow, card=card, face=face), keystore)))

    return run


def chip_data(*, uow: UnitOfWork, card: ProducedCard, face: CardFace):
    """What the chip needs from the registry at the end of production."""
    from yikatong.cards.validity import validity_for
    from yikatong.chip.image import CardPersonalisation
    from yikatong.people.service import find_person_by_ssn
    from yikatong.transit.service import rider_category_at_issue

    person = find_person_by_ssn(uow=uow, ssn=face.ssn)
    valid_until = validity_for(face.issue_date)
    citizen_region = face.ssn[:6] if face.ssn[:6].isdigit() and face.ssn[0] in "12345678" else None
    return CardPersonalisation(
        card_no=card.card_no, card_id_code=card.card_id_code, ssn=face.ssn, name=face.name,
        gender={"M": "1", "F": "2"}.get(person.gender if person else "", "9"),
        nation=UNKNOWN_NATION, birthplace=citizen_region or CARD_REGION,
        birth_date=person.birth_date, issue_date=face.issue_date,
        expiry_date=valid_until.social_security, transit_expiry=valid_until.transit,
        region_code=CARD_REGION, pan=card.pan, pan_sequence=1, pan_expiry=valid_until.debit,
        asn=card.asn, rider=rider_category_at_issue(birth_date=person.birth_date, issue_date=face.issue_date,
                                                    uow=uow, person_id=person.id),
    )


def run_production(*, uows: Callable[[], UnitOfWork], actor: Actor, factory: CardFactory,
                   personalise: Callable[..., None] | None = None, limit: int | None = None,
                   max_polls: int = 10, poll_interval: float = 0.0,
                   on_card: Callable[[int, int], None] | None = None) -> CollectOutcome:
    """Batch the approved applications, submit, then poll until the factory is done (or
    `max_polls` polls have passed: the batch then stays open for a later collect)."""
    with uows() as uow:
        batch = start_production_batch(uow=uow, actor=actor, factory=factory, limit=limit)
    for poll in range(max_polls):
        if poll and poll_interval:
            time.sleep(poll_interval)
        outcome = collect_production_batch(uows=uows, actor=actor, factory=factory,
                                           batch_id=batch.id, personalise=personalise,
                                           on_card=on_card)
        if outcome.complete:
            break
    return outcome


def get_production_batch(*, uow: UnitOfWork, batch_id: int) -> ProductionBatchView:
    batch = uow.session.get(ProductionBatch, batch_id)
    if batch is None:
        raise ProductionBatchNotFound(batch_id=batch_id)
    return _batch_view(uow, batch)
