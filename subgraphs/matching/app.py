"""The matching subgraph: `uvicorn subgraphs.matching.app:app`."""

from shared.app import Subgraph, create_app
from subgraphs.matching.context import get_context
from subgraphs.matching.schema import schema

app = create_app(Subgraph(name="matching", schema=schema, context_getter=get_context))
