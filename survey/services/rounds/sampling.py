"""A sampled round's frame import, its draw, and the one-time codes of its invitations.

The frame is a CSV file with one row per completed dossier: ``unit_code``, ``service_area_code``,
``dossier_code`` and ``completed_on`` (Vietnamese headers ``ma_don_vi``, ``ma_linh_vuc``,
``ma_ho_so``, ``ngay_hoan_thanh`` too), read by the reader of every upload. No names: a dossier
code is hashed under DOSSIER_CODE_KEY as soon as it is read and never stored in clear. Every bad
line is reported with its number and nothing is written unless the whole file is good.

The draw allocates the total to the unit x service area strata and draws within them
(``analysis.sampling``) from the frame sorted by code hash, with a recorded seed, so the same
frame, key, allocation and seed give the same sample. Each sampled dossier gets an invitation.
Its one-time code is derived from the dossier's hash under the key (so the letters can be printed
again at any time) and only a hash of the code is stored; the letter also carries a short
reference number, which is not a secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, func, insert, or_, select

from analysis.sampling import (
    Allocation,
    Dispositions,
    allocate,
    answer_completeness,
    draw_stratified,
)
from survey.errors import ConflictError
from survey.extensions import db
from survey.models import (
    DEFAULT_TRIM_RATIO,
    Answer,
    Invitation,
    InvitationState,
    Response,
    Round,
    RoundKind,
    RoundState,
    SampleDraw,
    SampleFrameRow,
    SampleStratum,
    ServiceArea,
    Unit,
    User,
)
from survey.services.audit import record_event
from survey.services.responses.abuse import keyed_hash
from survey.services.rounds.dossier_codes import read_dossier_code
from survey.services.rounds.dossier_counts import RowError, read_csv_table

FRAME_COLUMNS: dict[str, tuple[str, ...]] = {
    "unit_code": ("unit_code", "ma_don_vi", "mã đơn vị", "mã_đơn_vị"),
    "service_area_code": ("service_area_code", "ma_linh_vuc", "mã lĩnh vực", "mã_lĩnh_vực"),
    "dossier_code": ("dossier_code", "ma_ho_so", "mã hồ sơ", "mã_hồ_sơ"),
    "completed_on": ("completed_on", "ngay_hoan_thanh", "ngày hoàn thành", "ngày_hoàn_thành"),
}
INSERT_BATCH = 5_000
# A year of a province's completed dossiers can run to hundreds of thousands: the frame may be
# larger than other uploads, up to the request limit (16 MB, about 350,000 lines).
FRAME_MAX_ROWS = 300_000
FRAME_MAX_BYTES = 15 * 1024 * 1024
# Ten characters of base32 (50 bits): not guessable in the life of a round, easy to type.
CODE_LENGTH = 10


@dataclass
class FrameImportOutcome:
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _require_sample_round(round_: Round) -> None:
    if round_.kind != RoundKind.SAMPLE:
        raise ConflictError(_l("Đợt khảo sát này không phải đợt chọn mẫu."))


def _drawn(round_: Round) -> bool:
    return db.session.get(SampleDraw, round_.id) is not None


def _parse_date(text: str) -> date | None:
    for parse in (
        date.fromisoformat,
        lambda t: datetime.strptime(t, "%d/%m/%Y").date(),
    ):
        try:
            return parse(text)
        except ValueError:
            continue
    return None


def parse_frame_csv(
    data: bytes, round_: Round, key: bytes
) -> tuple[list[dict[str, Any]], list[RowError]]:
    """The frame's rows as stored (codes hashed under ``key``), or every reason it is refused."""
    table, errors = read_csv_table(
        data, FRAME_COLUMNS, max_rows=FRAME_MAX_ROWS, max_bytes=FRAME_MAX_BYTES
    )
    if table is None:
        return [], errors
    in_scope = {s.unit_id for s in round_.scope}
    units = {code: unit_id for unit_id, code in db.session.execute(select(Unit.id, Unit.code))}
    areas = {
        code: area_id
        for area_id, code in db.session.execute(select(ServiceArea.id, ServiceArea.code))
    }
    stored: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for line, row in table.rows:
        unit_code = table.value(row, "unit_code")
        area_code = table.value(row, "service_area_code")
        raw_code = table.value(row, "dossier_code")
        raw_date = table.value(row, "completed_on")
        row_errors = []
        unit_id = units.get(unit_code)
        if not unit_code:
            row_errors.append(RowError(line, "unit_code", _l("Thiếu mã đơn vị.")))
        elif unit_id is None:
            row_errors.append(
                RowError(line, "unit_code", _l("Không có đơn vị mã %(code)s.", code=unit_code[:40]))
            )
        elif unit_id not in in_scope:
            row_errors.append(
                RowError(
                    line,
                    "unit_code",
                    _l("Đơn vị %(code)s không thuộc phạm vi đợt khảo sát.", code=unit_code),
                )
            )
        area_id = areas.get(area_code)
        if not area_code:
            row_errors.append(RowError(line, "service_area_code", _l("Thiếu mã lĩnh vực.")))
        elif area_id is None:
            row_errors.append(
                RowError(
                    line,
                    "service_area_code",
                    _l("Không có lĩnh vực mã %(code)s.", code=area_code[:40]),
                )
            )
        completed_on = _parse_date(raw_date)
        if not raw_date:
            row_errors.append(RowError(line, "completed_on", _l("Thiếu ngày hoàn thành.")))
        elif completed_on is None:
            row_errors.append(
                RowError(
                    line,
                    "completed_on",
                    _l(
                        "Ngày hoàn thành “%(value)s” không hợp lệ (dạng 2026-03-31 hoặc "
                        "31/03/2026).",
                        value=raw_date[:20],
                    ),
                )
            )
        code = read_dossier_code(line, raw_code, first_line, row_errors)
        if row_errors:
            errors.extend(row_errors)
        elif code is not None and unit_id is not None and area_id is not None:
            stored.append(
                {
                    "round_id": round_.id,
                    "code_hash": keyed_hash(code, key),
                    "unit_id": unit_id,
                    "service_area_id": area_id,
                    "completed_on": completed_on,
                }
            )
    if not stored and not errors:
        errors.append(RowError(None, None, _l("Tệp không có dòng dữ liệu nào.")))
    return stored, errors


def import_frame(
    round_: Round, data: bytes, *, key: bytes, now: datetime, actor: User
) -> FrameImportOutcome:
    """Check the whole file, then make it the round's frame (replacing an earlier one). Refused
    once the sample is drawn; nothing is written on any error. The caller commits."""
    _require_sample_round(round_)
    if _drawn(round_):
        raise ConflictError(_l("Mẫu đã được chọn: không thể thay khung mẫu nữa."))
    rows, errors = parse_frame_csv(data, round_, key)
    outcome = FrameImportOutcome(errors=errors, rows=len(rows))
    if errors:
        return outcome
    db.session.execute(delete(SampleFrameRow).where(SampleFrameRow.round_id == round_.id))
    for first in range(0, len(rows), INSERT_BATCH):
        db.session.execute(insert(SampleFrameRow), rows[first : first + INSERT_BATCH])
    db.session.flush()
    record_event(
        action="round.sample_frame_import",
        entity_type="round",
        entity_id=round_.id,
        now=now,
        actor=actor,
        after={"rows": outcome.rows},
        note=f"rows={outcome.rows}",
    )
    return outcome


def one_time_code(round_id: int, code_hash: str, key: bytes) -> str:
    """The invitation's code: HMAC-SHA256 of the round and the dossier's hash, in base32."""
    digest = hmac.new(key, f"invitation:{round_id}:{code_hash}".encode(), hashlib.sha256)
    return base64.b32encode(digest.digest()).decode()[:CODE_LENGTH]


def invitation_code_hash(code: str, key: bytes) -> str:
    return keyed_hash(f"invitation:{code.strip().upper()}", key)


def draw_sample(
    round_: Round,
    *,
    method: Allocation | str,
    total: int,
    minimum: int = 0,
    seed: int | None = None,
    key: bytes,
    now: datetime,
    actor: User | None,
    double_entry: bool = False,
    trim_ratio: float | None = DEFAULT_TRIM_RATIO,
) -> SampleDraw:
    """Allocate, draw and issue the invitations, once per round, stating with the draw whether
    staff enter each form twice and the weight-trimming ratio (None: no trimming). Raises
    ``ValueError`` on an impossible allocation (with nothing written). The caller commits."""
    if trim_ratio is not None and not (math.isfinite(trim_ratio) and trim_ratio >= 1):
        raise ValueError("the trimming ratio must be a number of at least 1")
    _require_sample_round(round_)
    if _drawn(round_):
        raise ConflictError(_l("Mẫu của đợt này đã được chọn."))
    frame = db.session.execute(
        select(
            SampleFrameRow.id,
            SampleFrameRow.code_hash,
            SampleFrameRow.unit_id,
            SampleFrameRow.service_area_id,
        )
        .where(SampleFrameRow.round_id == round_.id)
        .order_by(SampleFrameRow.code_hash)
    ).all()
    if not frame:
        raise ConflictError(_l("Chưa có khung mẫu: hãy nhập danh sách hồ sơ trước."))
    strata = [(r.unit_id, r.service_area_id) for r in frame]
    sizes: dict[tuple[int, int], int] = {}
    for stratum in strata:
        sizes[stratum] = sizes.get(stratum, 0) + 1
    allocation = allocate(sizes, total, method, minimum=minimum, groups={k: k[0] for k in sizes})
    seed = secrets.randbelow(2**62) if seed is None else seed
    sample = draw_stratified(strata, allocation, seed)
    draw = SampleDraw(
        round_id=round_.id,
        seed=sample.seed,
        allocation=Allocation(method).value,
        total=total,
        minimum=minimum,
        drawn_at=now,
        drawn_by_id=actor.id if actor is not None else None,
        double_entry=double_entry,
        trim_ratio=trim_ratio,
    )
    db.session.add(draw)
    db.session.flush()
    db.session.add_all(
        SampleStratum(
            round_id=round_.id,
            unit_id=unit_id,
            service_area_id=area_id,
            population=sample.population[(unit_id, area_id)],
            sample_size=sample.allocation[(unit_id, area_id)],
        )
        for unit_id, area_id in sorted(sample.population)
    )
    # References follow unit, area and hash order, so one unit's letters lie together.
    chosen = sorted((frame[i] for i in sample.rows), key=lambda r: (r[2], r[3], r[1]))
    db.session.execute(
        insert(Invitation),
        [
            {
                "round_id": round_.id,
                "frame_row_id": row.id,
                "reference": f"{round_.id}-{number:05d}",
                "code_hash": invitation_code_hash(
                    one_time_code(round_.id, row.code_hash, key), key
                ),
                "state": "issued",
            }
            for number, row in enumerate(chosen, start=1)
        ],
    )
    db.session.flush()
    record_event(
        action="round.sample_draw",
        entity_type="round",
        entity_id=round_.id,
        now=now,
        actor=actor,
        after={
            "seed": sample.seed,
            "allocation": draw.allocation,
            "total": total,
            "minimum": minimum,
            "frame": len(frame),
        },
        note=f"seed={sample.seed} total={total} frame={len(frame)}",
    )
    return draw


def frame_size(round_id: int) -> int:
    return db.session.scalar(select(func.count()).where(SampleFrameRow.round_id == round_id)) or 0


def find_invitation(round_id: int, code: str, key: bytes) -> Invitation | None:
    """The round's invitation with this one-time code, if any."""
    return db.session.scalar(
        select(Invitation).where(
            Invitation.round_id == round_id,
            Invitation.code_hash == invitation_code_hash(code, key),
        )
    )


def invitation_by_code(code: str, key: bytes) -> Invitation | None:
    """The invitation with this one-time code (codes are unique across rounds), if any."""
    if not (len(code.strip()) == CODE_LENGTH and code.strip().isalnum() and code.isascii()):
        return None
    return db.session.scalar(
        select(Invitation).where(Invitation.code_hash == invitation_code_hash(code, key))
    )


def make_sample_round(round_: Round, *, now: datetime, actor: User) -> None:
    """Turn a draft round into a sampled round (its answers come from invitations)."""
    if round_.state != RoundState.DRAFT:
        raise ConflictError(
            _l("Chỉ đợt khảo sát còn là bản nháp mới chuyển được thành đợt chọn mẫu.")
        )
    round_.kind = RoundKind.SAMPLE
    db.session.flush()
    record_event(
        action="round.kind",
        entity_type="round",
        entity_id=round_.id,
        now=now,
        actor=actor,
        before={"kind": "qr"},
        after={"kind": "sample"},
    )


@dataclass(frozen=True)
class StratumProgress:
    unit_name: str
    area_name: str
    population: int
    sample_size: int
    answered: int


def sample_progress(round_: Round) -> list[StratumProgress]:
    """Per stratum: N_h, n_h and the invitations answered so far."""
    answered = {
        (unit_id, area_id): count
        for unit_id, area_id, count in db.session.execute(
            select(SampleFrameRow.unit_id, SampleFrameRow.service_area_id, func.count())
            .join(Invitation, Invitation.frame_row_id == SampleFrameRow.id)
            .where(Invitation.round_id == round_.id, Invitation.state == "answered")
            .group_by(SampleFrameRow.unit_id, SampleFrameRow.service_area_id)
        )
    }
    rows = db.session.execute(
        select(SampleStratum, Unit.name, ServiceArea.name)
        .join(Unit, Unit.id == SampleStratum.unit_id)
        .join(ServiceArea, ServiceArea.id == SampleStratum.service_area_id)
        .where(SampleStratum.round_id == round_.id)
        .order_by(Unit.name, ServiceArea.name)
    ).all()
    return [
        StratumProgress(
            unit_name=unit_name,
            area_name=area_name,
            population=s.population,
            sample_size=s.sample_size,
            answered=answered.get((s.unit_id, s.service_area_id), 0),
        )
        for s, unit_name, area_name in rows
    ]


def find_invitation_by_reference(round_id: int, reference: str) -> Invitation | None:
    return db.session.scalar(
        select(Invitation).where(
            Invitation.round_id == round_id, Invitation.reference == reference.strip()
        )
    )


def record_invitation_outcome(
    invitation: Invitation,
    state: InvitationState | str,
    *,
    now: datetime,
    actor: User | None,
) -> None:
    """What came of an invitation without an answer: refused, or the letter returned
    undeliverable (``issued`` takes a mistaken outcome back). An answer is recorded with its
    answers (``sample_answers``), never as a bare outcome; an answered invitation is final."""
    state = InvitationState(state)
    if invitation.state == InvitationState.ANSWERED:
        raise ConflictError(_l("Thư mời này đã có câu trả lời."))
    if state is InvitationState.ANSWERED:
        raise ConflictError(
            _l("Câu trả lời được ghi khi nhập phiếu (mục “Nhập phiếu”), không ghi ở đây.")
        )
    before = {"state": invitation.state}
    invitation.state = state
    invitation.mode = None
    invitation.answered_at = None
    db.session.flush()
    record_event(
        action="invitation.outcome",
        entity_type="invitation",
        entity_id=invitation.id,
        now=now,
        actor=actor,
        before=before,
        after={"state": state.value},
    )


@dataclass(frozen=True)
class StratumRates:
    unit_name: str
    area_name: str
    population: int
    dispositions: Dispositions


def _scored_items(round_: Round) -> list[int]:
    """The items every respondent is asked and that carry a score: what makes an interview
    complete or partial (AAPOR)."""
    from survey.services.questionnaires.frozen import questionnaire_spec

    return [
        item.id
        for item in questionnaire_spec(round_.template_version).items
        if item.scale not in ("text", "choice") and item.condition_item_id is None
    ]


def response_rates(
    round_: Round, unit_ids: set[int] | None = None
) -> tuple[list[StratumRates], Dispositions]:
    """Per stratum and overall: the dispositions of the invitations and AAPOR RR1 and RR2. An
    answered invitation is complete, partial or a break-off by the share of the scored items
    its response answered (``analysis.sampling.answer_completeness``), read from the counted
    responses of the stratum (responses are not linked to invitations). ``unit_ids``: only
    the strata of these units (a unit officer's), and the overall figures over them."""
    from survey.services.responses.counting import counted

    states: dict[tuple[int, int], dict[str, int]] = {}
    for unit_id, area_id, state, count in db.session.execute(
        select(
            SampleFrameRow.unit_id, SampleFrameRow.service_area_id, Invitation.state, func.count()
        )
        .join(Invitation, Invitation.frame_row_id == SampleFrameRow.id)
        .where(Invitation.round_id == round_.id)
        .group_by(SampleFrameRow.unit_id, SampleFrameRow.service_area_id, Invitation.state)
    ):
        states.setdefault((unit_id, area_id), {})[state] = count
    items = _scored_items(round_)
    answered = (
        select(Response.unit_id, Response.service_area_id, func.count(Answer.item_id))
        .outerjoin(
            Answer,
            and_(
                Answer.response_id == Response.id,
                Answer.item_id.in_(items),
                or_(Answer.value.is_not(None), Answer.not_applicable.is_(True)),
            ),
        )
        .where(counted(round_), Response.mode.is_not(None))
        .group_by(Response.id, Response.unit_id, Response.service_area_id)
    )
    kinds: dict[tuple[int, int], dict[str, int]] = {}
    for unit_id, area_id, n in db.session.execute(answered):
        kind = answer_completeness(n, len(items))
        tallied = kinds.setdefault((unit_id, area_id), {})
        tallied[kind] = tallied.get(kind, 0) + 1
    rows = db.session.execute(
        select(SampleStratum, Unit.name, ServiceArea.name)
        .join(Unit, Unit.id == SampleStratum.unit_id)
        .join(ServiceArea, ServiceArea.id == SampleStratum.service_area_id)
        .where(SampleStratum.round_id == round_.id)
        .order_by(Unit.name, ServiceArea.name)
    ).all()
    strata = []
    total = Dispositions(0)
    for stratum, unit_name, area_name in rows:
        if unit_ids is not None and stratum.unit_id not in unit_ids:
            continue
        cell = (stratum.unit_id, stratum.service_area_id)
        by_kind = kinds.get(cell, {})
        by_state = states.get(cell, {})
        found = Dispositions(
            sampled=stratum.sample_size,
            complete=by_kind.get("complete", 0),
            partial=by_kind.get("partial", 0),
            break_off=by_kind.get("break_off", 0),
            refused=by_state.get(InvitationState.REFUSED.value, 0),
            noncontact=by_state.get(InvitationState.UNDELIVERABLE.value, 0),
        )
        strata.append(StratumRates(unit_name, area_name, stratum.population, found))
        total = total + found
    return strata, total
