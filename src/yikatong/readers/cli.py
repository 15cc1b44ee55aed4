"""`ykt card list-readers | insert | read`: real readers, and the emulated card in pcscd."""

from __future__ import annotations

import signal
import threading

import typer
from rich.console import Console
from rich.table import Table

from yikatong.readers.vpcd import DEFAULT_HOST, DEFAULT_PORT
from yikatong.readers.vpcd import reader_name as vpcd_reader_name

console = Console()

# The PSAM terminal number `ykt card read` reads with; reading never uses it in a MAC.
READ_TERMINAL_ID = bytes.fromhex("000000000000")
LAST_TRANSACTIONS = 10


def register(group) -> None:
    card = group("card")

    @card.command("list-readers")
    def list_readers_command() -> None:
        """PC/SC readers with their cards, and the emulator / 列出读卡器."""
        from yikatong.readers.errors import PcscUnavailable
        from yikatong.readers.pcsc import describe_readers

        table = Table(title="Readers / 读卡器")
        table.add_column("reader", no_wrap=True)
        for column in ("kind", "card", "ATR"):
            table.add_column(column)
        try:
            for reader in describe_readers():
                atr = reader.atr.hex(" ").upper() if reader.atr else ""
                table.add_row(reader.name, "PC/SC", "✓" if reader.atr else "-", atr)
        except PcscUnavailable as error:
            table.add_row("PC/SC", "-", "-", f"{error.message_zh} / {error.message_en}")
        table.add_row(
            "emulator", "in-process", "any stored chip image", "ykt card read --card CARD_NO"
        )
        console.print(table)

    @card.command("insert")
    def insert_command(
        card_no: str,
        host: str = typer.Option(DEFAULT_HOST, help="where vpcd listens"),
        port: int = typer.Option(DEFAULT_PORT, help="vpcd port (35963: first reader)"),
    ) -> None:
        """Put an emulated card into the PC/SC reader "Virtual PCD 00 00" until Ctrl-C /
        将模拟卡插入虚拟读卡器，按 Ctrl-C 取出."""
        from yikatong.chip.protocols import ChipStore
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.readers.insert import insert_card

        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())

        def announce(link) -> None:
            threading.Thread(target=_report_insertion, args=(link, card_no, host), daemon=True).start()

        result: dict = {}

        def serve() -> None:
            try:
                result["stats"] = insert_card(
                    platform().get(ChipStore), card_no, stop=stop, host=host, port=port,
                    on_connected=announce,
                )
            except DomainError as error:
                result["error"] = error

        # Serving runs in a thread so a Ctrl-C never lands between a command and its save.
        worker = threading.Thread(target=serve, name="vpcd-card")
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
        if "error" in result:
            fail(result["error"])
        console.print(
            f"card {card_no} removed after {result['stats'].commands} commands; "
            "chip image saved / 卡片已取出，芯片状态已保存"
        )

    @card.command("read")
    def read_command(
        reader_name: str = typer.Option(None, "--reader", help="PC/SC reader (default: the first with a card)"),
        card_no: str = typer.Option(None, "--card", help="read a stored emulated card instead"),
        issuer: bool = typer.Option(False, "--issuer", help="read as the issuer's outlet (all holder data)"),
    ) -> None:
        """Print what a card holds: social-security data, transit balance and last
        transactions / 读卡：社保信息、交通钱包余额与最近交易."""
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.readers.contents import read_card

        if reader_name is not None and card_no is not None:
            raise typer.BadParameter("--reader or --card, not both / 二者择一")
        try:
            reader, done = _reader(reader_name, card_no)
            contents = read_card(reader, _psam(issuer))
            done()
        except DomainError as error:
            fail(error)
        _print_contents(getattr(reader, "name", "-"), contents)


def _report_insertion(link, card_no: str, host: str, patience: float = 5.0) -> None:
    """Say the card is in once vpcd talks to it, or why it may not be."""
    if link.polled.wait(patience):
        console.print(
            f"[green]✓[/green] card {card_no} is in reader '{vpcd_reader_name(link.port)}'; "
            "Ctrl-C removes it / "
            "卡片已插入，Ctrl-C 取出",
            highlight=False,
        )
    else:
        console.print(
            f"[yellow]![/yellow] vpcd at {host}:{link.port} has not polled the card for "
            f"{patience:.0f} s: is another virtual card in that reader? (try --port {link.port + 1}) / "
            "虚拟读卡器未响应，该读卡器可能已有卡片",
            highlight=False,
        )


def _reader(reader_name: str | None, card_no: str | None):
    """The reader to read from, and what to do afterwards (save an emulated card)."""
    if card_no is None:
        from yikatong.readers.pcsc import PcscReader

        return PcscReader(reader_name), lambda: None
    from yikatong.chip.protocols import ChipStore
    from yikatong.chip.reader import EmulatorReader
    from yikatong.cli.context import platform
    from yikatong.readers.insert import SaveWhenChanged

    store = platform().get(ChipStore)
    card = store.load(card_no)
    return EmulatorReader(card), SaveWhenChanged(store, card)


def _psam(issuer: bool):
    """A software PSAM on this platform's key store: national reading key (any city's
    terminal), or with `issuer` also the issuer's external-authentication key. None (card
    identification data only) when no key store is configured."""
    from yikatong.chip.psam import E_PURSE_TERMINAL, ISSUER_OUTLET, Psam
    from yikatong.cli.context import platform
    from yikatong.core.errors import DomainError
    from yikatong.crypto.protocols import KeyStore

    try:
        keystore = platform().get(KeyStore)
    except DomainError as error:
        console.print(f"[yellow]![/yellow] no PSAM keys ({error.message_en}); reading without PSAM")
        return None
    purposes = ISSUER_OUTLET if issuer else E_PURSE_TERMINAL
    return Psam(keystore, terminal_id=READ_TERMINAL_ID, purposes=purposes)


def _print_contents(reader_name: str, contents) -> None:
    from yikatong.core.money import format_fen

    console.print(f"reader: {reader_name}   ATR: {contents.atr.hex(' ').upper()}", highlight=False)
    social = contents.social_security
    if social is not None:
        table = Table(title="Social security / 社会保障", show_header=False)
        for label, value in (
            ("card ID code / 卡识别码", social.card_id_code),
            ("card no / 卡号", social.card_no),
            ("SSN / 社会保障号码", social.ssn),
            ("name / 姓名", social.name),
            ("gender / 性别", social.gender),
            ("nation / 民族", social.nation),
            ("birth date / 出生日期", social.birth_date),
            ("birthplace / 出生地", social.birthplace),
            ("issued / 发卡日期", social.issue_date),
            ("expires / 有效期", social.expiry_date),
            ("spec / 规范版本", social.spec_version),
        ):
            table.add_row(label, "[dim]not readable / 无权读取[/dim]" if value is None else str(value))
        console.print(table)
    purse = contents.purse
    if purse is not None:
        balance = "blocked / 已锁定" if purse.blocked else f"¥{format_fen(purse.balance or 0)}"
        console.print(
            f"T-Union purse / 交通钱包  ASN {purse.public.asn.hex()}  balance / 余额 {balance}  "
            f"counters online {purse.online_counter} offline {purse.offline_counter}",
            highlight=False,
        )
        table = Table(title=f"Last transactions / 最近交易 (0018, up to {LAST_TRANSACTIONS})")
        for column in ("ctr", "type", "amount", "terminal", "when"):
            table.add_column(column)
        for entry in purse.transactions[:LAST_TRANSACTIONS]:
            table.add_row(
                str(entry.counter), f"{entry.tx_type:02X}", format_fen(entry.amount),
                entry.terminal_id.hex().upper(), str(entry.when or "-"),
            )
        console.print(table)
    for what in contents.missing:
        console.print(f"[yellow]![/yellow] {what}")
