from yikatong.core.errors import NotFound


class NoDevelopmentOutbox(NotFound):
    """Production, or a real carrier: there is no outbox to read (answers as a missing route)."""

    code = "route_not_found"
    zh = "没有这个接口"
    en = "No such endpoint"
