"""Public result pages: an administrator opts a published round in (or out again), and anyone
may then read its units' indices with their intervals. Never raw responses, never comments."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from analysis.publishing import PublishingRule, Severity, Status, assess
from analysis.satisfaction import IndexKind, IndexRow, Level
from survey.errors import ConflictError, NotFoundError
from survey.extensions import db
from survey.models import Round, RoundState, User
from survey.services.audit import record_event
from survey.services.rounds.result_settings import publishing_rule


def set_round_public(round_: Round, public: bool, *, actor: User, now: datetime) -> None:
    """Show (``public``) or withdraw the round's public page; only published rounds have one,
    because only their numbers are final."""
    if round_.state != RoundState.PUBLISHED:
        raise ConflictError(str(_l("Chỉ đợt khảo sát đã công bố mới có trang kết quả công khai.")))
    if round_.is_public == public:
        return
    round_.is_public = public
    db.session.flush()
    record_event(
        action="round.public" if public else "round.private",
        entity_type="round",
        entity_id=round_.id,
        now=now,
        actor=actor,
        before={"is_public": not public},
        after={"is_public": public},
    )


def public_round(round_id: int) -> Round:
    """The round, if its public page is on; 404 otherwise (whether it exists is nobody's
    business)."""
    round_ = db.session.scalar(
        select(Round).where(
            Round.id == round_id, Round.is_public, Round.state == RoundState.PUBLISHED.value
        )
    )
    if round_ is None:
        raise NotFoundError(str(_l("Không tìm thấy trang kết quả này.")))
    return round_


def public_rounds() -> list[Round]:
    return list(
        db.session.scalars(
            select(Round)
            .where(Round.is_public, Round.state == RoundState.PUBLISHED.value)
            .order_by(Round.published_at.desc(), Round.id.desc())
        )
    )


@dataclass(frozen=True)
class PublicRow:
    """One headline index as the public reads it, after the publishing rule
    (``analysis.publishing``): a number that fails it has no estimate and no interval, only its
    n and the words "chưa đủ số liệu để công bố"; no interval is ever of zero width."""

    name: str
    code: str
    estimate: float | None  # None: withheld by the rule, or no data
    ci_low: float | None
    ci_high: float | None
    n: int
    status: Status  # publish, suppress or no_data
    clipped: bool  # the interval was cut at the end of the scale
    cannot_tell: bool  # one response, one desk or no measurable error
    subtree: bool = False  # the unit with all its sub-units, one domain
    reasons_vi: tuple[str, ...] = ()
    reasons_en: tuple[str, ...] = ()

    @property
    def published(self) -> bool:
        return self.status == Status.PUBLISH


@dataclass(frozen=True)
class PublicResults:
    province: PublicRow | None
    units: list[PublicRow]  # by name; a unit with sub-units is followed by its subtree row
    measure: str  # "top2box", "mean" or "mean_pct"
    confidence: float
    caveat_vi: str
    caveat_en: str
    rule: PublishingRule

    @property
    def published_units(self) -> list[PublicRow]:
        return [u for u in self.units if u.published]

    @property
    def withheld_units(self) -> list[PublicRow]:
        return [u for u in self.units if not u.published]


def _public_row(
    name: str, code: str, row: IndexRow, rule: PublishingRule, *, subtree: bool = False
) -> PublicRow:
    verdict = assess(row, rule)
    shown = verdict.publishable

    def number(value: float | None) -> float | None:
        return None if value is None or not math.isfinite(value) or not shown else round(value, 2)

    withheld = [r for r in verdict.reasons if r.severity == Severity.SUPPRESS]
    return PublicRow(
        name=name,
        code=code,
        estimate=number(row.estimate),
        ci_low=number(verdict.ci_low),
        ci_high=number(verdict.ci_high),
        n=row.n,
        status=verdict.status,
        clipped=shown and verdict.clipped,
        cannot_tell=verdict.cannot_tell,
        subtree=subtree,
        reasons_vi=tuple(r.vi for r in withheld),
        reasons_en=tuple(r.en for r in withheld),
    )


def public_results(round_: Round, rule: PublishingRule | None = None) -> PublicResults:
    """The overall index of the province and of every unit in the round's scope (its own desks
    and, for a unit with sub-units, with all below it), from the same estimation every result
    page uses (``round_index``), each judged by the publishing ``rule`` (the round's own when
    not given); units under the names
    they had when the round opened, by name."""
    from survey.services.results.indices import round_index

    rule = rule or publishing_rule(round_)
    table = round_index(round_)
    names: dict[str, str] = {}
    for scope in round_.scope:
        names[scope.unit.code] = scope.unit_name
    measure = table.headline
    province = table.rows(level=Level.PROVINCE, kind=IndexKind.OVERALL, measure=measure)
    trees = {
        row.unit or "": row
        for row in table.rows(level=Level.UNIT_TREE, kind=IndexKind.OVERALL, measure=measure)
    }
    own = {
        row.unit or "": row
        for row in table.rows(level=Level.UNIT, kind=IndexKind.OVERALL, measure=measure)
    }
    units: list[PublicRow] = []
    for code in sorted(own.keys() | trees.keys(), key=lambda c: (names.get(c, c), c)):
        name = names.get(code, code)
        if code in own:
            units.append(_public_row(name, code, own[code], rule))
        if code in trees:
            units.append(_public_row(name, code, trees[code], rule, subtree=True))
    return PublicResults(
        province=_public_row("", "", province[0], rule) if province else None,
        units=units,
        measure=str(measure),
        confidence=table.confidence,
        caveat_vi=table.caveat_vi,
        caveat_en=table.caveat_en,
        rule=rule,
    )
