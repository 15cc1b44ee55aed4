"""A run's report: paid, held and failed by bank and by reason, as a table and a chart, for
the paying office's page, the terminal (cli.py) and a standalone HTML file."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from yikatong.benefits.runs import REASON_WORDS, ReportRow, RunView
from yikatong.core.money import format_fen

STATUS_WORDS = {"posted": ("已入账", "paid"), "held": ("银行暂挂", "held"),
                "failed": ("失败", "failed"), "pending": ("待发", "pending"),
                "recovered": ("已追回", "recovered")}
STATUSES = ("posted", "held", "failed", "pending")


def by_bank(rows: Sequence[ReportRow]) -> dict[str, dict[str, tuple[int, int]]]:
    """{bank: {status: (count, fen)}}: the chart's bars."""
    table: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        cell = table[row.bank_code][row.status]
        cell[0] += row.count
        cell[1] += row.fen
    return {bank: {s: tuple(v) for s, v in statuses.items()} for bank, statuses in sorted(table.items())}


def reason_words(code: str) -> tuple[str, str]:
    return REASON_WORDS.get(code, (code, code)) if code else ("", "")


def chart(rows: Sequence[ReportRow]) -> Markup:
    """Stacked bars per bank (payees paid, held, failed) as inline SVG."""
    from yikatong.centre.charts import bar_chart

    banks = by_bank(rows)
    categories = [bank if bank != "-" else "无卡 no card" for bank in banks]
    series = [(f"{STATUS_WORDS[s][0]} {STATUS_WORDS[s][1]}",
               [banks[bank].get(s, (0, 0))[0] for bank in banks]) for s in STATUSES
              if any(s in statuses for statuses in banks.values())]
    return bar_chart(title="按银行的发放结果 Payees by bank and outcome", categories=categories,
                     series=series, no_data="尚无发放 No payments yet", stacked=True)


def terminal_bars(rows: Sequence[ReportRow], width: int = 40) -> list[str]:
    """The chart for a terminal: one line per bank and outcome, a bar of █ to scale."""
    banks = by_bank(rows)
    largest = max((count for statuses in banks.values() for count, _ in statuses.values()), default=0)
    lines = []
    for bank, statuses in banks.items():
        for status in STATUSES:
            if status in statuses:
                count, fen = statuses[status]
                bar = "█" * max(1, round(width * count / largest)) if largest else ""
                lines.append(f"{bank:<8} {status:<7} {bar} {count} ({format_fen(fen)})")
    return lines


def standalone_html(run: RunView, rows: Sequence[ReportRow]) -> str:
    """The run's report as one HTML file (table and chart), to open or send as it is."""
    environment = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                              autoescape=select_autoescape(["html"]))
    environment.filters["money"] = format_fen
    return environment.get_template("run_report_file.html").render(
        run=run, rows=rows, chart=chart(rows), statuses=STATUS_WORDS, reasons=reason_words)
