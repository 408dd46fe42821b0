"""The router as clients meet it: one endpoint, GraphiQL, health, limits, masked errors, ids."""

import asyncio
import dataclasses
import json
import time

import httpx

from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient
from tests.support.users import sign_up
from tools.stack import Stack, free_port


async def test_graphiql_is_served_on_get(api: GraphQLClient) -> None:
    response = await api.http.get(api.url, headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "<title>Meetinity GraphiQL</title>" in response.text
    # It opens on the welcome operation (log in as the demo admin), not on "No operation
    # selected": the page seeds the Laboratory's tabs before it renders.
    page = response.text
    seed = page.index("localStorage.setItem(key + 'tabs'")
    assert seed < page.index("HiveLaboratory.renderLaboratory(")
    assert '"id":"meetinity-welcome-tab","type":"operation"' in page
    assert 'mutation LogIn {\\n  login(email: \\"ada@meetinity.dev\\"' in page
    # The seeding script itself, run against an empty localStorage, opens the welcome tab.
    script = page[page.index("<script>") + len("<script>") : page.index("function prepareBlob")]
    storage = (
        "var s = {}; var localStorage = "
        "{getItem: (k) => s[k] ?? null, setItem: (k, v) => { s[k] = v; }};"
    )
    node = await asyncio.create_subprocess_exec(
        "node", "-e", f"{storage}{script}; console.log(JSON.stringify(s))",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(node.communicate(), timeout=30)
    assert node.returncode == 0
    stored = {key: json.loads(value) for key, value in json.loads(output).items()}
    assert stored["hive-laboratory:activeTabId"] == "meetinity-welcome-tab"
    [operation] = stored["hive-laboratory:operations"]
    assert operation["id"] == stored["hive-laboratory:tabs"][0]["data"]["id"]
    assert "mutation LogIn" in operation["query"]


async def test_health_and_readiness(api: GraphQLClient, environment: StackEnvironment) -> None:
    for path in ("/healthcheck", "/readiness"):
        response = await api.http.get(environment.config.url("router", path))
        assert response.status_code == 200, path


async def test_every_subgraph_is_reachable_through_the_router(api: GraphQLClient) -> None:
    person = await sign_up(api, "Reach")
    data = await api.data(
        "{ me { name } recommendations { edges { node { score } } } unreadMessageCount"
        " conversations { edges { node { id } } } }",
        token=person.token,
    )
    assert data == {
        "me": {"name": "Reach"},
        "recommendations": {"edges": []},
        "unreadMessageCount": 0,
        "conversations": {"edges": []},
    }


async def test_over_deep_queries_are_rejected(api: GraphQLClient) -> None:
    deep = "{ me " + "{ profile { location " * 7 + "{ city }" + " } }" * 7 + " }"
    body = await api.execute(deep)
    assert body.get("errors"), body
    assert "depth" in body["errors"][0]["message"].lower()


async def test_request_id_reaches_the_subgraph_logs(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    request_id = "test-request-id-4242"
    response = await api.http.post(
        api.url,
        json={"query": '{ user(id: "00000000-0000-0000-0000-000000000000") { id } }'},
        headers={"x-request-id": request_id},
    )
    assert response.headers["x-request-id"] == request_id
    assert environment.config.log_dir is not None
    users_log = (environment.config.log_dir / "users.log").read_text()
    assert f'"request_id": "{request_id}"' in users_log


async def test_trace_context_reaches_the_subgraph_logs(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await api.http.post(
        api.url,
        json={"query": '{ user(id: "00000000-0000-0000-0000-000000000001") { id } }'},
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    assert response.status_code == 200
    assert environment.config.log_dir is not None
    users_log = (environment.config.log_dir / "users.log").read_text()
    assert f'"trace_id": "{trace_id}"' in users_log


async def test_unknown_fields_are_a_validation_error_without_suggestions(
    api: GraphQLClient,
) -> None:
    body = await api.execute("{ mee { id } }")
    error = body["errors"][0]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "did you mean" not in error["message"].lower()


async def test_a_router_told_to_stop_exits_at_once(
    api: GraphQLClient, stack: Stack, environment: StackEnvironment
) -> None:
    """A second router over the same subgraphs, stopped as Kubernetes stops a pod."""
    config = environment.config
    ports = {**config.ports, "router": free_port()}
    metrics_ports = {**config.metrics_ports, "router": free_port()}
    second = Stack(dataclasses.replace(config, ports=ports, metrics_ports=metrics_ports))
    router = second.start_router()
    try:
        await asyncio.to_thread(second.wait_ready)
        async with httpx.AsyncClient() as client:  # its connection stays open, idle
            answer = await client.post(
                second.config.url("router"), json={"query": "{ __typename }"}
            )
            assert answer.json()["data"] == {"__typename": "Query"}, answer.text
            # Nothing in flight: nothing to wait for. Its Redis connection (the rate
            # limits) once kept it running until killed.
            router.popen.terminate()
            started = time.monotonic()
            await asyncio.to_thread(router.popen.wait, 20)
        assert time.monotonic() - started < 5
        assert router.popen.returncode == 0
    finally:
        await asyncio.to_thread(second.stop)
