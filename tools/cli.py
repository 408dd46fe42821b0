"""`python -m tools …`: migrations, schema, demo data, local stack."""

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from alembic import command

from shared.migrations import alembic_config, is_at_head, upgrade
from shared.settings import get_settings

SUBGRAPHS = ("users", "events", "matching", "messaging")

cli = typer.Typer(no_args_is_help=True, add_completion=False)

SubgraphArg = Annotated[list[str] | None, typer.Argument(help="Subgraphs (default: all)")]


@cli.command()
def migrate(subgraphs: SubgraphArg = None) -> None:
    """Apply every pending migration (what production runs before starting subgraphs)."""
    for name in subgraphs or SUBGRAPHS:
        upgrade(name)
        typer.echo(f"{name}: migrated")


@cli.command()
def migrated(
    subgraphs: SubgraphArg = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for it")] = 0,
) -> None:
    """Exit 0 once no migration is pending (what a new pod waits for before it starts)."""
    deadline = time.monotonic() + wait
    for name in subgraphs or SUBGRAPHS:
        while True:
            try:
                if is_at_head(name):
                    break
                state = "migrations pending"
            except Exception as exc:  # the database may not be reachable yet
                state = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                typer.echo(f"{name}: {state}", err=True)
                raise typer.Exit(1)
            time.sleep(2)
        typer.echo(f"{name}: at head")


@cli.command()
def makemigration(subgraph: str, message: Annotated[str, typer.Option("-m")]) -> None:
    """Autogenerate a migration from the subgraph's models (needs a migrated database)."""
    command.revision(alembic_config(subgraph), message=message, autogenerate=True)


@cli.command("schema")
def export_schema(
    check: Annotated[bool, typer.Option(help="Fail if the committed files are stale")] = False,
) -> None:
    """Export each subgraph's SDL to schema/ and compose schema/supergraph.graphql."""
    from tools.schema import compose, export_all

    stale = export_all(check=check) + compose(check=check)
    if check and stale:
        typer.echo(f"stale: {', '.join(stale)}; run `make schema`", err=True)
        raise typer.Exit(1)


@cli.command()
def seed(router_url: str = "http://127.0.0.1:4000/graphql") -> None:
    """Load demo data through a running router (idempotent): people, events, registrations."""
    from tools.seed import seed_demo_data

    for line in asyncio.run(seed_demo_data(router_url, get_settings().database_url)):
        typer.echo(line)


@cli.command()
def dev() -> None:
    """Run everything locally: databases if needed, migrations, demo data, subgraphs, router."""
    from tools.dev import run_dev

    sys.exit(run_dev())


dead_letters = typer.Typer(no_args_is_help=True, help="Domain events consumers gave up on.")
cli.add_typer(dead_letters, name="dead-letters")
ProducerArg = Annotated[str, typer.Argument(help="The subgraph whose stream it is (users, …)")]


@dead_letters.command("list")
def list_dead_letters(producer: ProducerArg) -> None:
    """List the dead letters of a producer's stream, oldest first, with their errors."""
    from tools.events import list_dead_letters

    for line in asyncio.run(list_dead_letters(producer)):
        typer.echo(line)


@dead_letters.command("replay")
def replay_dead_letters(
    producer: ProducerArg,
    letter_ids: Annotated[list[str] | None, typer.Argument(help="Ids (default: all)")] = None,
) -> None:
    """Put dead letters back on their stream, once the cause is fixed."""
    from tools.events import replay_dead_letters

    for line in asyncio.run(replay_dead_letters(producer, letter_ids or [])):
        typer.echo(line)


@cli.command("republish-visibility")
def republish_visibility(
    user_ids: Annotated[list[str] | None, typer.Argument(help="Users (default: all)")] = None,
) -> None:
    """Backfill: send users' profile visibility again (consumers skip what they hold)."""
    from tools.events import republish_visibility

    ids = [uuid.UUID(user_id) for user_id in user_ids or []]
    typer.echo(f"{asyncio.run(republish_visibility(ids))} events recorded")


@cli.command("matching-backfill")
def matching_backfill(
    recompute: Annotated[bool, typer.Option(help="Then recompute every list")] = True,
) -> None:
    """Rebuild matching's projection from the users and events subgraphs' data (a new
    deployment, trimmed streams); safe while the consumers run."""
    from tools.matching import backfill

    bars: dict[str, Any] = {}

    def progress(what: str, done: int, total: int) -> None:
        if what not in bars:
            bars[what] = typer.progressbar(length=max(total, 1), label=f"{what:<14}")
            bars[what].__enter__()
        bar = bars[what]
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)

    counts = asyncio.run(backfill(progress))
    typer.echo(", ".join(f"{count} {what}" for what, count in counts.items()))
    if recompute:
        matching_recompute()


@cli.command("matching-recompute")
def matching_recompute() -> None:
    """Recompute every person's recommendations now (the periodic job, on demand)."""
    from tools.matching import recompute

    with typer.progressbar(length=1, label="ranking       ") as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        stats = asyncio.run(recompute(progress))
    if stats is None:
        typer.echo("another recompute is running; nothing done")
        raise typer.Exit(1)
    typer.echo(
        f"{stats.people} people, {stats.pairs_scored} pairs scored, {stats.rows} rows "
        f"in {stats.seconds:.1f} s"
    )


@cli.command()
def trace(
    trace_id: str,
    traces_file: Annotated[Path | None, typer.Option(help="The collector's file")] = None,
) -> None:
    """Print a trace collected by `make dev`: the tree of spans with their timings."""
    from tools.collector import linked_to, read_trace, render_tree
    from tools.collector import traces_file as default_file

    path = traces_file or default_file()
    spans = read_trace(path, trace_id.lower())
    if not spans:
        typer.echo(f"no span of trace {trace_id} in {path}", err=True)
        raise typer.Exit(1)
    for line in render_tree(spans):
        typer.echo(line)
    for span in linked_to(path, trace_id.lower()):
        where = f"{span['service']}: {span['name']} [{span['kind']}]"
        typer.echo(f"linked: {where} in trace {span['trace_id']}")


@cli.command()
def services() -> None:
    """Start the machine's PostgreSQL and Redis when they are not already up."""
    from tools.services import ensure_machine_services

    ensure_machine_services()
