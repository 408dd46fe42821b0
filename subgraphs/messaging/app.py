"""The messaging subgraph: `uvicorn subgraphs.messaging.app:app`."""

from shared.app import Subgraph, create_app
from subgraphs.messaging.consumers import (
    follow_events_stream,
    follow_matching_stream,
    follow_users_stream,
)
from subgraphs.messaging.context import get_context
from subgraphs.messaging.mailer import send_notification_email, wake_mailer_on_queued_mail
from subgraphs.messaging.schema import schema

app = create_app(
    Subgraph(
        name="messaging",
        schema=schema,
        context_getter=get_context,
        background_jobs=[
            follow_users_stream,
            follow_events_stream,
            follow_matching_stream,
            send_notification_email,
            wake_mailer_on_queued_mail,
        ],
    )
)
