from yikatong.events.dispatcher import DispatchLoop, dispatch_pending
from yikatong.events.webhooks import deliver_due_webhooks
from yikatong.worker.runner import Job, Loop


def dispatch_on_commit(platform, stop) -> None:
    DispatchLoop(platform).run(stop)


JOBS = [
    # A second safety net beside the loop's own fallback poll (and what `ykt worker --once`
    # runs): the loop below publishes each commit's events as it happens.
    Job("events.dispatch_outbox", every_seconds=5, run=dispatch_pending),
    Job("events.deliver_webhooks", every_seconds=1, run=deliver_due_webhooks),
]

LOOPS = [Loop("events.dispatch_on_commit", run=dispatch_on_commit)]
