"""Response shapes of the notices API, built from the service views (core.response_models)."""

from datetime import datetime

from yikatong.core.response_models import response_model
from yikatong.notices.reference import Delivered
from yikatong.notices.service import MessageView

SmsMessageOut = response_model(MessageView, name="SmsMessageOut")
OutboxMessageOut = response_model(
    Delivered, name="OutboxMessageOut", types={"delivered_at": datetime}
)
