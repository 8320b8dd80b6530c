"""Answers of a sampled round: the citizen's own through the invitation's link, and the paper
forms and interviews staff enter, once or twice.

An answer is recorded against its invitation in one transaction: the invitation turns
``answered`` (with the mode) only if it was not answered already, and the response is stored with
the stratum's unit and service area, no desk, and the mode. Nothing links the response to the
invitation afterwards, as nothing links a dossier code's use to its response.

With double entry (``SampleDraw.double_entry``) each paper form or interview is entered by two
clerks. When the two entries agree the answer is recorded; when they differ, the differences are
listed for a third person, who enters the answer that counts. The entries are deleted once the
answer is recorded.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update
from werkzeug.datastructures import MultiDict

from forms.answer import field_name, parse_answers, raw_answer
from survey.errors import ConflictError
from survey.extensions import db
from survey.models import (
    AnswerMode,
    Channel,
    Invitation,
    InvitationEntry,
    InvitationState,
    Round,
    SampleDraw,
    User,
)
from survey.services.audit import record_event
from survey.services.questionnaires.frozen import QuestionnaireSpec, questionnaire_spec
from survey.services.responses.recording import (
    AnswerValue,
    Recorded,
    record_response,
    response_id_for_key,
)
from survey.services.rounds.lifecycle import RoundRules

STAFF_MODES = (AnswerMode.PAPER, AnswerMode.PHONE, AnswerMode.FACE_TO_FACE)


def _staff_mode(mode: AnswerMode | str) -> AnswerMode:
    """How a form entered by staff came: on paper, by phone or face to face."""
    chosen = AnswerMode(mode)
    if chosen not in STAFF_MODES:
        raise ConflictError(_l("Hãy chọn cách trả lời: phiếu giấy, điện thoại hoặc phỏng vấn."))
    return chosen


def invitation_spec(round_: Round) -> QuestionnaireSpec:
    return questionnaire_spec(round_.template_version)


def record_invitation_answer(
    round_: Round,
    invitation: Invitation,
    answers: list[AnswerValue],
    *,
    mode: AnswerMode | str,
    idempotency_key: str,
    now: datetime,
    locale: str = "vi",
) -> Recorded:
    """Store the invitation's answer, or raise ``ConflictError`` when it has one already. A
    retry under the same idempotency key is answered with the first attempt's id. Commits (the
    response's recording commits the invitation's change with it)."""
    mode = AnswerMode(mode)
    stored = response_id_for_key(idempotency_key)
    if stored is not None:
        return Recorded(stored, created=False)
    claimed = db.session.execute(  # type: ignore[attr-defined]  # an UPDATE's CursorResult
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.state != InvitationState.ANSWERED.value)
        .values(state=InvitationState.ANSWERED.value, mode=mode.value, answered_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        raise ConflictError(_l("Thư mời này đã có câu trả lời."))
    frame_row = invitation.frame_row
    return record_response(
        round_=round_,
        desk_id=None,
        unit_id=frame_row.unit_id,
        service_area_id=frame_row.service_area_id,
        answers=answers,
        idempotency_key=idempotency_key,
        now=now,
        channel=Channel.WEB if mode is AnswerMode.SELF_WEB else Channel.PAPER,
        locale=locale,
        mode=mode.value,
    )


@dataclass(frozen=True)
class Difference:
    """One question the two entries answered differently, as each clerk entered it."""

    item_id: int
    code: str
    text: str
    first: str
    second: str


@dataclass(frozen=True)
class EntryOutcome:
    recorded: bool  # the answer counts now
    waiting: bool = False  # one entry made; a second clerk must enter the form too
    differences: tuple[Difference, ...] = ()  # the two entries differ: a third must resolve


def _posted(spec: QuestionnaireSpec, form: MultiDict[str, str]) -> dict[str, list[str]]:
    """The answer fields as posted, for keeping an entry until it is compared."""
    names = [field_name(item) for item in spec.items]
    return {name: form.getlist(name) for name in names if form.getlist(name)}


def _shown(item: Any, values: list[AnswerValue]) -> str:
    if not values:
        return "—"
    labels = {value: vi for value, vi, _en in item.points()} if item.scale != "text" else {}
    shown = []
    for v in values:
        if v.not_applicable:
            shown.append(str(_l("Không áp dụng")))
        elif v.text is not None:
            shown.append(v.text)
        else:
            shown.append(f"{v.value} ({labels[v.value]})" if v.value in labels else str(v.value))
    return "; ".join(shown)


def compare_entries(
    spec: QuestionnaireSpec, first: InvitationEntry, second: InvitationEntry
) -> tuple[Difference, ...]:
    """The questions (and the mode) on which two entries of one form differ."""
    parsed = []
    for entry in (first, second):
        answers, _problems = parse_answers(
            spec.items, raw_answer(MultiDict(list(_pairs(json.loads(entry.answers)))))
        )
        by_item: dict[int, list[AnswerValue]] = {}
        for answer in answers:
            by_item.setdefault(answer.item_id, []).append(answer)
        parsed.append(by_item)
    differences = []
    if first.mode != second.mode:
        differences.append(Difference(0, "mode", str(_l("Cách trả lời")), first.mode, second.mode))
    for item in spec.items:
        a, b = parsed[0].get(item.id, []), parsed[1].get(item.id, [])
        if a != b:
            differences.append(
                Difference(item.id, item.code, item.text, _shown(item, a), _shown(item, b))
            )
    return tuple(differences)


def _pairs(posted: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, values in posted.items() for value in values]


def entries_of(invitation: Invitation) -> list[InvitationEntry]:
    return list(
        db.session.scalars(
            select(InvitationEntry)
            .where(InvitationEntry.invitation_id == invitation.id)
            .order_by(InvitationEntry.id)
        )
    )


def _double_entry(round_: Round) -> bool:
    draw = db.session.get(SampleDraw, round_.id)
    return draw is not None and draw.double_entry


def _check_open(round_: Round, now: datetime) -> None:
    if not RoundRules.of(round_).is_open(now):
        raise ConflictError(_l("Đợt khảo sát không mở: không nhập được phiếu."))


def _check_answerable(invitation: Invitation) -> None:
    if invitation.state == InvitationState.ANSWERED:
        raise ConflictError(_l("Thư mời này đã có câu trả lời."))


def enter_answers(
    round_: Round,
    invitation: Invitation,
    form: MultiDict[str, str],
    *,
    mode: AnswerMode | str,
    clerk: User,
    now: datetime,
) -> tuple[EntryOutcome, dict[int, list[str]]]:
    """A clerk's entry of a paper form or an interview. Returns the outcome and, when the
    answers themselves are wrong, the problems per item id (then nothing is stored).

    Without double entry the answer is recorded at once. With it, the first entry is kept; the
    second (by another clerk) records the answer if both agree, or is kept beside the first and
    the differences returned. Commits what it stores."""
    mode = _staff_mode(mode)
    _check_answerable(invitation)
    spec = invitation_spec(round_)
    answers, problems = parse_answers(spec.items, raw_answer(form))
    if problems:
        return EntryOutcome(recorded=False), problems
    _check_open(round_, now)
    if not _double_entry(round_):
        _record_entered(round_, invitation, answers, mode, clerk, now, how="single")
        return EntryOutcome(recorded=True), {}
    entries = entries_of(invitation)
    if any(e.clerk_id == clerk.id for e in entries):
        raise ConflictError(
            _l("Bạn đã nhập phiếu này; lần nhập thứ hai phải do một người khác thực hiện.")
        )
    if len(entries) >= 2:
        raise ConflictError(
            _l("Phiếu này đã được nhập hai lần và khác nhau: cần người thứ ba đối chiếu.")
        )
    entry = InvitationEntry(
        invitation_id=invitation.id,
        clerk_id=clerk.id,
        mode=mode.value,
        answers=json.dumps(_posted(spec, form), ensure_ascii=False, sort_keys=True),
        entered_at=now,
    )
    db.session.add(entry)
    db.session.flush()
    record_event(
        action="invitation.entry",
        entity_type="invitation",
        entity_id=invitation.id,
        now=now,
        actor=clerk,
        after={"entry": len(entries) + 1, "mode": mode.value},
    )
    if not entries:
        db.session.commit()
        return EntryOutcome(recorded=False, waiting=True), {}
    differences = compare_entries(spec, entries[0], entry)
    if differences:
        db.session.commit()
        return EntryOutcome(recorded=False, differences=differences), {}
    _record_entered(round_, invitation, answers, mode, clerk, now, how="double")
    return EntryOutcome(recorded=True), {}


def resolve_entries(
    round_: Round,
    invitation: Invitation,
    form: MultiDict[str, str],
    *,
    mode: AnswerMode | str,
    resolver: User,
    now: datetime,
) -> dict[int, list[str]]:
    """A third person's answer to two differing entries: recorded as the one that counts.
    Returns the problems per item id when the answers are wrong (nothing stored)."""
    mode = _staff_mode(mode)
    _check_answerable(invitation)
    _check_open(round_, now)
    entries = entries_of(invitation)
    if len(entries) < 2:
        raise ConflictError(_l("Phiếu này chưa có hai lần nhập khác nhau để đối chiếu."))
    if any(e.clerk_id == resolver.id for e in entries):
        raise ConflictError(_l("Người đối chiếu phải khác hai người đã nhập phiếu."))
    answers, problems = parse_answers(invitation_spec(round_).items, raw_answer(form))
    if problems:
        return problems
    _record_entered(round_, invitation, answers, mode, resolver, now, how="resolved")
    return {}


def _record_entered(
    round_: Round,
    invitation: Invitation,
    answers: list[AnswerValue],
    mode: AnswerMode,
    actor: User,
    now: datetime,
    *,
    how: str,
) -> None:
    db.session.execute(
        delete(InvitationEntry).where(InvitationEntry.invitation_id == invitation.id)
    )
    record_event(
        action="invitation.answer_entered",
        entity_type="invitation",
        entity_id=invitation.id,
        now=now,
        actor=actor,
        after={"mode": mode.value, "entry": how},
    )
    record_invitation_answer(
        round_,
        invitation,
        answers,
        mode=mode,
        idempotency_key=f"entry-{secrets.token_urlsafe(24)}",
        now=now,
    )


def conflicts(round_: Round) -> list[Invitation]:
    """The round's invitations whose two entries differ, waiting for a third person."""
    twice = (
        select(InvitationEntry.invitation_id)
        .join(Invitation, Invitation.id == InvitationEntry.invitation_id)
        .where(Invitation.round_id == round_.id)
        .group_by(InvitationEntry.invitation_id)
        .having(func.count() >= 2)
    )
    return list(
        db.session.scalars(
            select(Invitation).where(Invitation.id.in_(twice)).order_by(Invitation.reference)
        )
    )
