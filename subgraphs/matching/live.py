"""Live news of matches: `matchCreated`, fanned out through Redis pub/sub to both people.

The domain event `match.created` goes through the outbox (the like function writes it);
this is only the live nudge, published once the like has committed."""

import uuid

from shared.pubsub import PubSub
from subgraphs.matching.models import MatchRow


def matches_channel(user_id: uuid.UUID | str) -> str:
    return f"matches:{user_id}"


async def announce_match(pubsub: PubSub, match: MatchRow) -> None:
    for user_id in (match.user_a, match.user_b):
        await pubsub.publish(matches_channel(user_id), {"match_id": str(match.id)})
