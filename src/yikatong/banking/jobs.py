"""Background work of the reference bank and its link, run by `ykt worker` (and `ykt serve`).

In-process: the relay carries the bank's events to the platform (a change made at the bank's
branch API is relayed at once; this catches what the platform's own transactions caused, such
as a protective loss after an online formal loss), and the bank's rule lifts temporary losses
whose time is up, and disbursement batches left received are processed. With NATS those run in the bank's own process (`ykt bank serve`); the worker
keeps the platform's durable consumers of the banks' streams running.
"""

from __future__ import annotations

from yikatong.banking import service
from yikatong.banking.link import BankRelay, BankStreamConsumers, reference_bank_in_use
from yikatong.banking.runtime import ReferenceBank
from yikatong.worker.runner import Job


def _in_process(platform) -> bool:
    return not platform.settings.nats_url and reference_bank_in_use(platform)


def relay_bank_events(platform) -> int:
    """Deliver the in-process bank's waiting events to the platform."""
    return platform.get(BankRelay).run() if _in_process(platform) else 0


def run_bank_rules(platform) -> int:
    """The in-process bank lifts the temporary losses its rule ends."""
    if not _in_process(platform):
        return 0
    bank = platform.get(ReferenceBank)
    with bank.uow() as uow:
        lifted = service.expire_temporary_losses(uow=uow)
        bank.commit(uow)
    return lifted


def process_disbursement_files(platform) -> int:
    """The in-process bank processes the disbursement batches still received (normally done
    at submit; this catches one a crash or a conflict left)."""
    if not _in_process(platform):
        return 0
    from yikatong.banking.disbursement import process_received

    return process_received(platform.get(ReferenceBank))


def keep_bank_consumers(platform) -> int:
    """NATS: start the platform's consumers of the banks' streams that are not running."""
    if not platform.settings.nats_url:
        return 0
    return platform.get(BankStreamConsumers).ensure_running()


JOBS = [
    Job("banking.relay_bank_events", every_seconds=0.2, run=relay_bank_events),
    Job("banking.run_bank_rules", every_seconds=20, run=run_bank_rules),
    Job("banking.keep_bank_consumers", every_seconds=5, run=keep_bank_consumers),
    Job("banking.process_disbursement_files", every_seconds=10, run=process_disbursement_files),
]
