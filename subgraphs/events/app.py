"""The events subgraph: `uvicorn subgraphs.events.app:app`."""

from shared.app import Subgraph, create_app
from subgraphs.events.context import get_context
from subgraphs.events.models import outbox
from subgraphs.events.schema import schema

app = create_app(Subgraph(name="events", schema=schema, context_getter=get_context, outbox=outbox))
