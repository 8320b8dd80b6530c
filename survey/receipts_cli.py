"""``flask receipt-link``: the signed links (and QR codes) a one-stop system prints on receipts
(``survey.services.responses.receipts``; the scheme: docs/receipt-links.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import or_, select

from survey.extensions import db
from survey.models import Desk


@click.command("receipt-link")
@click.option("--desk", "desk_ref", required=True, help="The desk's code (or its token).")
@click.option(
    "--code", "codes", multiple=True, help="A dossier code; repeat it for several receipts."
)
@click.option(
    "--codes-file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="A text file with one dossier code per line.",
)
@click.option(
    "--qr",
    "qr_dir",
    type=click.Path(file_okay=False, writable=True),
    default=None,
    help="Also write a PNG QR code per link into this folder.",
)
@with_appcontext
def receipt_link_command(
    desk_ref: str,
    codes: tuple[str, ...],
    codes_file: TextIO | None,
    qr_dir: str | None,
) -> None:
    """Print a signed receipt link per dossier code, tab-separated after its code; a code
    that cannot be a dossier code is named on standard error and the exit status is 1."""
    from survey.services.posters.qr import qr_png
    from survey.services.responses.receipts import receipt_link

    desk = db.session.scalar(select(Desk).where(or_(Desk.code == desk_ref, Desk.token == desk_ref)))
    if desk is None or not desk.is_active:
        raise click.ClickException(f"no active desk with code or token {desk_ref!r}")
    wanted = list(codes) + (
        [line.strip() for line in codes_file if line.strip()] if codes_file else []
    )
    if not wanted:
        raise click.UsageError("give --code (repeatable) or --codes-file")
    folder = Path(qr_dir) if qr_dir else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    failed = 0
    for number, raw in enumerate(wanted, start=1):
        try:
            link = receipt_link(current_app.config["PUBLIC_BASE_URL"], desk.token, raw)
        except ValueError as exc:
            failed += 1
            click.echo(f"line {number}: {raw[:60]!r}: {exc}", err=True)
            continue
        click.echo(f"{raw.strip()}\t{link}")
        if folder is not None:
            (folder / f"receipt-{number:05d}.png").write_bytes(qr_png(link))
    if failed:
        raise SystemExit(1)
