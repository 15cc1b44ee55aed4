from yikatong.events.dispatcher import dispatch_pending
from yikatong.events.webhooks import deliver_due_webhooks
from yikatong.worker.runner import Job

JOBS = [
    # Every 0.2 s: the commit-to-partner delay is mostly this wait (bench/outbox_nats.py).
    Job("events.dispatch_outbox", every_seconds=0.2, run=dispatch_pending),
    Job("events.deliver_webhooks", every_seconds=1, run=deliver_due_webhooks),
]
