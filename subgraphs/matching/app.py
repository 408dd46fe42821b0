"""The matching subgraph: `uvicorn subgraphs.matching.app:app`."""

from shared.app import Subgraph, create_app
from subgraphs.matching.consumers import follow_events_stream, follow_users_stream
from subgraphs.matching.context import get_context
from subgraphs.matching.models import outbox
from subgraphs.matching.rescoring import recompute_periodically, rescore_queued
from subgraphs.matching.schema import schema

app = create_app(
    Subgraph(
        name="matching",
        schema=schema,
        context_getter=get_context,
        outbox=outbox,
        background_jobs=[
            follow_users_stream,
            follow_events_stream,
            rescore_queued,
            recompute_periodically,
        ],
    )
)
