"""``flask stats``: responses per hour and the error rates the app records."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from survey.models import utcnow

HELP = """Responses per hour (counted / excluded) and failed staff logins per hour, for one round
(default: the one opened most recently; --round 0 for all rounds) over the last --hours hours.

Error rates shown are those the database records: the share of submissions excluded (automated,
too fast, repeated device; with their reasons) and failed or locked logins from the audit trail.
HTTP errors (4xx/5xx) are not stored in the database: count them from the JSON request log, e.g.
journalctl -u hailong -o cat | jq -r 'select(.status >= 500) | .route' | sort | uniq -c
"""


@click.command("stats", help=HELP)
@click.option("--round", "round_id", type=int, default=None, help="Round id; 0 for all rounds.")
@click.option("--hours", type=click.IntRange(1, 24 * 90), default=24, show_default=True)
@with_appcontext
def stats_command(round_id: int | None, hours: int) -> None:
    from survey.services.rounds.lifecycle import find_round
    from survey.services.rounds.operating_stats import hourly_stats

    round_ = None
    if round_id != 0:
        round_ = find_round(round_id)
        if round_ is None:
            raise click.ClickException(
                f"no round with id {round_id}" if round_id else "no round has been opened yet"
            )
    stats = hourly_stats(now=utcnow(), hours=hours, round_=round_)
    scope = f"round #{round_.id} ({round_.name})" if round_ else "all rounds"
    click.echo(f"{scope}, {hours} h from {stats.since:%Y-%m-%d %H:%M} (local time)")
    click.echo(f"{'hour':<17} {'counted':>8} {'excluded':>9} {'excl. %':>8} {'failed logins':>14}")
    for row in stats.hours:
        share = "" if row.excluded_share is None else f"{100 * row.excluded_share:.1f}"
        click.echo(
            f"{row.hour:%Y-%m-%d %H:00} {row.counted:>8} {row.excluded:>9} {share:>8} "
            f"{row.login_failures:>14}"
        )
    total = stats.counted + stats.excluded
    share = f"{100 * stats.excluded / total:.1f}%" if total else "-"
    click.echo(
        f"{'total':<17} {stats.counted:>8} {stats.excluded:>9} {share:>8} "
        f"{stats.login_failures:>14}"
    )
    for reason, count in stats.exclusion_reasons.most_common():
        click.echo(f"  excluded: {count} x {reason}")
