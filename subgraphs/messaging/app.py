"""The messaging subgraph: `uvicorn subgraphs.messaging.app:app`."""

from shared.app import Subgraph, create_app
from subgraphs.messaging.context import get_context
from subgraphs.messaging.schema import schema

app = create_app(Subgraph(name="messaging", schema=schema, context_getter=get_context))
