"""Recording a citizen's response: once, whole, and only into an open round."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from typing import cast as typed

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    ClauseElement,
    Connection,
    Integer,
    Select,
    Table,
    Text,
    TextClause,
    bindparam,
    case,
    cast,
    column,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from survey.errors import DomainError, NotFoundError
from survey.extensions import db
from survey.models import (
    Answer,
    Channel,
    Desk,
    DossierCodeUse,
    FormUse,
    Response,
    ResponseStatus,
    Round,
    TemplateVersion,
    Unit,
)
from survey.services.organisation.directory import (
    AreaChoice,
    area_choices_of,
    areas_of_desk_rows,
    live_desk,
)
from survey.services.responses.abuse import dossier_code_used
from survey.services.responses.comments import mask_personal_data
from survey.services.responses.driver_sql import (
    DriverStatement,
    autocommit_connection,
    compile_for_driver,
)
from survey.services.rounds.lifecycle import RoundRules, open_round_id


@dataclass(frozen=True)
class AnswerValue:
    """One answer: a scale value, a chosen option, a text, or 'not applicable'."""

    item_id: int
    value: int | None = None
    text: str | None = None
    not_applicable: bool = False


@dataclass(frozen=True)
class Recorded:
    response_id: int
    created: bool  # False when the idempotency key had been seen: a retry, stored once
    form_reused: bool = False  # stored excluded: its form had been sent before


class RoundNotOpenError(DomainError):
    status = 409
    code = "round_not_open"


class DossierCodeUsedError(DomainError):
    status = 409
    code = "dossier_code_used"


RESPONSES = typed(Table, Response.__table__)
ANSWERS = typed(Table, Answer.__table__)
DOSSIER_CODE_USES = typed(Table, DossierCodeUse.__table__)
FORM_USES = typed(Table, FormUse.__table__)
_INSERT_RESPONSE = insert(RESPONSES).returning(RESPONSES.c.id)


# Elsewhere than on PostgreSQL (SQLite), answers go in multi-row INSERTs of at most this many
# rows: one statement per dozen answers, not one per answer, and a dozen statement shapes at most
# whatever the questionnaire's length, each compiled once.
ANSWER_ROWS_PER_INSERT = 12


@lru_cache(maxsize=ANSWER_ROWS_PER_INSERT)
def _insert_answers(count: int) -> TextClause:
    """A multi-row INSERT of ``count`` answers with short parameter names, built once per count.
    SQLAlchemy compiles a multi-row ``insert().values()`` afresh on every execution (milliseconds
    of CPU), so it is compiled here once, to generic SQL, and kept as a cacheable text clause."""
    rows: list[dict[str, Any]] = [
        {
            "response_id": bindparam("response"),
            "item_id": bindparam(f"i{n}"),
            "value": bindparam(f"v{n}"),
            "text": bindparam(f"t{n}"),
            "not_applicable": bindparam(f"n{n}"),
        }
        for n in range(count)
    ]
    return text(str(insert(ANSWERS).values(rows).compile()))


@lru_cache(maxsize=8)
def _insert_whole_response(
    columns: tuple[str, ...], with_dossier_code: bool, with_form_nonce: bool = False
) -> Select[Any]:
    """PostgreSQL: the response (``columns``, each bound as r_<column>), all its answers (one
    JSON text), the dossier code's use and the served form's use in ONE statement, atomic on
    its own: nothing is stored half-way even without a transaction around it, and the submit
    path pays one round trip for the write. Returns the response's id and whether the form's
    nonce was claimed by this statement (a form sent before is stored excluded, with
    ``reused_reason``)."""
    values: dict[str, Any] = {
        name: bindparam(f"r_{name}", type_=RESPONSES.c[name].type) for name in columns
    }
    claimed: Any = literal(True)
    ctes = []
    if with_form_nonce:
        # ON CONFLICT DO NOTHING: a nonce already used (or being used by a transaction not yet
        # committed, which this one then waits for) claims nothing, and the response says so.
        claim = (
            postgresql.insert(FORM_USES)
            .values(
                nonce=bindparam("form_nonce", type_=Text),
                round_id=bindparam("r_round_id"),
                used_at=bindparam("r_received_at"),
            )
            .on_conflict_do_nothing()
            .returning(FORM_USES.c.nonce)
            .cte("form_use")
        )
        ctes.append(claim)
        claimed = exists(select(claim.c.nonce))
        values["status"] = case(
            (claimed, bindparam("r_status", type_=Text)),
            else_=literal(ResponseStatus.EXCLUDED.value),
        )
        values["exclusion_reason"] = case(
            (claimed, bindparam("r_exclusion_reason", type_=Text)),
            else_=func.coalesce(
                bindparam("r_exclusion_reason", type_=Text),
                bindparam("reused_reason", type_=Text),
            ),
        )
    response = insert(RESPONSES).values(values).returning(RESPONSES.c.id).cte("response")
    # The answers as one JSON text of records: the driver sends one string, where four arrays
    # of 25 values each cost it more CPU to convert than PostgreSQL spends reading them.
    arrays = (
        func.json_to_recordset(cast(bindparam("answers", type_=Text), JSON))
        .table_valued(
            column("item_id", Integer),
            column("value", Integer),
            column("text", Text),
            column("not_applicable", Boolean),
        )
        .render_derived(with_types=True)
    )
    answers = (
        insert(ANSWERS)
        .from_select(
            ["response_id", "item_id", "value", "text", "not_applicable"],
            select(
                response.c.id,
                arrays.c.item_id,
                arrays.c.value,
                arrays.c.text,
                arrays.c.not_applicable,
            ).select_from(response.join(arrays, true())),
        )
        .cte("answers")
    )
    statement = select(response.c.id, claimed.label("claimed")).add_cte(*ctes, answers)
    if with_dossier_code:
        code = (
            insert(DOSSIER_CODE_USES)
            .from_select(
                ["round_id", "code_hash", "used_at"],
                select(
                    bindparam("r_round_id"),
                    bindparam("code_hash", type_=Text),
                    bindparam("r_received_at"),
                ).select_from(response),
            )
            .cte("dossier_code")
        )
        statement = statement.add_cte(code)
    return statement


def _masked(answers: list[AnswerValue]) -> list[str | None]:
    # Stored masked: the raw phone number or ID never reaches the database.
    return [None if a.text is None else mask_personal_data(a.text) for a in answers]


def _answers_json(answers: list[AnswerValue]) -> str:
    return json.dumps(
        [
            {"item_id": a.item_id, "value": a.value, "text": t, "not_applicable": a.not_applicable}
            for a, t in zip(answers, _masked(answers), strict=True)
        ],
        ensure_ascii=False,
    )


def answers_digest(answers_json: str) -> str:
    """The digest of a response's answers (as ``_answers_json`` writes them: in questionnaire
    order, texts masked): equal for equal answer vectors, so repeats can be grouped."""
    return hashlib.sha256(answers_json.encode("utf-8")).hexdigest()[:16]


def _store_answers(connection: Connection, response_id: int, answers: list[AnswerValue]) -> None:
    """Elsewhere than on PostgreSQL (SQLite): multi-row INSERTs, in the caller's transaction."""
    texts = _masked(answers)
    for first in range(0, len(answers), ANSWER_ROWS_PER_INSERT):
        chunk = answers[first : first + ANSWER_ROWS_PER_INSERT]
        params: dict[str, Any] = {"response": response_id}
        for n, a in enumerate(chunk):
            params[f"i{n}"] = a.item_id
            params[f"v{n}"] = a.value
            params[f"t{n}"] = texts[first + n]
            params[f"n{n}"] = a.not_applicable
        connection.execute(_insert_answers(len(chunk)), params)


@dataclass(frozen=True)
class SubmitTarget:
    """Where a submission at a desk link goes, read in one statement (the submit path's
    budget is a few milliseconds): the desk, the round open there now, and the id already
    stored under the submission's idempotency key, if any."""

    desk_id: int
    unit_id: int
    requires_dossier_code: bool
    round: RoundRules | None
    stored_response_id: int | None
    areas: list[AreaChoice]  # the areas a citizen may choose there (org.serving)


@lru_cache(maxsize=1)
def _submit_target_statement() -> Select[*tuple[Any, ...]]:
    # Built once with bound parameters: building a statement of this size costs more CPU than
    # running it, and one statement object keeps SQLAlchemy's compiled cache warm.
    areas = areas_of_desk_rows(bindparam("token"))
    return (
        select(
            Desk.id,
            Desk.unit_id,
            Desk.requires_dossier_code,
            Round.id.label("round_id"),
            Round.state,
            Round.opens_at,
            Round.closes_at,
            Round.template_version_id,
            TemplateVersion.frozen_at.label("version_frozen_at"),
            Round.min_answer_seconds,
            Round.device_period_hours,
            Round.desk_limit_per_hour,
            Round.network_limit_per_hour,
            select(Response.id)
            .where(Response.idempotency_key == bindparam("key"))
            .scalar_subquery()
            .label("stored"),
            areas.c.area_id,
            areas.c.area_code,
            areas.c.area_active,
            areas.c.own,
        )
        .select_from(Desk)
        .join(Unit, Unit.id == Desk.unit_id)
        .outerjoin(
            Round,
            Round.id
            == open_round_id(Desk.unit_id, now=bindparam("now")).correlate(Desk).scalar_subquery(),
        )
        .outerjoin(TemplateVersion, TemplateVersion.id == Round.template_version_id)
        .outerjoin(areas, true())  # one row per linked area (a handful), or one with none
        .where(*live_desk(bindparam("token")))
    )


def submit_target(token: str, idempotency_key: str, *, now: datetime) -> SubmitTarget:
    """Raises NotFoundError for an unknown or revoked desk link, like ``desk_by_token``."""
    params = {"token": token, "key": idempotency_key, "now": now}
    if db.engine.dialect.name == "postgresql":
        # On the driver, in autocommit: the read is atomic alone, one round trip (see
        # survey/services/responses/driver_sql.py).
        with autocommit_connection() as connection:
            rows = connection.rows(_driver(_submit_target_statement()), params)
    else:
        rows = list(db.session.execute(_submit_target_statement(), params).all())
    if not rows:
        raise NotFoundError(str(_l("Không tìm thấy quầy: đường dẫn sai hoặc đã được thay mới.")))
    row = rows[0]
    rules = None if row.round_id is None else RoundRules.from_row(row, id="round_id")
    return SubmitTarget(
        row.id, row.unit_id, row.requires_dossier_code, rules, row.stored, area_choices_of(rows)
    )


@lru_cache(maxsize=8)
def _driver(statement: ClauseElement) -> DriverStatement:
    return compile_for_driver(statement, db.engine.dialect)


def record_response(
    *,
    round_: Round | RoundRules,
    desk_id: int | None,
    unit_id: int,
    service_area_id: int,
    answers: list[AnswerValue],
    idempotency_key: str,
    now: datetime,
    channel: Channel = Channel.QR,
    locale: str = "vi",
    exclusion_reason: str | None = None,
    dossier_code_hash: str | None = None,
    form_nonce: str | None = None,
    form_reused_reason: str = "form sent before",
    mode: str | None = None,
) -> Recorded:
    """Store a response and all its answers whole (one statement on PostgreSQL, one transaction
    elsewhere), or find the one already stored under the same idempotency key. Commits, because
    the key's uniqueness is decided by the database at commit time and a retry must see the
    first attempt.

    ``exclusion_reason`` stores the response as excluded (it never counts); ``dossier_code_hash``
    claims a one-time dossier code with it, or nothing is stored. ``form_nonce`` claims the
    served form with it: when the form had been sent before (under another idempotency key),
    the response is stored excluded with ``form_reused_reason``. ``desk_id`` is None and
    ``mode`` says how the answer came for a sampled round's invitation
    (``survey.services.rounds.sample_answers``)."""
    # A retry of a stored submission is refused by the unique key below and answered with the
    # first attempt's id. Callers that want to answer retries without any work (the citizen's
    # view does, before validating) look the key up with response_id_for_key first; doing it
    # here again would cost every submission one more round trip to the database.
    rules = round_ if isinstance(round_, RoundRules) else RoundRules.of(round_)
    if not rules.is_open(now):
        raise RoundNotOpenError("The survey round is not open.")
    if dossier_code_hash is not None and dossier_code_used(rules.id, dossier_code_hash):
        raise DossierCodeUsedError("This dossier code has already been used in this round.")
    answers_json = _answers_json(answers)
    row = {
        "round_id": rules.id,
        "desk_id": desk_id,
        "unit_id": unit_id,
        "service_area_id": service_area_id,
        "received_at": now,
        "channel": channel.value,
        "idempotency_key": idempotency_key,
        "status": (ResponseStatus.EXCLUDED if exclusion_reason else ResponseStatus.COUNTED).value,
        "exclusion_reason": exclusion_reason,
        "locale": locale,
        "answers_digest": answers_digest(answers_json),
        "mode": mode,
    }
    # Core statements, no ORM objects: the ORM's unit of work cost several milliseconds of CPU
    # per submission, and nothing here needs objects.
    claimed = True
    try:
        if db.engine.dialect.name == "postgresql":
            # One statement, atomic alone: on the driver in autocommit, one round trip (see
            # survey/services/responses/driver_sql.py); inside a transaction of the caller's (a
            # dossier code's check, the console, tests) the same statement joins that transaction.
            params: dict[str, Any] = {f"r_{name}": value for name, value in row.items()}
            params |= {
                "answers": answers_json,
                "code_hash": dossier_code_hash,
                "form_nonce": form_nonce,
                "reused_reason": form_reused_reason,
            }
            statement = _insert_whole_response(
                tuple(row), dossier_code_hash is not None, form_nonce is not None
            )
            if db.session.registry.has() and db.session().in_transaction():
                response_id, claimed = db.session.execute(statement, params).one()
                db.session.commit()
            else:
                with autocommit_connection() as direct:
                    [(response_id, claimed)] = direct.rows(_driver(statement), params)
        else:
            connection = db.session.connection()
            if form_nonce is not None:
                claim = sqlite.insert(FORM_USES).on_conflict_do_nothing()
                used = {"nonce": form_nonce, "round_id": rules.id, "used_at": now}
                claimed = connection.execute(claim, used).rowcount == 1
                if not claimed:
                    row["status"] = ResponseStatus.EXCLUDED.value
                    row["exclusion_reason"] = exclusion_reason or form_reused_reason
            response_id = connection.execute(_INSERT_RESPONSE, row).scalar_one()
            if dossier_code_hash is not None:
                connection.execute(
                    insert(DOSSIER_CODE_USES),
                    {"round_id": rules.id, "code_hash": dossier_code_hash, "used_at": now},
                )
            if answers:
                _store_answers(connection, response_id, answers)
            db.session.commit()
    except IntegrityError:
        # Two copies of the same submission raced; the other one won and holds every answer.
        db.session.rollback()
        winner = response_id_for_key(idempotency_key)
        if winner is None:
            if dossier_code_hash is not None and dossier_code_used(rules.id, dossier_code_hash):
                raise DossierCodeUsedError(
                    "This dossier code has already been used in this round."
                ) from None
            raise
        return Recorded(winner, created=False)
    return Recorded(response_id, created=True, form_reused=not claimed)


def response_id_for_key(idempotency_key: str) -> int | None:
    return db.session.scalar(select(Response.id).where(Response.idempotency_key == idempotency_key))
