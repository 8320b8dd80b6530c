"""``flask posters``: the console's poster PDF, for scripted printing."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import click
from flask.cli import with_appcontext

from survey.errors import DomainError
from survey.services.posters.content import (
    NoDesksError,
    PaperSize,
    base_url_is_local,
    posters_for_command,
    public_base_url,
    write_posters,
)


@click.command("posters")
@click.option(
    "--round",
    "round_id",
    type=click.IntRange(1),
    default=None,
    help="Round id; default: the round opened most recently.",
)
@click.option(
    "--unit",
    "unit_code",
    default=None,
    help="Unit code: only the desks of this unit and its sub-units.",
)
@click.option(
    "--size",
    type=click.Choice([s.value for s in PaperSize], case_sensitive=False),
    default=PaperSize.A4.value,
    show_default=True,
)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@with_appcontext
def posters_command(round_id: int | None, unit_code: str | None, size: str, out: Path) -> None:
    """Write one QR poster per active desk (one a page) to a PDF."""
    started = time.perf_counter()
    try:
        posters, title = posters_for_command(round_id, unit_code)
    except NoDesksError as exc:
        # Its message is for the console, translated per request; there is no request here.
        raise click.ClickException("no active desk in this selection: nothing to print") from exc
    except DomainError as exc:
        raise click.ClickException(str(exc.message)) from exc
    if base_url_is_local():
        click.echo(
            f"warning: the QR codes lead to {public_base_url()}, which phones cannot reach; "
            "set PUBLIC_BASE_URL to the public address first",
            err=True,
        )
    # Written beside the target and renamed, so a failure never leaves half a PDF behind.
    directory = out.resolve().parent
    if not directory.is_dir():
        raise click.ClickException(f"no such directory: {directory}")
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".pdf.part")
    except OSError as exc:
        raise click.ClickException(f"cannot write to {directory}: {exc.strerror}") from exc
    try:
        with os.fdopen(handle, "wb") as f:
            pages = write_posters(posters, PaperSize(size.upper()), f, title=title)
        os.replace(temporary, out)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from exc
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    click.echo(
        f"wrote {pages} posters ({size.upper()}) to {out} in {time.perf_counter() - started:.1f} s"
    )
