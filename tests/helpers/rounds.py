"""Builders and page readers shared by the round and monitoring tests."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from html.parser import HTMLParser

from flask.testing import FlaskClient

from survey.extensions import db
from survey.models import Desk, Response, ResponseStatus, Round, RoundState
from survey.services.rounds.lifecycle import create_round, transition_round
from tests.factories import sipas_version


def round_over(
    unit_ids: list[int],
    *,
    now: datetime,
    state: RoundState = RoundState.OPEN,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    targets: dict[int, int] | None = None,
    name: str = "Đợt thử",
) -> int:
    """A round over the given units (ids), moved to ``state``; returns its id."""
    from survey.models import Unit

    units = [db.session.get(Unit, uid) for uid in unit_ids]
    round_ = create_round(
        name=name,
        version=sipas_version(),
        opens_at=opens_at or now - timedelta(days=1),
        closes_at=closes_at or now + timedelta(days=3),
        units=[(u, (targets or {}).get(u.id, 10)) for u in units if u is not None],
        now=now,
    )
    if state != RoundState.DRAFT:
        transition_round(round_, RoundState.OPEN, now=now)
    if state in (RoundState.CLOSED, RoundState.PUBLISHED):
        transition_round(round_, RoundState.CLOSED, now=now)
    if state == RoundState.PUBLISHED:
        transition_round(round_, RoundState.PUBLISHED, now=now)
    db.session.commit()
    return round_.id


def add_responses(
    round_id: int,
    desk_id: int,
    times: list[datetime],
    *,
    excluded: bool = False,
    area_id: int | None = None,
) -> list[int]:
    """Stored responses (without answers) at a desk at the given UTC times."""
    desk = db.session.get(Desk, desk_id)
    assert desk is not None
    area = area_id or desk.unit.service_areas[0].id
    rows = [
        Response(
            round_id=round_id,
            desk_id=desk.id,
            unit_id=desk.unit_id,
            service_area_id=area,
            received_at=at,
            idempotency_key=uuid.uuid4().hex,
            status=(ResponseStatus.EXCLUDED if excluded else ResponseStatus.COUNTED).value,
            exclusion_reason=("honeypot field filled (automated submission)" if excluded else None),
        )
        for at in times
    ]
    db.session.add_all(rows)
    db.session.commit()
    return [r.id for r in rows]


def state_of(round_id: int) -> str:
    db.session.expire_all()
    round_ = db.session.get(Round, round_id)
    assert round_ is not None
    return round_.state


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> list[list[list[str]]]:
    """Every table of a page as rows of cell texts."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def row_starting(html: str, first_cell: str) -> list[str]:
    """The first table row whose first cell starts with ``first_cell``."""
    for table in tables(html):
        for row in table:
            if row and row[0].startswith(first_cell):
                return row
    raise AssertionError(f"no row starting with {first_cell!r}")


def text_of(client: FlaskClient, url: str, status: int = 200) -> str:
    answer = client.get(url)
    assert answer.status_code == status, (url, answer.status_code)
    return answer.get_data(as_text=True)
