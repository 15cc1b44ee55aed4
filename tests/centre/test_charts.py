"""The dashboards' charts: SVG with no script (the pages' CSP refuses inline scripts) and
whole-number axis marks."""

from __future__ import annotations

from yikatong.centre.charts import bar_chart, whole_ticks
from yikatong.pages.formatting import money


def test_a_chart_is_svg_named_for_screen_readers_without_a_script():
    svg = bar_chart(title="每日申领", categories=["03月01日", "03月02日"], stacked=True,
                    series=[("已提交", [1, 2]), ("已领取", [3, 0])], no_data="无数据")
    assert svg.startswith("<svg") and svg.count("<svg") == 1
    assert "<script" not in svg and "http://kozea" not in svg
    assert 'role="img"' in svg and 'aria-label="每日申领"' in svg
    legend = svg.split("</svg>", 1)[1]
    assert legend.startswith('<ul class="legend">') and legend.count("<li>") == 2
    assert "#0072b2" in legend and "已提交" in legend and "已领取" in legend


def test_an_empty_chart_says_so():
    svg = bar_chart(title="t", categories=[], series=[], no_data="此期间无数据")
    assert "此期间无数据" in svg and "<script" not in svg and "<ul" not in svg
    no_rows = bar_chart(title="t", categories=[], series=[("消费", [])], no_data="-", formatter=money)
    assert "<li>" not in no_rows


def test_money_is_drawn_from_integer_fen_on_whole_yuan_marks():
    svg = bar_chart(title="t", categories=["CZBUS"], series=[("消费", [12345])], no_data="-",
                    formatter=money)
    assert "¥100.00" in svg  # a whole-yuan mark
    assert whole_ticks([("a", [12345])], stacked=False, unit=100) == [0, 2500, 5000, 7500, 10000, 12500]


def test_count_marks_are_whole_numbers_over_the_stacked_peak():
    assert whole_ticks([("a", [1, 2]), ("b", [3, 0])], stacked=True) == [0, 1, 2, 3, 4]
    assert whole_ticks([("a", [0, 0])], stacked=True) == [0, 1]
    assert whole_ticks([("a", [17])], stacked=False) == [0, 4, 8, 12, 16, 20]
