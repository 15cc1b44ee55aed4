"""The card centre: its dashboards (service.py: read-only counts; charts.py) and pages (web.py)."""
