"""``flask receipt-link``: a receipt's signed QR link, for a one-stop system that shells out."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from survey.extensions import db
from survey.models import Desk
from survey.services.posters.qr import qr_png
from survey.services.responses.receipt_links import ReceiptLinkError, mint_receipt_link


@click.command("receipt-link")
@click.option("--desk", "desk_token", required=True, help="The desk's token (from its QR link).")
@click.option("--code", "code", required=True, help="The dossier code printed on the receipt.")
@click.option(
    "--expires",
    type=click.IntRange(1),
    default=None,
    help="Unix time (seconds, UTC) after which the link no longer fills in the code.",
)
@click.option(
    "--png", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write a QR PNG."
)
@with_appcontext
def receipt_link_command(desk_token: str, code: str, expires: int | None, png: Path | None) -> None:
    """Print the signed receipt link of one dossier (docs/receipt-links.md)."""
    desk = db.session.scalar(select(Desk).where(Desk.token == desk_token))
    if desk is None:
        raise click.ClickException("no desk has this token")
    try:
        url = mint_receipt_link(desk, code, expires)
    except ReceiptLinkError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(url)
    if png is not None:
        png.write_bytes(qr_png(url))
