from yikatong.events.dispatcher import dispatch_pending
from yikatong.worker.runner import Job

JOBS = [Job("events.dispatch_outbox", every_seconds=1, run=dispatch_pending)]
