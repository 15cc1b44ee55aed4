"""Charts as SVG drawn on the server by pygal (no script runs in the browser, nothing loaded from
another host), placed inline in the page beside a table of the same numbers.

pygal always writes a small configuration <script> into its SVG (for its optional tooltips,
which would load pygal.js from a CDN); the pages' CSP refuses inline scripts, and the chart
needs none, so the element is removed from the tree before it is serialised.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from xml.etree import ElementTree

import pygal
from markupsafe import Markup
from pygal.style import Style

SVG = "http://www.w3.org/2000/svg"
ElementTree.register_namespace("", SVG)

# The page's colours (pages/static/ykt.css); series colours that stay apart for readers with
# the common colour-vision deficiencies (Okabe-Ito), on white.
CHART_STYLE = Style(
    background="#ffffff", plot_background="#ffffff", foreground="#1f2933",
    foreground_strong="#1f2933", foreground_subtle="#52606d", opacity="1", opacity_hover="1",
    colors=("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000",
            "#f0e442", "#7b8794", "#1e6b34"),
    font_family='system-ui, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif',
    title_font_size=18, label_font_size=13, major_label_font_size=13, legend_font_size=13,
    value_font_size=12, no_data_font_size=18,
)


def bar_chart(*, title: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[int]]],
              no_data: str, stacked: bool = False,
              formatter: Callable[[int], str] | None = None) -> Markup:
    """A (stacked) bar chart as inline SVG, named by `title` for screen readers (who read
    the table beside it for the numbers), with its legend in HTML below it (pygal's own legend
    is cut off when the names are long)."""
    series = list(series) if categories else []
    kind = pygal.StackedBar if stacked else pygal.Bar
    crowded = len(categories) > 8
    chart = kind(style=CHART_STYLE, js=[], disable_xml_declaration=True, no_data_text=no_data,
                 width=760, height=340, show_legend=False, print_values=False, show_y_guides=True,
                 truncate_label=-1, margin=8, x_labels_major_every=2 if crowded else None,
                 show_minor_x_labels=not crowded, show_y_labels=bool(series))
    chart.title = title
    chart.x_labels = list(categories)
    if series:  # (pygal draws "no data" without an axis, and fails on marks for none)
        chart.y_labels = whole_ticks(series, stacked=stacked, unit=100 if formatter else 1)
    if formatter is not None:  # pygal's own marks (an empty chart's) are floats
        chart.value_formatter = lambda value: formatter(round(value))
    for name, values in series:
        chart.add(name, list(values))
    return Markup(_without_scripts(chart.render_tree(), title)) + _legend([name for name, _ in series])


def _legend(names: Sequence[str]) -> Markup:
    """Each series' colour and name (the colours in pygal's order of series)."""
    if not names:
        return Markup("")
    colours = CHART_STYLE.colors
    items = Markup("").join(
        Markup('<li><span class="swatch" aria-hidden="true" style="background:{}"></span>{}</li>')
        .format(colours[i % len(colours)], name) for i, name in enumerate(names))
    return Markup('<ul class="legend">') + items + Markup("</ul>")


def whole_ticks(series: Sequence[tuple[str, Sequence[int]]], *, stacked: bool, unit: int = 1,
                count: int = 5) -> list[int]:
    """The y axis' marks: whole numbers (counts; for money whole yuan) from 0 past the highest
    bar, never the fractions pygal would choose for small counts."""
    columns = list(zip(*(values for _, values in series), strict=True)) if series else []
    peak = max((sum(column) if stacked else max(column) for column in columns), default=0)
    step = max(unit, math.ceil(peak / count / unit) * unit)
    return list(range(0, peak + step, step)) if peak > 0 else [0, unit]


def _without_scripts(svg: ElementTree.Element, title: str) -> str:
    for parent in svg.iter():
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rpartition("}")[2] == "script":
                parent.remove(child)
    svg.set("role", "img")
    svg.set("aria-label", title)
    for size in ("width", "height"):  # the page's style sheet sizes it to its column
        svg.attrib.pop(size, None)
    return ElementTree.tostring(svg, encoding="unicode")
