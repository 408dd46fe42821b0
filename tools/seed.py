"""Demo data, loaded through the router like any client would (idempotent).

The first admin is the one thing made in SQL: every deployment bootstraps its
first admin that way, and admins grant every other role through the API.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

DEMO_PASSWORD = "meetinity-demo"


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    role: str
    profile: dict[str, Any]


PEOPLE = [
    DemoPerson("ada@meetinity.dev", "Ada Lovelace", "admin", {
        "headline": "Community admin", "company": "Meetinity", "jobTitle": "Head of Community",
        "industry": "Software", "seniority": "DIRECTOR",
        "location": {"city": "London", "country": "GB"},
        "skills": ["community", "analytics"], "interests": ["mathematics", "poetry"],
        "offers": ["introductions", "community building"],
        "seeks": ["public speaking", "ml advice"], "visibility": "PUBLIC"}),
    DemoPerson("grace@meetinity.dev", "Grace Hopper", "organizer", {
        "headline": "Organiser of Paris Python Nights", "company": "Nimbus",
        "jobTitle": "Developer Relations Lead", "industry": "Software", "seniority": "LEAD",
        "location": {"city": "Paris", "country": "FR"}, "skills": ["python", "compilers"],
        "interests": ["developer tools", "education"], "offers": ["speaking slots", "mentoring"],
        "seeks": ["sponsors"], "visibility": "PUBLIC"}),
    DemoPerson("alan@meetinity.dev", "Alan Turing", "member", {
        "headline": "ML researcher looking for a co-founder", "company": "Bletchley Labs",
        "jobTitle": "Research Scientist", "industry": "Artificial Intelligence",
        "seniority": "SENIOR", "location": {"city": "Paris", "country": "FR"},
        "skills": ["machine learning", "python", "cryptography"],
        "interests": ["startups", "chess", "mathematics"], "offers": ["ml advice"],
        "seeks": ["co-founder", "introductions"],
        "visibility": "MEMBERS"}),
    DemoPerson("katherine@meetinity.dev", "Katherine Johnson", "member", {
        "headline": "Fintech founder, hiring engineers", "company": "Orbit Pay",
        "jobTitle": "CEO", "industry": "Fintech", "seniority": "FOUNDER",
        "location": {"city": "Lyon", "country": "FR"}, "skills": ["payments", "leadership"],
        "interests": ["startups", "space"], "offers": ["jobs", "investment intros"],
        "seeks": ["senior engineers", "ml advice"], "visibility": "PUBLIC"}),
    DemoPerson("linus@meetinity.dev", "Linus Torvalds", "member", {
        "headline": "Kernel hacker", "company": "Freelance", "jobTitle": "Consultant",
        "industry": "Software", "seniority": "SENIOR",
        "location": {"city": "Paris", "country": "FR"}, "skills": ["c", "linux", "git"],
        "interests": ["open source", "diving"], "offers": ["code review"],
        "seeks": ["interesting problems"], "visibility": "MEMBERS"}),
    DemoPerson("margaret@meetinity.dev", "Margaret Hamilton", "member", {
        "headline": "Software engineering for critical systems", "company": "Apollo Systems",
        "jobTitle": "Engineering Manager", "industry": "Aerospace", "seniority": "MANAGER",
        "location": {"city": "Toulouse", "country": "FR"}, "skills": ["reliability", "rust"],
        "interests": ["space", "safety"], "offers": ["mentoring", "public speaking"],
        "seeks": ["jobs", "community building"],
        "visibility": "PUBLIC"}),
]  # fmt: skip


def _evening(days_ahead: int, hour: int = 19) -> datetime:
    paris = ZoneInfo("Europe/Paris")
    day = datetime.now(paris) + timedelta(days=days_ahead)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


def demo_events() -> list[dict[str, Any]]:
    """Grace's events: one small and full (with a waitlist), one on approval, one online
    and unlimited, and a draft."""
    return [
        {"title": "Paris Python Night", "category": "MEETUP", "tags": ["python", "community"],
         "description": "Three lightning talks, then drinks.", "capacity": 3,
         "startsAt": _evening(14).isoformat(), "endsAt": _evening(14, 22).isoformat(),
         "venueName": "La Cantine", "venueAddress": "151 rue Montmartre", "city": "Paris",
         "country": "FR", "publish": True},
        {"title": "Fintech Founders Breakfast", "category": "NETWORKING",
         "tags": ["fintech", "startups"], "capacity": 30, "requiresApproval": True,
         "startsAt": _evening(21, 8).isoformat(), "endsAt": _evening(21, 10).isoformat(),
         "venueName": "Halle Tony Garnier", "city": "Lyon", "country": "FR", "publish": True},
        {"title": "Remote ML Reading Group", "category": "WEBINAR",
         "tags": ["machine learning", "papers"], "capacity": None,
         "startsAt": _evening(7, 18).isoformat(), "endsAt": _evening(7, 19).isoformat(),
         "onlineUrl": "https://meet.example.com/ml-reading", "publish": True},
        {"title": "Summer Hackathon (draft)", "category": "HACKATHON", "capacity": 120,
         "startsAt": _evening(60, 9).isoformat(), "endsAt": _evening(61, 18).isoformat(),
         "venueName": "Station F", "city": "Paris", "country": "FR", "publish": False},
    ]  # fmt: skip


class DemoClient:
    def __init__(self, router_url: str) -> None:
        self._http = httpx.Client(base_url=router_url, timeout=30)

    def call(self, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        body = self._http.post("", json={"query": query, "variables": variables}, headers=headers)
        result = body.json()
        if result.get("errors"):
            raise RuntimeError(f"{query.split('(')[0].strip()}: {result['errors']}")
        return result["data"]

    def sign_in(self, person: DemoPerson) -> dict[str, Any]:
        """Logs in, signing up first when the account does not exist yet."""
        login = """mutation($email: String!, $password: String!) {
            login(email: $email, password: $password) { accessToken user { id role } } }"""
        register = """mutation($email: String!, $password: String!, $name: String!) {
            register(email: $email, password: $password, name: $name) { user { id } } }"""
        credentials = {"email": person.email, "password": DEMO_PASSWORD}
        try:
            payload: dict[str, Any] = self.call(login, credentials)["login"]
            return payload
        except RuntimeError:
            self.call(register, {**credentials, "name": person.name})
            payload = self.call(login, credentials)["login"]
            return payload


async def _make_admin(database_url: str, email: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("UPDATE users.users SET role = 'admin' WHERE email = $1", email)
    finally:
        await connection.close()


async def seed_demo_data(router_url: str, database_url: str) -> list[str]:
    """Loads the demo people (and their events); returns lines to show the developer."""
    client = DemoClient(router_url)
    admin = PEOPLE[0]
    client.sign_in(admin)
    await _make_admin(database_url, admin.email)
    admin_token = client.sign_in(admin)["accessToken"]
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for person in PEOPLE:
        session = client.sign_in(person)
        if person.role != "admin" and session["user"]["role"].lower() != person.role:
            client.call(
                "mutation($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { id } }",
                {"id": session["user"]["id"], "role": person.role.upper()},
                admin_token,
            )
            session = client.sign_in(person)
        tokens[person.email] = session["accessToken"]
        ids[person.email] = session["user"]["id"]
        client.call(
            "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { id } }",
            {"input": person.profile},
            tokens[person.email],
        )
    organizer_token = tokens["grace@meetinity.dev"]
    event_ids = _seed_events(client, organizer_token)
    members = [person for person in PEOPLE if person.role == "member"]
    register = "mutation($id: ID!) { registerForEvent(eventId: $id) { status } }"
    for person in members:  # four people for three seats: the last one waits
        client.call(register, {"id": event_ids["Paris Python Night"]}, tokens[person.email])
    client.call(register, {"id": event_ids["Fintech Founders Breakfast"]},
                tokens["katherine@meetinity.dev"])  # fmt: skip
    # Matching's demo: Ada (the demo login) meets people who answer her needs there.
    for email in ("ada@meetinity.dev", "alan@meetinity.dev", "margaret@meetinity.dev",
                  "katherine@meetinity.dev", "linus@meetinity.dev"):  # fmt: skip
        client.call(register, {"id": event_ids["Remote ML Reading Group"]}, tokens[email])
    _seed_chats(client, tokens, ids)
    lines = [f"Demo accounts (password: {DEMO_PASSWORD}):"]
    lines += [f"  {person.email:<26} {person.role:<10} {person.name}" for person in PEOPLE]
    lines += [f"Demo events: {', '.join(event_ids)}"]
    lines += ["Demo chats: ada@meetinity.dev has unread messages from Grace, Alan and a group"]
    return lines


def _seed_events(client: DemoClient, organizer_token: str) -> dict[str, str]:
    """Brings the organizer's demo events to their demo state; returns title → id.

    `make dev` seeds on every start, against the same `.data/`: an event seeded weeks ago
    may have started since (registration would be refused), been cancelled, or be a
    draft whose publishing failed. Started events are moved forward to their demo dates,
    cancelled ones are made again, and events meant to be published get published.
    """
    mine = client.call(
        "{ me { organizedEvents(first: 100) { edges { node { id title status startsAt } } } } }",
        {},
        organizer_token,
    )["me"]["organizedEvents"]["edges"]
    existing = {
        edge["node"]["title"]: edge["node"]
        for edge in mine
        if edge["node"]["status"] != "CANCELLED"
    }
    ids: dict[str, str] = {}
    now = datetime.now(ZoneInfo("UTC"))
    for event in demo_events():
        publish = event.pop("publish")
        current = existing.get(event["title"])
        if current is None:
            current = client.call(
                "mutation($input: EventInput!) { createEvent(input: $input) { id status } }",
                {"input": event},
                organizer_token,
            )["createEvent"]
        elif datetime.fromisoformat(current["startsAt"]) <= now:
            client.call(
                "mutation($id: ID!, $input: EventInput!) {"
                " updateEvent(id: $id, input: $input) { id } }",
                {"id": current["id"],
                 "input": {"startsAt": event["startsAt"], "endsAt": event["endsAt"]}},
                organizer_token,
            )  # fmt: skip
        if publish and current["status"] == "DRAFT":
            client.call("mutation($id: ID!) { publishEvent(id: $id) { id } }",
                        {"id": current["id"]}, organizer_token)  # fmt: skip
        ids[event["title"]] = current["id"]
    return ids


CHATS = [  # (from, to, messages)
    (
        "grace@meetinity.dev",
        "ada@meetinity.dev",
        [
            "Hi Ada! Paris Python Night is full, 3 seats and a waitlist already.",
            "Could you share the venue's access instructions with the attendees?",
        ],
    ),
    (
        "alan@meetinity.dev",
        "ada@meetinity.dev",
        [
            "Thanks for the introduction to Katherine, we're meeting on Thursday.",
        ],
    ),
]
GROUP_TITLE = "Speakers' corner"
GROUP_MESSAGES = [
    ("katherine@meetinity.dev", "Who's up for a fintech panel in June?"),
    ("linus@meetinity.dev", "Count me in if there's a slot on open source payments."),
]
START_DIRECT = "mutation($id: ID!) { startDirectConversation(userId: $id) { id } }"
MY_CONVERSATIONS = "{ conversations(first: 100) { edges { node { id title } } } }"
CREATE_GROUP = """mutation($title: String!, $ids: [ID!]!) {
    createGroupConversation(title: $title, userIds: $ids) { id } }"""
SEND = """mutation($id: ID!, $body: String!, $key: String) {
    sendMessage(conversationId: $id, body: $body, clientMessageId: $key) { seq } }"""


def _call_once_known(client: DemoClient, query: str, variables: dict[str, Any], token: str) -> Any:
    """Messaging learns of new people from the users stream a moment after sign-up."""
    for _ in range(100):
        try:
            return client.call(query, variables, token)
        except RuntimeError as error:
            if "NOT_FOUND" not in str(error):
                raise
            time.sleep(0.1)
    return client.call(query, variables, token)


def _seed_chats(client: DemoClient, tokens: dict[str, str], ids: dict[str, str]) -> None:
    """A few conversations with unread messages for Ada; the client ids keep each
    message single however often the seed runs."""
    for sender, recipient, messages in CHATS:
        started = _call_once_known(client, START_DIRECT, {"id": ids[recipient]}, tokens[sender])
        conversation_id = started["startDirectConversation"]["id"]
        for n, body in enumerate(messages):
            variables = {"id": conversation_id, "body": body, "key": f"demo-{n}"}
            client.call(SEND, variables, tokens[sender])
    owner = tokens["katherine@meetinity.dev"]
    mine = client.call(MY_CONVERSATIONS, {}, owner)["conversations"]["edges"]
    group = next((e["node"]["id"] for e in mine if e["node"]["title"] == GROUP_TITLE), None)
    if group is None:
        members = [ids[email] for email in ("ada@meetinity.dev", "linus@meetinity.dev")]
        created = _call_once_known(
            client, CREATE_GROUP, {"title": GROUP_TITLE, "ids": members}, owner
        )
        group = created["createGroupConversation"]["id"]
    for n, (sender, body) in enumerate(GROUP_MESSAGES):
        client.call(SEND, {"id": group, "body": body, "key": f"demo-{n}"}, tokens[sender])
