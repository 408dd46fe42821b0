"""The bulk ranking, in process: it scores exactly as the explanation people read, never
needs all pairs, sinks what people keep ignoring, and caps the most popular."""

import uuid
from dataclasses import fields

import numpy as np

from subgraphs.matching import engine, scoring


def _person(**fields: object) -> engine.PersonData:
    values: dict[str, object] = {
        "skills": [], "interests": [], "offers": [], "seeks": [], "industry": None,
        "seniority": None, "city": None, "country": None,
    }  # fmt: skip
    values.update(fields)
    return engine.PersonData(uuid.uuid4(), **values)  # type: ignore[arg-type]


def _profile(person: engine.PersonData) -> scoring.Profile:
    return scoring.Profile(
        person.user_id, person.skills, person.interests, person.offers, person.seeks,
        person.industry, person.seniority, person.city, person.country,
        frozenset(person.event_ids),
    )  # fmt: skip


def _crowd(size: int, seed: int = 3) -> list[engine.PersonData]:
    rng = np.random.default_rng(seed)
    tags = [f"tag{n}" for n in range(40)]
    events = [uuid.uuid4() for _ in range(5)]

    def some(count: int) -> list[str]:
        return list(dict.fromkeys(tags[int(i)] for i in rng.integers(0, 40, count)))

    return [
        _person(
            skills=some(3), interests=some(3), offers=some(3), seeks=some(3),
            industry=["software", "health", None][n % 3],
            seniority=scoring.SENIORITY_LADDER[n % len(scoring.SENIORITY_LADDER)],
            city=["Paris", "Lyon", None][n % 3], country="FR",
            event_ids=[events[n % 5]] if n % 2 else [],
        )
        for n in range(size)
    ]  # fmt: skip


def test_the_bulk_score_is_the_score_people_are_shown() -> None:
    people = _crowd(60)
    population = engine.Population(people)
    a, b = population.candidates(np.arange(population.n))
    bulk = population.scores(a, b)
    for x, y, score in zip(a[:300], b[:300], bulk[:300], strict=True):
        shared = {e: "E" for e in set(people[x].event_ids) & set(people[y].event_ids)}
        explained = scoring.explain(_profile(people[x]), _profile(people[y]), shared)
        assert abs(explained.score - score) < 1e-9
        assert 0 <= score <= 1


def test_candidates_are_not_all_pairs_yet_find_whoever_answers_every_need() -> None:
    people = _crowd(400)
    seeker = _person(seeks=["rare one", "rare two", "rare three"], offers=["rare four"])
    partner = _person(offers=["rare one", "rare two", "rare three"], seeks=["rare four"])
    population = engine.Population([*people, seeker, partner])
    a, b = population.candidates(np.arange(population.n))
    assert len(a) < population.n * (population.n - 1) / 4
    assert len(set(zip(a.tolist(), b.tolist(), strict=True))) == len(a)
    assert not np.any(a == b)
    ranked = engine.rank(population, a, b)
    mine = ranked.candidate[(ranked.user == population.n - 2) & (ranked.context == -1)]
    assert mine[0] == population.n - 1


def test_a_recommendation_shown_again_and_again_sinks() -> None:
    need = _person(seeks=["x", "y"], offers=["z"])
    first = _person(offers=["x", "y"], seeks=["z"])
    second = _person(offers=["x"], seeks=["z"])  # answers half the needs
    population = engine.Population([need, first, second])
    a, b = np.array([0, 0]), np.array([1, 2])

    def order(ranked: engine.Ranked) -> list[int]:
        overall = ranked.context == -1
        best_first: list[int] = ranked.candidate[overall][
            np.argsort(-ranked.rank_score[overall])
        ].tolist()
        return best_first

    assert order(engine.rank(population, a, b)) == [1, 2]
    # Shown a few times: nothing changes yet. Shown and ignored more: it sinks.
    few = engine.rank(
        population, a, b, engine.Impressions({(0, 1): scoring.IMPRESSIONS_FREE}, population.n)
    )
    assert order(few) == [1, 2]
    many = engine.Impressions({(0, 1): scoring.IMPRESSIONS_FREE + 5}, population.n)
    assert order(engine.rank(population, a, b, impressions=many)) == [2, 1]


def test_one_very_popular_person_does_not_fill_everyones_top_ten() -> None:
    star = _person(offers=[f"need{n}" for n in range(6)], seeks=["help"], city="Paris")
    fans = [
        _person(seeks=[f"need{n % 6}"], offers=["help"], city="Paris")
        for n in range(scoring.POPULARITY_CAP + 20)
    ]
    population = engine.Population([star, *fans])
    a, b = population.candidates(np.arange(population.n))
    ranked = engine.rank(population, a, b)
    rows = (ranked.candidate == 0) & (ranked.context == -1)
    demoted = ranked.rank_score[rows] < ranked.score[rows]
    assert demoted.sum() >= 20
    assert (~demoted).sum() == scoring.POPULARITY_CAP


def _rank_everyone(
    population: engine.Population,
    impressions: engine.Impressions,
    progress: engine.Progress | None = None,
    *,
    workers: int,
    chunk: int,
) -> tuple[engine.Ranked, int]:
    """Every seeker's lists from `rank_chunks`, the popularity cap applied (as the full
    recompute does, there while streaming); and the pairs scored."""
    parts, pairs = [], 0
    for part, scored in engine.rank_chunks(population, impressions, progress, workers, chunk):
        parts.append(part)
        pairs += scored
    ranked = engine.Ranked(
        *(
            np.concatenate([getattr(part, field.name) for part in parts])
            for field in fields(engine.Ranked)
        )
    )
    overall = np.flatnonzero(ranked.context == -1)
    ranked.rank_score[overall] = engine.cap_popularity(
        ranked.user[overall], ranked.candidate[overall], ranked.rank_score[overall]
    )
    return ranked, pairs


def test_ranking_everyone_in_worker_processes_gives_the_same_lists() -> None:
    population = engine.Population(_crowd(300))
    shown = engine.Impressions({(0, 1): scoring.IMPRESSIONS_FREE + 4}, population.n)
    seen: list[int] = []
    alone, pairs = _rank_everyone(population, shown, workers=1, chunk=70)
    pooled, pooled_pairs = _rank_everyone(
        population, shown, lambda done, _: seen.append(done), workers=2, chunk=70
    )
    assert pairs == pooled_pairs > 0
    assert seen == [70, 140, 210, 280, 300]
    for name in ("user", "context", "candidate", "score", "rank_score"):
        assert np.array_equal(getattr(alone, name), getattr(pooled, name)), name
