"""Recommendations through the router, from real profiles and registrations that reach
matching only through the users and events streams."""

import time
import uuid

from subgraphs.events.tests.test_people_projection import run_tool
from subgraphs.matching import scoring
from subgraphs.matching.tests.support import (
    RECOMMENDATIONS,
    UPDATE_PROFILE,
    fetch,
    profiled,
    recommendations_of,
    recommended_ids,
    wait_until_recommended,
)
from tests.support.environment import StackEnvironment
from tests.support.events import published_event, register
from tests.support.graphql import GraphQLClient
from tests.support.users import Person, with_role
from tests.support.waiting import eventually


def _tag() -> str:
    """A tag no other test uses, so that other tests' people never compete."""
    return f"t{uuid.uuid4().hex[:8]}"


async def test_complementary_attendees_recommend_each_other_with_reasons_both_ways(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, title="PyCon Paris")
    money, code, topic = f"fundraising {_tag()}", f"python {_tag()}", f"climate {_tag()}"
    founder = await profiled(
        api, "Fay Founder", seeks=[money], offers=[code], interests=[topic],
        location={"city": "Paris", "country": "FR"},
    )  # fmt: skip
    investor = await profiled(
        api, "Ivan Investor", seeks=[code], offers=[money], interests=[topic],
        location={"city": "Paris", "country": "FR"},
    )  # fmt: skip
    # Offers what the founder seeks, but seeks nothing the founder offers.
    one_sided = await profiled(api, "Olga Onesided", offers=[money], seeks=[_tag()])
    stranger = await profiled(api, "Sam Stranger", skills=[_tag()], seeks=[_tag()])
    for person in (founder, investor, one_sided, stranger):
        await register(api, event_id, person)

    nodes = await wait_until_recommended(api, founder, [investor, one_sided], event_id)
    ranked = [node["user"]["id"] for node in nodes]
    assert ranked[0] == investor.id
    assert ranked.index(one_sided.id) > ranked.index(investor.id)
    if stranger.id in ranked:
        assert ranked.index(stranger.id) > ranked.index(one_sided.id)
    best = nodes[0]
    assert best["user"]["name"] == "Ivan Investor"
    assert 0 < best["score"] <= 1
    texts = [reason["text"] for reason in best["reasons"]]
    assert f"offers *{money}*, which you seek" in texts
    assert f"seeks *{code}*, which you offer" in texts
    assert "both attend *PyCon Paris*" in texts
    by_kind = {reason["kind"]: reason for reason in best["reasons"]}
    assert by_kind["OFFERS_WHAT_YOU_SEEK"]["direction"] == "THEY_FOR_YOU"
    assert by_kind["OFFERS_WHAT_YOU_SEEK"]["tags"] == [money]
    assert by_kind["SEEKS_WHAT_YOU_OFFER"]["direction"] == "YOU_FOR_THEM"
    assert by_kind["SHARED_EVENT"]["event"] == {"id": event_id, "title": "PyCon Paris"}
    assert by_kind["SAME_CITY"]["text"] == "both based in Paris"
    assert best["sharedEvents"] == [{"id": event_id, "title": "PyCon Paris"}]
    assert best["parts"]["offersToYou"] == 1.0 and best["parts"]["offersToThem"] == 1.0
    one_sided_node = nodes[ranked.index(one_sided.id)]
    assert one_sided_node["parts"]["offersToYou"] == 1.0
    assert one_sided_node["parts"]["offersToThem"] == 0.0
    assert one_sided_node["score"] < best["score"]

    # And the other way round, overall as well as at the event.
    back = await wait_until_recommended(api, investor, [founder], event_id)
    assert back[0]["user"]["id"] == founder.id
    assert f"offers *{code}*, which you seek" in [r["text"] for r in back[0]["reasons"]]
    overall = await wait_until_recommended(api, investor, [founder])
    assert overall[0]["user"]["id"] == founder.id


async def test_a_new_tag_shows_in_the_reasons_within_two_seconds(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    design, rust = f"design {_tag()}", f"rust {_tag()}"
    seeker = await profiled(api, "Dora Designer", seeks=[design], offers=[rust])
    helper = await profiled(api, "Hugo Helper", offers=[design], seeks=[rust])
    [node] = [
        node
        for node in await wait_until_recommended(api, seeker, [helper])
        if node["user"]["id"] == helper.id
    ]
    assert node["parts"]["topics"] == 0.0
    shared = f"sailing {_tag()}"
    for person in (seeker, helper):
        await api.data(UPDATE_PROFILE, {"input": {"interests": [shared]}}, person.token)
    changed = time.monotonic()

    async def reasons_show_it() -> bool:
        nodes = await recommendations_of(api, seeker)
        return any(
            node["user"]["id"] == helper.id
            and any(shared in reason["tags"] for reason in node["reasons"])
            for node in nodes
        )

    await eventually(reasons_show_it, "the shared interest in the reasons", within=2.0)
    assert time.monotonic() - changed < 2.0


async def test_recommendations_page_with_cursors_and_refuse_bad_input(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    need, gift = f"ops {_tag()}", f"gift {_tag()}"
    seeker = await profiled(api, "Paula Pager", seeks=[need], offers=[gift])
    helpers = [await profiled(api, f"Helper {n}", offers=[need], seeks=[gift]) for n in range(3)]
    await wait_until_recommended(api, seeker, helpers)
    seen: list[str] = []
    after = None
    while True:
        page = (await api.data(RECOMMENDATIONS, {"first": 2, "after": after}, seeker.token))[
            "recommendations"
        ]
        seen += [edge["node"]["user"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen))
    assert {helper.id for helper in helpers} <= set(seen)
    assert seen == await recommended_ids(api, seeker)

    variables = {"first": 10, "after": None}
    assert await api.error_code(RECOMMENDATIONS, variables) == "UNAUTHENTICATED"
    for bad in ({"first": 0}, {"first": 101}, {"first": 5, "after": "garbage"},
                {"first": 5, "eventId": "nope"}):  # fmt: skip
        assert await api.error_code(RECOMMENDATIONS, bad, seeker.token) == "BAD_USER_INPUT"


async def _shown_in_a_later_window(
    api: GraphQLClient, environment: StackEnvironment, viewer: Person, first: int
) -> list[str]:
    """The viewer's first `first` recommendations, fetched as if an impression window
    had passed since they were last shown (each fetch then counts once more)."""
    await fetch(
        environment.config.database_url,
        "UPDATE matching.impressions SET last_shown_at = last_shown_at - make_interval(secs => $2)"
        " WHERE user_id = $1",
        uuid.UUID(viewer.id), float(scoring.IMPRESSION_WINDOW_SECONDS),
    )  # fmt: skip
    ids = [node["user"]["id"] for node in await recommendations_of(api, viewer, first=first)]
    for _ in range(3):  # reloading within the window counts nothing more
        await recommendations_of(api, viewer, first=first)
    return ids


async def test_a_recommendation_shown_again_and_again_and_ignored_sinks(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    need, other_need, gift = f"x {_tag()}", f"y {_tag()}", f"z {_tag()}"
    viewer = await profiled(api, "Ivy Ignorer", seeks=[need, other_need], offers=[gift])
    # Answers both of Ivy's needs; the second one answers one of them.
    best = await profiled(api, "Bob Best", offers=[need, other_need], seeks=[gift])
    second = await profiled(api, "Sue Second", offers=[need], seeks=[gift])
    assert await wait_until_recommended(api, viewer, [best, second])
    assert (await recommended_ids(api, viewer))[:2] == [best.id, second.id]

    # Ivy looks at her top recommendation in hour after hour, and never likes or passes.
    for _ in range(scoring.IMPRESSIONS_FREE + 3):
        assert await _shown_in_a_later_window(api, environment, viewer, first=1) == [best.id]
    [shown] = await fetch(
        environment.config.database_url,
        "SELECT shown FROM matching.impressions WHERE user_id = $1 AND candidate_id = $2",
        uuid.UUID(viewer.id), uuid.UUID(best.id),
    )  # fmt: skip
    assert shown["shown"] == scoring.IMPRESSIONS_FREE + 4  # the first look, then one an hour
    # The lists are re-ranked by the jobs, not on read: Bob stays first until then.
    assert (await recommended_ids(api, viewer))[:2] == [best.id, second.id]

    # The incremental re-scoring (Ivy changed her profile) applies the discount…
    await api.data(UPDATE_PROFILE, {"input": {"interests": [_tag()]}}, viewer.token)

    async def sunk() -> bool:
        return (await recommended_ids(api, viewer))[:2] == [second.id, best.id]

    await eventually(sunk, "Bob below Sue in Ivy's list after re-scoring", within=15)
    # …and so does the periodic full recompute.
    await run_tool(environment, "matching-recompute")
    assert (await recommended_ids(api, viewer))[:2] == [second.id, best.id]
    # Nothing changed for Bob's own list: Ivy ignoring him does not sink her for him.
    assert (await recommended_ids(api, best))[0] == viewer.id
