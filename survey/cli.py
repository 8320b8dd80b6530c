"""``flask`` commands: templates, the demo province, the first administrator."""

from __future__ import annotations

import os
import secrets
import time

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from survey.errors import DomainError
from survey.extensions import db
from survey.models import Role, User, utcnow
from survey.posters_cli import posters_command
from survey.receipt_cli import receipt_link_command
from survey.results_cli import results_command
from survey.stats_cli import stats_command


def register(app: Flask) -> None:
    app.cli.add_command(load_templates_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(create_admin_command)
    app.cli.add_command(export_command)
    app.cli.add_command(posters_command)
    app.cli.add_command(stats_command)
    app.cli.add_command(results_command)
    app.cli.add_command(receipt_link_command)


@click.command("load-templates")
@with_appcontext
def load_templates_command() -> None:
    """Load the starter questionnaires (SIPAS and SIPAS 2023, the one-stop forms, Ministry of
    Health outpatient and inpatient, education) if they are not there yet."""
    from survey.services.questionnaires.templates import load_starter_templates

    loaded = load_starter_templates(now=utcnow())
    db.session.commit()
    for version in loaded:
        click.echo(f"loaded {version.template.code} v{version.number}: {len(version.items)} items")
    if not loaded:
        click.echo("starter templates already present")


@click.command("demo")
@with_appcontext
@click.option(
    "--responses",
    "responses",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Simulated responses to add to the demo round.",
)
@click.option("--seed", default=7, show_default=True, type=int)
def demo_command(responses: int, seed: int) -> None:
    """Build a demo province with an open round (once) and print every desk's answer URL."""
    from survey.services.demo import (
        build_demo_province,
        build_demo_sample_round,
        demo_accounts,
        demo_desks,
        demo_letters,
        find_demo_round,
        find_demo_sample_round,
        keep_frame_plausible,
        simulate_responses,
    )
    from survey.services.responses.abuse import server_key

    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("the demo province is not for production databases")
    now = utcnow()
    round_ = find_demo_round()
    if round_ is None:
        round_ = build_demo_province(now=now)
        db.session.commit()
        click.echo(f"created the demo province and opened round #{round_.id}: {round_.name}")
    if responses:
        started = time.perf_counter()
        with click.progressbar(length=responses, label="simulating responses") as bar:
            done = 0
            while done < responses:
                batch = min(20000, responses - done)
                simulate_responses(round_, batch, now=now, seed=seed + done)
                db.session.commit()
                done += batch
                bar.update(batch)
        keep_frame_plausible(round_)
        db.session.commit()
        if responses >= 100_000 and db.engine.dialect.name == "postgresql":
            # A bulk load leaves the planner without statistics until autovacuum's next pass:
            # a one-response read then got a parallel plan with JIT (40 ms instead of 1).
            with db.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "ANALYZE responses, answers"
                )
        click.echo(f"added {responses} responses in {time.perf_counter() - started:.1f} s")
    password = os.environ.get("DEMO_PASSWORD") or f"demo-{secrets.token_urlsafe(8)}"
    accounts = demo_accounts(password, now=now)
    db.session.commit()
    key = server_key("DOSSIER_CODE_KEY")
    sample = find_demo_sample_round()
    if sample is None:
        admin = db.session.scalars(select(User).where(User.username == "admin")).one()
        sample = build_demo_sample_round(round_, key=key, now=now, actor=admin)
        click.echo(f"opened the sampled round #{sample.id} beside it: {sample.name}")
    base = current_app.config["PUBLIC_BASE_URL"]
    click.echo(f"Staff console: {base}/admin/login  (password for every demo account: {password})")
    for account in accounts:
        where = f", {account.unit_name}" if account.unit_name else ""
        click.echo(f"  {account.username}: {account.role.value}{where}")
    click.echo("Desk answer URLs (scan or open on a phone):")
    for desk in demo_desks(round_):
        click.echo(f"  {desk.unit_name} / {desk.desk_name}: {base}/r/{desk.token}")
    click.echo("Letters of the sampled round still to answer (the QR on each letter):")
    for letter in demo_letters(sample, key):
        click.echo(f"  {letter.reference}, {letter.unit_name}: {base}/m/{letter.code}")


@click.command("create-admin")
@with_appcontext
@click.option("--username", required=True)
@click.option(
    "--password",
    envvar="HAILONG_ADMIN_PASSWORD",
    default=None,
    help="Read from HAILONG_ADMIN_PASSWORD or asked for when omitted.",
)
def create_admin_command(username: str, password: str | None) -> None:
    """Create the first administrator (Sở Nội vụ)."""
    from survey.services.accounts.users import create_user

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        create_user(username=username, password=password, role=Role.ADMIN, now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(f"administrator {username!r} created")


EXPORT_FORMATS = ("csv", "xlsx", "sav", "dta", "spec", "bundle", "index-csv", "index-xlsx")


@click.command("export")
@click.option(
    "--round",
    "round_id",
    type=int,
    default=None,
    help="Round id; default: the most recently opened round.",
)
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True)
@with_appcontext
def export_command(round_id: int | None, fmt: str, out: str) -> None:
    """Write a round's responses (csv, xlsx, sav, dta), its SPEC.json for python -m analysis, its
    reproduction bundle (bundle: a ZIP with the CSV, codebook and R, Stata and SPSS scripts), or
    its index tables (index-csv, index-xlsx: every level the result pages show)."""
    from pathlib import Path

    from survey.services.exports import microdata as exports
    from survey.services.rounds.lifecycle import find_round

    round_ = find_round(round_id)
    if round_ is None:
        raise click.ClickException(
            f"no round with id {round_id}" if round_id else "no round has been opened yet"
        )
    path = Path(out)
    if fmt.startswith("index-"):
        from survey.services.exports import index_tables as index_exports
        from survey.services.results.pages import round_results

        results = round_results(round_, None)
        if fmt == "index-csv":
            with path.open("wb") as f:
                count = index_exports.write_csv(results, f)
        else:
            count = index_exports.write_xlsx(results, path)
        click.echo(f"wrote {count} index rows of round #{round_.id} to {path}")
        return
    if fmt == "spec":
        # The spec names its data file: write that too, so the pair runs as it is.
        data = path.with_suffix(".csv")
        count = exports.write_responses(round_, "csv", data, now=utcnow())
        with path.open("wb") as f:
            exports.write_spec(round_, f, data_file=data.name)
        click.echo(f"wrote {path} and the {count} responses it reads, {data}")
        return
    count = exports.write_responses(round_, fmt, path, now=utcnow())
    click.echo(f"wrote {count} responses of round #{round_.id} to {path}")
