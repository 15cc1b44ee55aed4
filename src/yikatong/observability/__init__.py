"""Running the platform: Prometheus metrics (`metrics`, `http`, `collectors`), health and
readiness (`health`), structured logs with personal data masked (`logs`, `masking`).

`install(app)` puts the request metrics around an application and adds `/readyz` and
`/metrics` (docs/production.md, "Monitoring")."""

from __future__ import annotations


def install(app) -> None:
    """Request metrics around `app` (outermost) and its `/readyz` and `/metrics` routes."""
    from yikatong.observability import health, http

    health.add_routes(app)
    http.install(app)
