"""The events subgraph: `uvicorn subgraphs.events.app:app`."""

import uuid

from fastapi import Request, Response

from shared.app import Subgraph, create_app
from shared.errors import ClientError
from subgraphs.events import resolvers
from subgraphs.events.calendar import icalendar
from subgraphs.events.context import get_context
from subgraphs.events.models import outbox
from subgraphs.events.people import follow_people
from subgraphs.events.schema import schema

app = create_app(
    Subgraph(
        name="events",
        schema=schema,
        context_getter=get_context,
        outbox=outbox,
        background_jobs=[follow_people],
    )
)


@app.get("/events/{event_id}.ics")
async def event_calendar_file(event_id: uuid.UUID, request: Request) -> Response:
    """The iCalendar file of a published or cancelled event (also `Event.icalendar`)."""
    try:
        async with request.app.state.db.transaction() as session:
            event = await resolvers.get_event(session, None, event_id)
    except ClientError as error:
        return Response(error.message, status_code=404, media_type="text/plain")
    return Response(
        icalendar(event),
        media_type="text/calendar",
        headers={"content-disposition": f'attachment; filename="meetinity-{event_id}.ics"'},
    )
