"""The waitlist position a registration answers is the one it keeps: it is taken from the
event's waitlist counter under the row lock, not counted again afterwards."""

import asyncio
from typing import Any

from tests.support.environment import StackEnvironment
from tests.support.events import REGISTER, my_registration, published_event
from tests.support.graphql import GraphQLClient
from tests.support.users import Person, sign_up, with_role


async def test_the_waitlist_position_registering_answers_is_the_one_read_back_later(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, capacity=20)
    limit = asyncio.Semaphore(20)

    async def person(n: int) -> Person:
        async with limit:
            return await sign_up(api, f"Queuer {n}")

    people = await asyncio.gather(*(person(n) for n in range(200)))

    async def register(someone: Person) -> dict[str, Any]:
        body = await api.execute(REGISTER, {"id": event_id}, someone.token)
        assert "errors" not in body, body
        registration: dict[str, Any] = body["data"]["registerForEvent"]
        return registration

    answered = await asyncio.gather(*(register(someone) for someone in people))

    waiting = [
        (someone, registration["waitlistPosition"])
        for someone, registration in zip(people, answered, strict=True)
        if registration["status"] == "WAITLISTED"
    ]
    assert sorted(position for _, position in waiting) == list(range(1, 181))
    for someone, position in waiting:
        read_back = await my_registration(api, event_id, someone)
        assert read_back is not None
        assert (read_back["status"], read_back["waitlistPosition"]) == ("WAITLISTED", position)
