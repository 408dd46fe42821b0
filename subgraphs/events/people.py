"""The events subgraph's copy of who keeps their profile private, fed by the users stream."""

import os
import socket
import uuid

from fastapi import FastAPI
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.eventbus import DomainEvent, StreamConsumer, stream_name
from subgraphs.events.models import PersonRow, processed_events


async def remember_visibility(session: AsyncSession, event: DomainEvent) -> None:
    if event.type == "user.registered":
        visibility = event.payload["visibility"]
    elif event.type == "user.profile_updated":
        visibility = event.payload["profile"]["visibility"]
    else:
        return
    await session.execute(
        insert(PersonRow)
        .values(user_id=uuid.UUID(event.aggregate_id), visibility=visibility)
        .on_conflict_do_update(
            index_elements=[PersonRow.user_id],
            set_={"visibility": visibility, "updated_at": func.now()},
        )
    )


async def follow_people(app: FastAPI) -> None:
    consumer = StreamConsumer(
        app.state.background_db,
        processed_events,
        app.state.redis,
        stream_name(app.state.settings.redis_prefix, "users"),
        group="events",
        consumer=f"events-{socket.gethostname()}-{os.getpid()}",
        handler=remember_visibility,
        service="events",
    )
    await consumer.run()
