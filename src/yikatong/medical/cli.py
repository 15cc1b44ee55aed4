"""`ykt medical …`: the medical insurance office's operations from the command line, beside
its pages (medical/web.py).

The operator acts as the medical insurance office (`cli:<login>`, Role.MEDICAL_OFFICE at the
office's desk). Each change is one `medical.service` use case (one transaction, one audit
record); the reads print what the service says. Refusals print their code and both messages
and exit non-zero (`cli.main.fail`).

    ykt medical enrol PERSON_ID --scheme 310 --region 320402 --employer USCC --from 2026-01-01
    ykt medical person PERSON_ID [--year 2026]
    ykt medical institutions list | register CODE --name … --name-en … --level 3 --region 320402
    ykt medical catalogue [--day 2026-03-02]
    ykt medical day --institution H32040200001 [--day 2026-03-02]
"""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from yikatong.cli.context import day_or_today
from yikatong.core.clock import local_text

console = Console()

ROW_ID = {"min": 1, "max": 2**63 - 1}


def _office():
    from yikatong.core.actor import Actor, Channel, Role

    return Actor(user_id=f"cli:{getpass.getuser()}", role=Role.MEDICAL_OFFICE,
                 channel=Channel.MEDICAL_DESK)


def _yuan(fen: int) -> str:
    from yikatong.pages.formatting import money

    return money(fen)


def _enrolment_words(view) -> str:
    status = ""
    if view.scheme == "310":
        status = " · 退休 retired" if view.retired else " · 在职 in service"
    until = view.end_date.isoformat() if view.end_date else "至今 open"
    employer = f" · {escape(view.employer_name or view.employer_uscc)}" if view.employer_uscc or view.employer_name else ""
    return (f"{view.scheme_zh} / {view.scheme_en} ({view.scheme}){status} · 参保地 region "
            f"{view.insured_admdvs}{employer} · {view.start_date.isoformat()} – {until}")


def print_day_totals(totals, title: str) -> None:
    table = Table(title=title, show_header=False)
    for label, value in (("结算 settled", str(totals.settled)), ("撤销 cancelled", str(totals.cancelled)),
                         ("医疗费用总额 total fees", _yuan(totals.medfee)),
                         ("基金支付 fund paid", _yuan(totals.fund)),
                         ("个人账户支付 accounts paid", _yuan(totals.account)),
                         ("现金支付 cash paid", _yuan(totals.cash))):
        table.add_row(label, value)
    console.print(table)


def register(group) -> None:
    from yikatong.medical import clearing_cli, simulation_cli

    clearing_cli.register(group)    # ykt medical clear-regions
    simulation_cli.register(group)  # ykt simulate medical-day
    medical = group("medical")
    institutions = typer.Typer(no_args_is_help=True, help="designated institutions / 定点医药机构")
    medical.add_typer(institutions, name="institutions")

    @medical.command("enrol")
    def enrol(
        person_id: int = typer.Argument(..., **ROW_ID, help="the registered person"),
        scheme: str = typer.Option(..., "--scheme", help="310 employees | 390 urban-rural residents"),
        region: str = typer.Option(..., "--region", help="the insured region (admdvs, 6 digits), e.g. 320402"),
        start: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD"),
        retired: bool = typer.Option(False, "--retired", help="an employee retired (310 only)"),
        employer: str | None = typer.Option(None, "--employer", help="the employer's USCC (employees in service)"),
        employer_name: str | None = typer.Option(None, "--employer-name"),
        assistance: bool = typer.Option(False, "--assistance", help="a medical-assistance recipient"),
    ) -> None:
        """Enrol a person from a day (a period open then ends the day before) / 办理参保."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.medical import service

        try:
            with platform().uow() as uow:
                view = service.enrol(uow=uow, actor=_office(), person_id=person_id, scheme=scheme,
                                     insured_admdvs=region, start_date=day_or_today(start, uow), retired=retired,
                                     employer_uscc=employer, employer_name=employer_name,
                                     assistance=assistance)
                uow.commit()
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] 已参保 / enrolled: person {view.person_id}, 人员编号 psn_no {view.psn_no}")
        console.print(_enrolment_words(view))

    @medical.command("person")
    def person(
        person_id: int = typer.Argument(..., **ROW_ID, help="the registered person"),
        year: int | None = typer.Option(None, "--year", min=2000, max=2100, help="the year's totals (default: this year)"),
    ) -> None:
        """A person's enrolment, personal account and the year's running totals (5206) / 参保人员查询."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.medical import service, visits

        try:
            with platform().uow() as uow:
                today = service.today(uow)
                periods = service.enrolments(uow=uow, person_id=person_id)
                current = service.enrolment_on(uow=uow, person_id=person_id, day=today)
                balance = service.account_balance(uow=uow, person_id=person_id)
                totals = service.year_totals(uow=uow, person_id=person_id, year=year or today.year)
                settled = list(reversed(visits.settlements(uow=uow, actor=_office(), person_id=person_id)))[:10]
        except DomainError as error:
            fail(error)
        psn_no = periods[0].psn_no if periods else "-"
        console.print(f"人员 person {person_id} · 人员编号 psn_no {psn_no} · {today.isoformat()}")
        if current is None:
            console.print("[yellow]今日未参保 / not insured today[/yellow]")
        else:
            console.print(f"参保中 / insured: {_enrolment_words(current)}")
        for period in periods:
            console.print(f"  · {_enrolment_words(period)}")
        console.print(f"个人账户余额 / personal account: {_yuan(balance)}")
        table = Table(title=f"{year or today.year} 年累计 / running totals of {year or today.year}")
        table.add_column("项目 item")
        table.add_column("金额 amount", justify="right")
        for label, value in (("门诊起付线累计 outpatient deductible", totals.outpatient_deductible),
                             ("门诊统筹支付 outpatient fund", totals.outpatient_fund),
                             ("住院统筹支付 inpatient fund", totals.inpatient_fund),
                             ("大病保险 serious illness", totals.serious_paid),
                             ("大额补助 large-amount subsidy", totals.subsidy_paid),
                             ("医疗救助 assistance", totals.assistance_paid),
                             ("医疗费用合计 medical fees", totals.medfee_total)):
            table.add_row(label, _yuan(value))
        table.add_row("住院次数 admissions", str(totals.inpatient_admissions))
        console.print(table)
        if settled:
            recent = Table(title="最近结算 / recent settlements")
            for column in ("结算 setl_id", "机构 institution", "时间 settled", "状态 state", "总额 total",
                           "基金 fund", "账户 account", "现金 cash"):
                recent.add_column(column)
            for s in settled:
                info = s.setlinfo
                recent.add_row(s.setl_id, s.fixmedins_code, local_text(s.settled_at), s.state,
                               _yuan(info["medfee_sumamt"]), _yuan(info["fund_pay_sumamt"]),
                               _yuan(info["acct_pay"]), _yuan(info["psn_cash_pay"]))
            console.print(recent)

    @institutions.command("list")
    def list_institutions(
        kind: str | None = typer.Option(None, "--kind", help="hospital | pharmacy"),
        region: str | None = typer.Option(None, "--region", help="one district (admdvs)"),
    ) -> None:
        """The designated institutions / 定点医药机构列表."""
        from yikatong.cli.context import platform
        from yikatong.medical import service

        with platform().uow() as uow:
            views = service.list_institutions(uow=uow, kind=kind, admdvs=region)
        table = Table(title="定点医药机构 / designated institutions")
        for column in ("编码 code", "名称 name", "等级 level", "区划 region", "状态 state", "密钥 secret"):
            table.add_column(column)
        for view in views:
            table.add_row(view.code, escape(view.name), f"{view.level_zh} {view.level_en}", view.admdvs,
                          "有效 active" if view.active else "暂停 suspended",
                          "已发放 issued" if view.has_secret else "未发放 none")
        console.print(table)
        console.print(f"{len(views)} 家 / institutions")

    @institutions.command("register")
    def register_institution(
        code: str = typer.Argument(..., help="fixmedins_code: H (hospital) or P (pharmacy) + 11 digits"),
        name: str = typer.Option(..., "--name", help="the name in Chinese"),
        name_en: str = typer.Option(..., "--name-en", help="the name in English"),
        level: str = typer.Option(..., "--level", help="community | 1 | 2 | 3 | pharmacy"),
        region: str = typer.Option(..., "--region", help="the district (admdvs, 6 digits)"),
    ) -> None:
        """Designate an institution and issue its interface secret, printed this once / 新增定点医药机构."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.medical import service

        try:
            with platform().uow() as uow:
                issued = service.register_institution(uow=uow, actor=_office(), code=code, name=name,
                                                      name_en=name_en, level=level, admdvs=region)
        except DomainError as error:
            fail(error)
        view = issued.institution
        console.print(f"[green]✓[/green] 已登记 / registered: {view.code} {escape(view.name)} "
                      f"({view.level_zh} / {view.level_en}, {view.admdvs})")
        console.print("接口密钥（仅显示这一次，请交给机构妥善保存）/ interface secret, shown this once:")
        console.print(escape(issued.secret), soft_wrap=True, highlight=False)

    @medical.command("catalogue")
    def catalogue(day: str | None = typer.Option(None, "--day", help="YYYY-MM-DD (default: today)")) -> None:
        """The catalogue of drugs and services in force: version and counts (1901) / 医保目录."""
        from collections import Counter

        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.medical import service

        try:
            with platform().uow() as uow:
                on = day_or_today(day, uow)
            version, items = service.download_catalogue(day=on)
        except DomainError as error:
            fail(error)
        classes = Counter(item.item_class for item in items)
        kinds = Counter(item.kind for item in items)
        console.print(f"目录版本 / catalogue version {escape(version)} in force on {on.isoformat()}: "
                      f"{len(items)} 项 / items")
        console.print("  甲类 A {A} · 乙类 B {B} · 丙类 C {C}".format(
            A=classes.get("A", 0), B=classes.get("B", 0), C=classes.get("C", 0)))
        console.print("  " + " · ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())))

    @medical.command("day")
    def day_totals(
        institution: str = typer.Option(..., "--institution", help="fixmedins_code, e.g. H32040200001"),
        day: str | None = typer.Option(None, "--day", help="YYYY-MM-DD (default: today)"),
    ) -> None:
        """An institution's day: its settlements and what the fund, the accounts and the patients paid / 机构日结算."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.medical import service

        try:
            with platform().uow() as uow:
                the_day = service.institution_day(uow=uow, actor=_office(), fixmedins_code=institution,
                                                  day=day_or_today(day, uow))
        except DomainError as error:
            fail(error)
        view = the_day.institution
        print_day_totals(the_day.totals, f"{view.code} {escape(view.name)} · {the_day.day.isoformat()}")
        console.print(f"就诊 / visits: {len(the_day.visits)}")
