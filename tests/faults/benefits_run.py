"""`python -m tests.faults.benefits_run PROGRAMME PERIOD`: what `ykt benefits run PROGRAMME
--period PERIOD` does, for the fault tests until that command is on this branch: the
reference paying office's payee list (the same list again is the same list), then
`benefits.runs.run`, as the programme's paying office, on the platform from the environment.
Prints the run's state and figures."""

from __future__ import annotations

import json
import sys


def main(programme: str, period: str) -> None:
    from yikatong.benefits import paying_office, runs
    from yikatong.benefits.service import programme_spec
    from yikatong.core.actor import Actor, Channel, Role
    from yikatong.core.killpoints import killpoint
    from yikatong.platform import Platform

    office = programme_spec(programme).office_code
    actor = Actor(user_id=f"office-{office.lower()}", role=Role.PAYING_OFFICE,
                  channel=Channel.AGENCY, branch_code=office)
    platform = Platform()
    with platform.uow() as uow:
        paying_office.submit_reference_list(uow=uow, actor=actor, programme_code=programme,
                                            period=period)
        uow.commit()
    killpoint("payees.received")
    view = runs.run(platform, actor=actor, programme_code=programme, period=period)
    print(json.dumps({"state": view.state, "reconciliation": view.reconciliation}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
