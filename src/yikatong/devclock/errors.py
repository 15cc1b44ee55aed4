"""Refusals of the development clock."""

from __future__ import annotations

from yikatong.core.errors import Conflict, DomainError


class ClockWouldGoBack(Conflict):
    code = "dev_clock_backwards"
    zh = "开发时钟只能向前拨：现在是 {now}，不能拨到 {requested}"
    en = "The development clock only moves forward: it is {now}, it cannot go to {requested}"


class ClockNotMovable(Conflict):
    code = "dev_clock_not_movable"
    zh = "平台时钟不可拨动（开发模式请用 ykt serve 启动，可加 --clock）"
    en = "The platform clock cannot be moved (start it with ykt serve in development, optionally --clock)"


class ClockMoveUnclear(DomainError):
    code = "dev_clock_move_unclear"
    http_status = 422
    zh = "请给出 set_to（拨到某一时刻）或 advance_by（向前拨多少）其中之一"
    en = "Give exactly one of set_to (move to an instant) or advance_by (move forward by a span)"
