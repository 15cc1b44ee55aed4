"""The narrated demo: one synthetic holder through the whole card lifecycle on a fresh
database, with a clock that moves only when told. Every step checks what the seed says must
happen; the first one that does not ends the run with a failure.

apply → produce → deliver → activate → a hospital visit settled through medical insurance →
temporary loss by 12333 → automatic unblock after 7 days → formal loss → replacement →
exchange (refused until the transit wallet is refunded).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.panel import Panel
from sqlalchemy import select

from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import CST, FixedClock, as_utc
from yikatong.core.errors import DomainError
from yikatong.core.money import format_fen
from yikatong.core.settings import Settings
from yikatong.demo.actors import ADMIN, BANK_CODE, CITIZEN_OUTLET, ICBC_BRANCH, OUTLET, PHONE

if TYPE_CHECKING:
    from yikatong.platform import Platform

# tourism: the venues' gates asking online (venue staff logins of their operators)
DINO_GATE = Actor(user_id="demo-dino-gate", role=Role.VENUE_OPERATOR, channel=Channel.VENUE, branch_code="CZ-DINO")
TMH_GATE = Actor(user_id="demo-tmh-gate", role=Role.VENUE_OPERATOR, channel=Channel.VENUE, branch_code="CZ-TMH")


DEMO_HOSPITAL = "H32040200001"      # a Level 3 hospital of the reference list (example)
DEMO_EMPLOYER = "91320400MA1M9XK3PH"  # synthetic
DEMO_ACCOUNT_CREDIT = 30_000         # fen: the personal account's credit for the demo


class DemoFailed(Exception):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def run_demo(*, console: Console, workdir: Path | None = None,
             start: datetime | None = None) -> bool:
    """Run the scenario on a fresh SQLite database; True when every step behaved."""
    with demo_platform(workdir, start) as platform:
        console.print(Panel.fit(
            "江苏（常州）一卡通 全生命周期演示\nJiangsu (Changzhou) One Card: the whole lifecycle\n"
            f"[dim]{platform.settings.database_url}[/dim]", title="ykt demo"))
        try:
            Scenario(platform, platform.clock, console).run()
        except DemoFailed as failure:
            console.print(f"[red]✗ 演示失败：{failure.zh}[/red]\n[red]✗ demo failed: {failure.en}[/red]")
            return False
    console.print("[green bold]✓ 全部步骤符合规定 / every step behaved as the seed says[/green bold]")
    if workdir is not None:
        console.print("查看演示数据 / to look at the demo's cards in the API and pages:\n"
                      + serve_command(workdir), soft_wrap=True)
    return True


@contextlib.contextmanager
def demo_platform(workdir: Path | None, start: datetime | None) -> Iterator[Platform]:
    """A platform on a fresh SQLite database in `workdir` (else a temporary folder), migrated
    as `ykt serve` migrates so a kept demo can be served, its chips beside it, and a clock
    fixed at `start` (Changzhou time when naive) that moves only when told."""
    from yikatong.db.engine import make_engine
    from yikatong.db.migrate import upgrade
    from yikatong.platform import Platform

    start = start or datetime(2026, 3, 2, 9, 30)
    clock = FixedClock(as_utc(start if start.tzinfo else start.replace(tzinfo=CST)))
    with _folder(workdir) as folder, _environment(YKT_CHIP_DIR=str(folder / "chips"),
                                                  YKT_BANK_FILES_DIR=str(folder / "bank-files")):
        settings = Settings(database_url=f"sqlite:///{folder / 'demo.db'}",
                            key_store_path=str(folder / "keystore.json"),
                            bank_files_dir=str(folder / "bank-files"))
        engine = make_engine(settings.database_url)
        upgrade(engine)
        try:
            yield Platform(settings, clock=clock, engine=engine)
        finally:
            engine.dispose()


def serve_command(workdir: Path) -> str:
    """The command line that serves a kept demo (`serve_environment`)."""
    return " ".join(f"{name}={value}" for name, value in serve_environment(workdir).items()) \
        + " ykt serve"


def serve_environment(workdir: Path) -> dict[str, str]:
    """The settings under which `ykt serve` serves a kept demo's databases, keys and chips
    (the bank's database is found beside the platform's, as demo-bank.db)."""
    folder = workdir.resolve()
    return {
        "YKT_DATABASE_URL": f"sqlite:///{folder / 'demo.db'}",
        "YKT_KEY_STORE": str(folder / "keystore.json"),
        "YKT_CHIP_DIR": str(folder / "chips"),
        "YKT_BANK_FILES_DIR": str(folder / "bank-files"),
    }


@contextlib.contextmanager
def _folder(workdir: Path | None) -> Iterator[Path]:
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="ykt-demo-") as name:
            yield Path(name)
        return
    workdir.mkdir(parents=True, exist_ok=True)
    for old in workdir.glob("demo*.db*"):  # a fresh database every run
        if old.is_dir():  # the locks of db.exclusive
            shutil.rmtree(old)
        else:
            old.unlink()
    yield workdir


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Scenario:
    def __init__(self, platform, clock: FixedClock, console: Console) -> None:
        self.platform = platform
        self.clock = clock
        self.console = console
        self.number = 0

    # --- narration and checks ---------------------------------------------------------------

    def step(self, zh: str, en: str) -> None:
        self.number += 1
        local = self.clock.now().astimezone(CST)
        self.console.rule(f"[bold]{self.number}. {zh} / {en}[/bold]  [dim]{local:%Y-%m-%d %H:%M}[/dim]")

    def say(self, zh: str, en: str) -> None:
        self.console.print(f"  {zh}\n  [dim]{en}[/dim]")

    def check(self, condition: bool, zh: str, en: str) -> None:
        if not condition:
            raise DemoFailed(zh, en)
        self.console.print(f"  [green]✓[/green] {zh} / {en}")

    def refused(self, code: str, action: Callable[[], object]) -> DomainError:
        try:
            action()
        except DomainError as error:
            if error.code != code:
                raise DemoFailed(f"应以 {code} 拒绝，实际为 {error.code}",
                                 f"expected refusal {code}, got {error.code}") from error
            self.console.print(f"  [yellow]⊘ 拒绝 / refused ({code})[/yellow] {error.message_zh}\n"
                               f"    [dim]{error.message_en}[/dim]")
            return error
        raise DemoFailed(f"应被拒绝（{code}），却成功了", f"should have been refused ({code})")

    def attempt(self, action: Callable[[], object]):
        try:
            return action()
        except DomainError as error:
            raise DemoFailed(f"{error.code}：{error.message_zh}", error.message_en) from error

    @property
    def holder(self) -> Actor:
        """The holder acting for herself in the Jiangsu Smart HR app."""
        return Actor(user_id="demo-holder", role=Role.HOLDER, channel=Channel.ONLINE_APP,
                     person_id=self.person_id)

    def card(self, card_no: str):
        from yikatong.cards import service as cards

        with self.platform.uow() as uow:
            return cards.get_card(uow=uow, card_no=card_no)

    def cards_call(self, operation, **kwargs):
        return self.attempt(lambda: self.raw_call(operation, **kwargs))

    def raw_call(self, operation, **kwargs):
        """One use case in its own unit of work, committed; refusals propagate."""
        with self.platform.uow() as uow:
            result = operation(uow=uow, **kwargs)
            uow.commit()
        return result

    # --- the scenario -------------------------------------------------------------------------

    def run(self) -> None:
        self.reference_data()
        application = self.apply()
        card_no = self.produce(application.id, kind="first")
        self.deliver(application.id, card_no)
        self.activate(card_no)
        self.hospital_visit(card_no)
        self.contribution_paid(card_no)  # bills
        self.tourism_pass(card_no)  # tourism
        self.pension_credited(card_no)  # benefits
        self.discount_at_the_till(card_no)  # discounts
        self.hr_service_case()  # hrservices
        self.library_loan(card_no)  # library
        self.temporary_loss(card_no)
        self.automatic_unblock(card_no)
        self.formal_loss(card_no)
        self.no_hr_case_on_a_lost_card()  # hrservices
        replacement = self.replace(card_no)
        self.library_follows_the_person(card_no, replacement)  # library
        self.pass_follows_the_person(card_no, replacement)  # tourism
        self.exchange(replacement)

    def reference_data(self) -> None:
        from yikatong.directory.service import load_reference_data

        self.step("准备", "set-up")
        with self.platform.uow() as uow:
            summary = load_reference_data(uow=uow, actor=Actor.system("demo"))
        self.check(summary.inserted > 0, "新数据库，已载入 15 家合作银行与服务网点",
                   "fresh database with the 15 partner banks and the outlets loaded")

    def applicant(self):
        from yikatong.applications.reference import synthetic_photo
        from yikatong.applications.service import ApplicantData
        from yikatong.people.samples import make_citizen_ssn, make_name

        rng = random.Random(20260302)
        birth = date(1988, 6, 15)
        number = make_citizen_ssn("320404", birth, "F", rng=rng)
        return ApplicantData(
            name=make_name(rng), document_type="resident_id_card", document_number=number,
            gender="F", birth_date=birth, nationality="CHN", phone="13900000000",
            address="江苏省常州市钟楼区示例路 8 号（虚构）", document_valid_until=date(2036, 1, 1),
            photo_jpeg=synthetic_photo(number))

    def submit(self, kind: str, exchange_reason: str | None = None):
        from yikatong.applications.service import CardChoice, submit_at_outlet

        choice = CardChoice(kind=kind, bank_code=BANK_CODE, pickup_outlet_code="SS-TN-01",
                            exchange_reason=exchange_reason)
        with self.platform.uow() as uow:
            return submit_at_outlet(uow=uow, actor=OUTLET, applicant=self.person, choice=choice)

    def apply(self):
        from yikatong.people.rules import mask_ssn

        self.step("申领", "apply at a social-security card outlet")
        self.person = self.applicant()
        self.say(f"{self.person.name}（{mask_ssn(self.person.document_number)}，虚构人员）携身份证到网点申领，"
                 "合作银行选工商银行；申领免费",
                 "a synthetic applicant applies in person with her ID card, partner bank ICBC; "
                 "free of charge")
        application = self.attempt(lambda: self.submit("first"))
        self.check(application.status == "submitted" and application.person_id is not None,
                   "申请已受理，人员档案已建立", "application accepted, person on record")
        self.person_id = application.person_id
        return application

    def produce(self, application_id: int, *, kind: str) -> str:
        from yikatong.applications import production
        from yikatong.applications import service as applications
        from yikatong.applications.protocols import CardFactory

        self.step("制卡", f"production ({kind})")
        with self.platform.uow() as uow:
            self.attempt(lambda: applications.approve(uow=uow, actor=OUTLET,
                                                      application_id=application_id))
        outcome = self.attempt(lambda: production.run_production(
            uows=self.platform.uow, actor=ADMIN, factory=self.platform.get(CardFactory)))
        self.check(len(outcome.produced_card_nos) == 1, "卡厂制卡完成，卡片已登记",
                   "the card factory produced the card and it is registered")
        card = self.card(outcome.produced_card_nos[0])
        self.say(f"卡号 {card.card_no}，发卡日期 {card.issue_date}，金融功能有效期至 "
                 f"{card.financial_valid_until}",
                 f"card {card.card_no}, issued {card.issue_date}, financial function valid "
                 f"until {card.financial_valid_until}")
        self.check(card.state == "produced" and card.hr_status == "not_in_use",
                   "新卡尚未启用", "the new card is not in use yet")
        return card.card_no

    def hand_over(self, application_id: int) -> None:
        """The card is ready at the outlet and the holder takes it (启用)."""
        from yikatong.applications import service as applications

        for move in (applications.mark_ready_for_pickup, applications.hand_over):
            with self.platform.uow() as uow:
                self.attempt(lambda move=move: move(uow=uow, actor=OUTLET,
                                                    application_id=application_id))

    def deliver(self, application_id: int, card_no: str) -> None:
        self.step("领卡", "deliver: the holder picks the card up (启用)")
        self.hand_over(application_id)
        card = self.card(card_no)
        self.check(card.state == "in_use" and card.hr_status == "normal",
                   "卡片已启用，人社功能正常", "card in use, HR function normal")
        self.check(card.financial_status == "inactive", "金融功能待本人到银行激活",
                   "the financial function waits for activation at the bank")

    def activate(self, card_no: str) -> None:
        from yikatong.cards import service as cards

        self.step("激活金融功能", "activate the financial function at the bank")
        self.say("持卡人到卡面标识银行（工商银行）网点激活；平台经银行接口获知",
                 "the holder activates it at an ICBC branch; the platform learns it through "
                 "the bank interface")
        card = self.cards_call(cards.activate_financial, actor=ICBC_BRANCH, card_no=card_no)
        self.check(card.financial_status == "active", "银行确认：金融功能已激活",
                   "the bank confirms: financial function active")

    def hospital_visit(self, card_no: str) -> None:
        """Enrolled as an employee, the holder sees a doctor at a Level 3 hospital: the card
        identifies her (cert type 03), the hospital uploads the fees, the platform settles
        them in real time; the fund's share and the personal account are paid by the platform,
        she pays the cash share at the desk."""
        from yikatong.medical import service as medical
        from yikatong.medical import visits
        from yikatong.medical.visits import FeeInput

        self.step("看病：医保实时结算", "a hospital visit settled through medical insurance")
        office = Actor(user_id="demo-medical-office", role=Role.MEDICAL_OFFICE,
                       channel=Channel.MEDICAL_DESK)
        hospital = Actor(user_id="demo-his", role=Role.MEDICAL_INSTITUTION,
                         channel=Channel.HOSPITAL, branch_code=DEMO_HOSPITAL)
        with self.platform.uow() as uow:
            medical.load_reference_data(uow=uow, actor=Actor.system("demo"))
            today = medical.today(uow)
        self.raw_enrol(medical, office, today)
        with self.platform.uow() as uow:
            place = medical.get_institution(uow=uow, code=DEMO_HOSPITAL)
            balance = medical.account_balance(uow=uow, person_id=self.person_id)
        self.check(balance == DEMO_ACCOUNT_CREDIT,
                   f"医保经办机构为其办理职工医保参保，个人账户划入 {format_fen(balance)} 元",
                   f"the medical insurance office enrols her as an employee and credits "
                   f"CNY {format_fen(balance)} to her personal account")
        self.say(f"持卡人到{place.name}（{place.level_zh}）门诊就诊，刷社会保障卡挂号",
                 f"she sees a doctor at {place.name_en} ({place.level_en}), outpatient, "
                 "registering with her social security card")
        messages = iter(range(1, 10))

        def call(operation, **kwargs):
            with self.platform.uow() as uow:
                return operation(uow=uow, actor=hospital, msgid=f"DEMO{next(messages):04d}", **kwargs)

        visit = self.attempt(lambda: call(visits.register, cert_type="03", cert_no=card_no))
        self.attempt(lambda: call(visits.upload_fees, mdtrt_id=visit.mdtrt_id, lines=[
            FeeInput("1", "001102000030000", 1, 4_000),          # 主任医师诊查费 (乙类, above its limit)
            FeeInput("2", "002305000010000", 1, 60_000),         # 磁共振成像平扫 (乙类)
            FeeInput("3", "002303000010000", 1, 8_000),          # 胸部X线摄影 (甲类)
            FeeInput("4", "002101000010000", 1, 2_000),          # 血常规 (甲类)
            FeeInput("5", "XC10AAA040A001010100345", 2, 3_500),  # 阿托伐他汀钙片 (乙类)
            FeeInput("6", "XA11GAV010A001010109999", 1, 1_500),  # 维生素C泡腾片 (丙类)
        ]))
        settled = self.attempt(lambda: call(visits.settle, mdtrt_id=visit.mdtrt_id,
                                            cert_type="03", cert_no=card_no))
        info = settled.setlinfo
        self.say(f"医疗费用 {format_fen(info['medfee_sumamt'])} 元：统筹基金支付 "
                 f"{format_fen(info['fund_pay_sumamt'])} 元，个人账户支付 {format_fen(info['acct_pay'])} 元，"
                 f"现金支付 {format_fen(info['psn_cash_pay'])} 元；账户余额 {format_fen(info['balc'])} 元",
                 f"fees CNY {format_fen(info['medfee_sumamt'])}: the fund paid "
                 f"{format_fen(info['fund_pay_sumamt'])}, the personal account "
                 f"{format_fen(info['acct_pay'])}, she paid {format_fen(info['psn_cash_pay'])} in "
                 f"cash; account balance {format_fen(info['balc'])}")
        self.check(info["medfee_sumamt"] == info["fund_pay_sumamt"] + info["psn_part_amt"]
                   + info["hosp_part_amt"] and info["psn_part_amt"] == info["acct_pay"]
                   + info["psn_cash_pay"] and info["fund_pay_sumamt"] > 0,
                   f"实时结算（政策版本 {settled.policy_version}）：总额 = 基金 + 个人，个人 = 账户 + 现金",
                   f"settled in real time (policy {settled.policy_version}): total = fund + "
                   "personal, personal = account + cash")
        with self.platform.uow() as uow:
            mine = visits.settlements(uow=uow, actor=self.holder)
        self.check([s.setl_id for s in mine] == [settled.setl_id],
                   "持卡人在“医疗保险”页面看到这次结算（/me/medical）",
                   "the holder sees the settlement on her medical insurance page (/me/medical)")

    def raw_enrol(self, medical, office: Actor, today: date) -> None:
        self.attempt(lambda: self.raw_call(
            medical.enrol, actor=office, person_id=self.person_id, scheme="310",
            insured_admdvs="320404", start_date=today.replace(month=1, day=1),
            employer_uscc=DEMO_EMPLOYER, employer_name="常州示例科技有限公司（虚构）"))
        self.attempt(lambda: self.raw_call(
            medical.credit_account, actor=office, person_id=self.person_id,
            amount=DEMO_ACCOUNT_CREDIT, request_id=f"demo-credit-{self.person_id}"))

    def contribution_paid(self, card_no: str) -> None:
        """bills: the holder pays a flexible-employment contribution from the card's account,
        confirming it once; a second click answers the same receipt and pays nothing more."""
        from yikatong.banking import payments
        from yikatong.banking.runtime import ReferenceBank
        from yikatong.bills import service as bills

        self.step("缴费：灵活就业社保费", "a contribution paid from the card account")
        card = self.card(card_no)
        bank = self.platform.get(ReferenceBank)
        with bank.uow() as uow:
            payments.deposit(uow=uow, actor=ICBC_BRANCH, bank_code=card.bank_code, pan=card.pan,
                             amount_fen=200_000, request_id=f"demo-cash-{card_no}")
            bank.commit(uow)
        bill = self.cards_call(bills.declare_flexible, actor=self.holder, person_id=self.person_id,
                               base_fen=480_000, months=1)
        self.say(f"持卡人存入 2,000.00 元，按最低基数 4,800.00 元申报本月灵活就业社保费 {bill.amount_fen / 100:,.2f} 元",
                 f"the holder deposits 2,000.00 and declares this month's flexible-employment "
                 f"contribution at the lowest base 4,800.00: {bill.amount_fen / 100:,.2f}")
        receipt = self.cards_call(bills.pay_bill, actor=self.holder, bill_id=bill.id,
                                  idempotency_key="demo-contribution", confirmed=True)
        again = self.cards_call(bills.pay_bill, actor=self.holder, bill_id=bill.id,
                                idempotency_key="demo-contribution", confirmed=True)
        with bank.uow() as uow:
            left = payments.balance(uow, payments.account_by_pan(uow, card.bank_code, card.pan))
        self.check(receipt.status == "paid" and again.receipt_no == receipt.receipt_no
                   and left == 200_000 - bill.amount_fen,
                   f"已缴费，凭证 {receipt.receipt_no}；重复提交只扣一次（余额 {left / 100:,.2f} 元）",
                   f"paid, receipt {receipt.receipt_no}; the repeated click paid nothing more")
    def discount_at_the_till(self, card_no: str) -> None:
        """discounts: the city's 满减 campaign at a shop enrolled in it: the till asks before it
        charges the card (150.00 → 10.00 off), a retry with the same key spends nothing more, a
        refund gives the 10.00 back to the budget."""
        from yikatong.discounts import service as discounts

        self.step("消费满减：商户收银核销", "a spend-threshold reduction at the till")
        self.raw_call(discounts.load_reference_data, actor=Actor.system("demo"))
        till = Actor(user_id="demo-till", role=Role.MERCHANT, channel=Channel.MERCHANT,
                     branch_code="M-CZ-0001")
        ask = dict(actor=till, campaign_code="CZ-2026-MJ", card_no=card_no, order_fen=15_000,
                   idempotency_key="demo-pos-1", order_ref="POS-1")
        first = self.cards_call(discounts.redeem, **ask)
        again = self.cards_call(discounts.redeem, **ask)
        self.check(first.discount_fen == 1_000 and first.pay_fen == 14_000 and again.id == first.id,
                   f"满 100 减 10：订单 150.00 元，卡上扣 {first.pay_fen / 100:,.2f} 元；重复请求不重复核销",
                   f"150.00 order, 10.00 off, the card charged {first.pay_fen / 100:,.2f}; the retry spent nothing more")
        self.cards_call(discounts.refund, actor=till, redemption_id=first.id, reason="demo refund")
        with self.platform.uow(read_only=True) as uow:
            left = discounts.campaign(uow=uow, actor=Actor.system("demo"), code="CZ-2026-MJ").left_fen
        self.check(left == 5_000_000, "退货冲正：优惠金额退回活动预算",
                   "refunded: the discount went back to the campaign's budget")

    # tourism: a real-name pass bought from the card account, the gate, and a replacement card
    def tourism_pass(self, card_no: str) -> None:
        """tourism: the holder buys the 228 CNY city tourism pass from the card's account; the
        first tap at the Dinosaur Park's gate activates it; a second tap the same day is refused
        (one entry per venue per day)."""
        from yikatong.tourism import service as tourism

        self.step("文旅：惠民旅游年卡", "tourism: the city tourism pass")
        with self.platform.uow() as uow:
            tourism.load_reference_data(uow=uow, actor=Actor.system("demo"))
            uow.commit()
        bought = self.cards_call(tourism.sell, actor=self.holder, product_code="CZ-PASS-228",
                                 person_id=self.person_id, idempotency_key="demo-pass", confirmed=True)
        self.check(bought.paid_fen == 22_800 and bought.activate_by is not None,
                   f"从社保卡账户购买年卡 {bought.ticket_no}（228.00 元），须在 {bought.activate_by} 前激活",
                   f"pass {bought.ticket_no} bought from the card account (228.00), to activate by {bought.activate_by}")
        first = self.cards_call(tourism.admit, actor=DINO_GATE, venue_code="DINO", gate_id="DEMO-G1",
                                card_no=card_no, entry_id="DEMO-G1-1")
        second = self.cards_call(tourism.admit, actor=DINO_GATE, venue_code="DINO", gate_id="DEMO-G2",
                                 card_no=card_no, entry_id="DEMO-G2-1")
        self.check(first.admitted and first.ground == "pass" and not second.admitted
                   and second.reason == "already_entered",
                   "中华恐龙园闸机刷卡入园并激活年卡；同日再次刷卡被拒（每馆每日一次）",
                   "tapped in at the Dinosaur Park (the pass activated); a second tap that day is refused")
        self.tourism_pass_no = bought.ticket_no

    def pass_follows_the_person(self, old_card: str, new_card: str) -> None:
        """tourism: the pass is the person's: the replacement card opens Tianmu Lake's gate on
        it, the old card is refused."""
        from yikatong.tourism import service as tourism

        self.step("文旅：补卡后年卡随人", "tourism: the pass follows the person to the new card")
        old = self.cards_call(tourism.admit, actor=TMH_GATE, venue_code="TMH", gate_id="DEMO-T1",
                              card_no=old_card, entry_id="DEMO-T1-1")
        new = self.cards_call(tourism.admit, actor=TMH_GATE, venue_code="TMH", gate_id="DEMO-T1",
                              card_no=new_card, entry_id="DEMO-T1-2")
        self.check(not old.admitted and new.admitted and new.reference == self.tourism_pass_no,
                   f"原卡被拒（{old.reason}），新卡凭同一年卡进入天目湖",
                   f"the old card is refused ({old.reason}); the new card enters Tianmu Lake on the same pass")

    # benefits: a pension paid through the reference bank's disbursement (代发) file
    def pension_credited(self, card_no: str) -> None:
        """benefits: the holder is enrolled in the pension programme (the social insurance
        agency, CZ-SI) and the period's run pays it into the card's account through the
        reference bank; running the period again pays nothing more."""
        from yikatong.banking import payments
        from yikatong.banking.runtime import ReferenceBank
        from yikatong.benefits import certification, runs
        from yikatong.benefits import service as benefits

        self.step("待遇发放：养老金", "a pension paid into the card account")
        office = Actor(user_id="demo-cz-si", role=Role.PAYING_OFFICE, channel=Channel.AGENCY,
                       branch_code="CZ-SI")
        today = self.clock.now().astimezone(CST).date()
        period = f"{today.year:04d}-{today.month:02d}"
        monthly = 300_000
        self.raw_call(benefits.load_reference_data, actor=Actor.system("demo"))
        self.attempt(lambda: self.raw_call(
            benefits.enrol, actor=office, programme_code="pension", person_id=self.person_id,
            monthly_fen=monthly, start_period=period, end_period=None, source="office",
            source_ref="demo-pension"))
        self.attempt(lambda: self.raw_call(
            certification.register_pensioner, actor=office, person_id=self.person_id,
            since=today.replace(day=1)))
        self.attempt(lambda: self.raw_call(
            benefits.receive_payee_list, actor=office, programme_code="pension", period=period,
            rows=[benefits.PayeeRow(self.person.document_number, self.person.name, monthly)]))
        card = self.card(card_no)
        bank = self.platform.get(ReferenceBank)

        def balance() -> int:
            with bank.uow() as uow:
                return payments.balance(uow, payments.account_by_pan(uow, card.bank_code, card.pan))

        before = balance()
        first = self.attempt(lambda: runs.run(self.platform, actor=office,
                                              programme_code="pension", period=period))
        paid = balance()
        again = self.attempt(lambda: runs.run(self.platform, actor=office,
                                              programme_code="pension", period=period))
        after = balance()
        self.say(f"社保经办机构为持卡人登记养老金每月 {monthly / 100:,.2f} 元，发放 {period} 期"
                 "（代发文件经文件交换目录送参考银行）",
                 f"the social insurance agency enrols the holder for a pension of "
                 f"{monthly / 100:,.2f} a month and runs period {period} (the 代发 file goes "
                 "to the reference bank through the file drop)")
        self.check(first.state == "reconciled" and paid - before == monthly
                   and again.id == first.id and after == paid,
                   f"养老金 {monthly / 100:,.2f} 元已入账（/office/runs）；再次发放不重复付款",
                   f"the pension of {monthly / 100:,.2f} is credited (/office/runs); running the "
                   "period again pays nothing more")

    # hrservices: an HR service case with the card as the credential
    def hr_service_case(self) -> None:
        from yikatong.hrservices import service as hr

        self.step("人社服务：失业登记", "an HR service case: unemployment registration")
        officer = Actor(user_id="demo-hr-officer", role=Role.HR_OFFICER, channel=Channel.AGENCY)
        pdf = b"%PDF-1.4\n% demo document (fictitious)\n%%EOF\n"
        case = self.attempt(lambda: self.raw_call(
            hr.open_case, actor=self.holder, service_code="unemployment_registration"))
        for kind in hr.service_of("unemployment_registration").required:
            self.attempt(lambda kind=kind: self.raw_call(
                hr.attach_document, actor=self.holder, case_id=case.id, kind=kind,
                file_name=f"{kind}.pdf", content_type="application/pdf", content=pdf))
        self.attempt(lambda: self.raw_call(hr.submit_case, actor=self.holder, case_id=case.id))
        self.say("持卡人凭社会保障卡在 APP 申办并上传材料（/me/services）",
                 "the holder opens the case in the app with her card and uploads the documents")
        self.attempt(lambda: self.raw_call(hr.claim_case, actor=officer, case_id=case.id))
        decided = self.attempt(lambda: self.raw_call(hr.approve_case, actor=officer, case_id=case.id))
        self.check(decided.state == "approved", "人社经办受理并准予登记（/hr/queue）",
                   "the HR officer claims and approves it (/hr/queue)")
        self.hr_case_id = case.id

    def no_hr_case_on_a_lost_card(self) -> None:
        from yikatong.hrservices import service as hr

        self.refused("hr_card_refused", lambda: self.raw_call(
            hr.open_case, actor=self.holder, service_code="employment_registration"))

    def temporary_loss(self, card_no: str) -> None:
        from yikatong.cards import service as cards

        self.step("临时挂失（12333）", "temporary loss by phone (12333)")
        outcome = self.cards_call(cards.report_loss, actor=PHONE, card_no=card_no,
                                  kind="temporary")
        ends = outcome.card.hr_loss_ends_at
        self.check(outcome.card.hr_status == "temporary_loss", "人社功能临时挂失",
                   "HR function temporarily lost")
        self.check(ends == self.clock.now() + timedelta(hours=168),
                   f"有效期 7 天，至 {ends.astimezone(CST):%Y-%m-%d %H:%M} 自动解挂",
                   "it lasts 7 days (168 hours), then lifts by itself")
        self.loss_ends = ends

    def automatic_unblock(self, card_no: str) -> None:
        from yikatong.cards import jobs
        from yikatong.events.models import OutboxEvent

        self.step("7 天后自动解挂", "automatic unblock after 7 days")
        self.clock.set(self.loss_ends - timedelta(minutes=1))
        self.check(self.card(card_no).hr_status == "temporary_loss",
                   "差一分钟满 7 天：仍为临时挂失", "one minute before 7 days: still lost")
        self.clock.set(self.loss_ends)
        self.check(self.card(card_no).hr_status == "normal",
                   "满 168 小时：立即读作已解挂（无需等待后台任务）",
                   "at 168 hours it reads as unblocked at once, before any job runs")
        persisted = jobs.expire_temporary_losses(self.platform)
        with self.platform.uow() as uow:
            emitted = uow.session.execute(select(OutboxEvent.type).where(
                OutboxEvent.aggregate_id == card_no,
                OutboxEvent.type == "card.temporary_loss_expired")).scalars().all()
        self.check(persisted == 1 and len(emitted) == 1,
                   "后台任务记录解挂并发出 card.temporary_loss_expired 事件",
                   "the worker job records the lift and emits card.temporary_loss_expired")

    # library: the card as the reader card (seed 三.7)
    def library_loan(self, card_no: str) -> None:
        """library: the holder opts in to the reader card and borrows a book at a kiosk with
        the card (the platform resolves the patron, the reference library system lends)."""
        from yikatong.library import service as library
        from yikatong.library.protocols import LibrarySystem, PatronAuthority

        self.step("借书：社保卡即读者证", "the card as the reader card: a book borrowed")
        self.raw_call(library.load_reference_data, actor=Actor.system("demo"))
        reader = self.cards_call(library.opt_in, actor=self.holder)
        patron = self.platform.get(PatronAuthority).resolve(card_no, now=self.clock.now())
        lent = self.platform.get(LibrarySystem).checkout(patron.reader_no, "CZLIB-0001",
                                                         now=self.clock.now())
        self.check(patron.may_borrow and lent.ok and patron.reader_no == reader.reader_no,
                   f"读者证号 {reader.reader_no}；借出《{lent.item.title}》，应还日期 {lent.due_on}",
                   f"reader number {reader.reader_no}; lent {lent.item.barcode}, due {lent.due_on}")

    def library_follows_the_person(self, lost_card_no: str, new_card_no: str) -> None:
        """library: the formally lost card cannot borrow; the replacement card finds the same
        reader and the same loan, which is returned."""
        from yikatong.library.protocols import LibrarySystem, PatronAuthority, PatronBlock

        self.step("借书：挂失的卡不能借，新卡读者证号不变", "library: the lost card refused, the new card keeps the loans")
        authority, system = self.platform.get(PatronAuthority), self.platform.get(LibrarySystem)
        old = authority.resolve(lost_card_no, now=self.clock.now())
        new = authority.resolve(new_card_no, now=self.clock.now())
        loans = system.account(new.reader_no, now=self.clock.now()).loans
        back = system.checkin("CZLIB-0001", now=self.clock.now())
        self.check(PatronBlock.CARD_NOT_USABLE in old.blocks and new.may_borrow
                   and new.reader_no == old.reader_no
                   and [loan.item_barcode for loan in loans] == ["CZLIB-0001"] and back.ok,
                   f"原卡被拒（已挂失），新卡同一读者证号 {new.reader_no}，在借图书仍在，已归还",
                   f"the lost card is refused; the new card has reader {new.reader_no} and the loan, "
                   f"now returned")

    def formal_loss(self, card_no: str) -> None:
        from yikatong.cards import service as cards

        self.step("正式挂失", "formal loss")
        self.say("持卡人在江苏智慧人社 APP 办理正式挂失", "the holder reports a formal loss in the app")
        outcome = self.cards_call(cards.report_loss, actor=self.holder, card_no=card_no, kind="formal")
        self.check(outcome.card.hr_status == "formal_loss" and outcome.card.financial_status
                   == "active", "线上只挂失人社功能", "online covers the HR function only")
        self.check(bool(outcome.referral_zh) and "95588" in outcome.referral_zh,
                   "提示：金融功能按工商银行规定办理（95588）",
                   "the app refers the financial side to ICBC (hotline 95588)")
        self.say(outcome.referral_zh, outcome.referral_en)
        self.text_received("card_loss")
        outcome = self.cards_call(cards.report_loss, actor=ICBC_BRANCH, card_no=card_no,
                                  kind="formal", function="financial")
        self.check(outcome.card.financial_status == "formal_loss",
                   "持卡人到工商银行网点挂失金融功能，银行实时同步",
                   "at an ICBC branch the financial function is lost too, synced by the bank")

    def text_received(self, template: str) -> None:
        """The notice texted to the holder's phone, as the development SMS outbox delivered it."""
        from yikatong.notices import service as notices
        from yikatong.notices.protocols import SmsGateway

        with self.platform.uow() as uow:
            recorded = notices.list_messages(uow=uow, template=template, limit=1)
        delivered = self.platform.get(SmsGateway).delivered(limit=1)
        self.check(bool(recorded) and recorded[0].status == "sent" and bool(delivered),
                   "持卡人收到短信通知（已记录，手机号脱敏）",
                   "the holder is texted a notice (recorded, phone masked)")
        if delivered:
            self.say(f"短信 → {recorded[0].phone_masked}：{delivered[0].text}", "(development SMS outbox)")

    def replace(self, card_no: str) -> str:
        from yikatong.cards import service as cards

        self.step("补卡", "replacement (same flow as a new application)")
        application = self.attempt(lambda: self.submit("replacement"))
        self.check(application.predecessor_card_no == card_no, f"补卡申请替换原卡 {card_no}",
                   f"the replacement application replaces card {card_no}")
        new_card = self.produce(application.id, kind="replacement")
        self.step("补卡领取", "the replacement is handed over")
        self.hand_over(application.id)
        old, new = self.card(card_no), self.card(new_card)
        self.check(new.state == "in_use" and old.state == "retired",
                   "新卡启用，原卡停用", "the new card is in use, the old one retired")
        self.say("原卡又找到了，持卡人想解挂", "the old card turns up; the holder tries to unblock it")
        self.refused("replacement_in_use", lambda: self.raw_call(
            cards.unblock, actor=self.holder, card_no=card_no))
        return new_card

    def exchange(self, card_no: str) -> None:
        from yikatong.cards import service as cards
        from yikatong.events.models import OutboxEvent

        self.step("换卡", "exchange (card damaged)")
        self.say("卡片损坏，持卡人到社保卡网点换卡；交通钱包尚未退值",
                 "the card is damaged; the holder asks to exchange it before the transit "
                 "wallet was refunded")
        self.refused("transit_balance_not_refunded", lambda: self.submit("exchange", "damage"))
        refunded = 2350
        self.cards_call(cards.record_wallet_refund, actor=CITIZEN_OUTLET, card_no=card_no,
                        refunded_fen=refunded, note="demo")
        self.check(True, f"市民卡直营网点办理退值 {format_fen(refunded)} 元并登记",
                   f"a directly-run citizen-card outlet refunds CNY {format_fen(refunded)} "
                   "and records it")
        application = self.attempt(lambda: self.submit("exchange", "damage"))
        new_card = self.produce(application.id, kind="exchange")
        self.hand_over(application.id)
        old, new = self.card(card_no), self.card(new_card)
        self.check(new.hr_status == "normal" and old.state == "retired"
                   and old.end_reason == "exchanged",
                   "人社功能平移至新卡，原卡停用", "the HR function moved to the new card; the old one is retired")
        with self.platform.uow() as uow:
            closure = uow.session.execute(select(OutboxEvent).where(
                OutboxEvent.aggregate_id == card_no,
                OutboxEvent.type == "card.bank_account_closure_requested")).scalars().all()
        self.check(len(closure) == 1 and closure[0].partner == BANK_CODE,
                   "已通知工商银行注销原卡金融账户", "ICBC is asked to close the old card's account")
