"""`ykt` commands of the medical domain. medsim adds only `ykt simulate medical-day`
(simulation_cli.py); the domain's own commands join here."""

from __future__ import annotations

from yikatong.medical import simulation_cli


def register(group) -> None:
    simulation_cli.register(group)
