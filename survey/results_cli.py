"""``flask results``: check the maintained statistics and the published snapshots against the
stored responses."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from survey.extensions import db
from survey.models import Round, RoundState


@click.group("results")
def results_command() -> None:
    """Check result numbers against the stored responses."""


def _rounds(round_id: int | None, every: bool, *, published: bool = False) -> list[Round]:
    if round_id is not None and every:
        raise click.UsageError("give a round id or --all, not both")
    if round_id is None and not every:
        raise click.UsageError("give a round id, or --all")
    query = select(Round).where(Round.state != RoundState.DRAFT.value).order_by(Round.id)
    if published:
        query = query.where(Round.state == RoundState.PUBLISHED.value)
    if round_id is not None:
        query = query.where(Round.id == round_id)
    rounds = list(db.session.scalars(query))
    if round_id is not None and not rounds:
        kind = "published round" if published else "round that has opened"
        raise click.ClickException(f"no {kind} with id {round_id}")
    return rounds


@results_command.command("reconcile")
@click.argument("round_id", type=int, required=False)
@click.option("--all", "every", is_flag=True, help="Every round that has opened.")
@with_appcontext
def reconcile_command(round_id: int | None, every: bool) -> None:
    """Recompute a round's statistics from every stored answer, say whether the maintained ones
    agreed (which cells did not), and store the recomputation. Exit status 1 on a difference."""
    from survey.services.responses.counting import design_frame
    from survey.services.results.tally import reconcile

    differing = 0
    for round_ in _rounds(round_id, every):
        result = reconcile(round_, design_frame(round_, with_counts=False))
        db.session.commit()
        head = f"round #{round_.id}: {result.responses} counted responses in {result.cells} cells"
        if not result.stored:
            click.echo(f"{head}; nothing was stored yet: computed and stored")
        elif result.agrees:
            click.echo(f"{head}; the maintained statistics agree")
        else:
            differing += 1
            cells = ", ".join(f"{u}/{a}" for u, a in result.differing_cells[:20])
            click.echo(
                f"{head}; DIFFERENT in {len(result.differing_cells)} cells ({cells}), "
                f"largest difference {result.max_difference:g}; the recomputation is stored"
            )
    if differing:
        raise SystemExit(1)


@results_command.command("rederive")
@click.argument("round_id", type=int, required=False)
@click.option("--all", "every", is_flag=True, help="Every published round.")
@with_appcontext
def rederive_command(round_id: int | None, every: bool) -> None:
    """Recompute a published round's numbers from its stored responses (with the dossier counts
    and unit tree it was published with) and list every number that differs from what was
    published. Exit status 1 on a difference."""
    from survey.services.results.snapshots import rederive

    failed = 0
    for round_ in _rounds(round_id, every, published=True):
        try:
            result = rederive(round_)
        except ValueError as exc:
            failed += 1
            click.echo(f"round #{round_.id}: {exc}")
            continue
        click.echo(
            f"round #{round_.id}, snapshot {result.snapshot_id}: {result.rows} published rows; "
            f"{result.responses_published} responses counted when published, "
            f"{result.responses_now} now"
            + ("" if result.same_responses else " (NOT the same responses)")
        )
        if result.agrees:
            click.echo("  every published number is re-derived from the stored responses")
            continue
        failed += 1
        click.echo(f"  {len(result.differences)} published numbers differ:")
        for difference in result.differences[:50]:
            where = " ".join(part for part in difference.key if part)
            click.echo(
                f"  {where}: {difference.column} published {difference.published or '-'}, "
                f"re-derived {difference.rederived or '-'}"
            )
        if len(result.differences) > 50:
            click.echo(f"  ... and {len(result.differences) - 50} more")
    if failed:
        raise SystemExit(1)
