"""The dossier codes a round's desks handled in its period, from the one-stop software's list.

Without a list, a desk that asks for the receipt's dossier code accepts any well-formed code
(once per round). With one, it accepts only the codes listed for its unit (and, when a row names
a desk, only at that desk), each once: an invented code is refused.

The file has one row per dossier with the columns ``unit_code``, ``dossier_code`` and optionally
``desk_code`` (Vietnamese headers ``ma_don_vi``, ``ma_ho_so``, ``ma_quay`` are accepted too); it is
read by the same reader as the dossier counts (``dossier_import.read_csv_table``). Codes are kept
only as keyed HMAC hashes, like the codes that answered (``DossierCodeUse``). An import replaces
the round's whole list, and nothing is written unless every row is good.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, exists, func, insert, or_, select

from survey.errors import ConflictError
from survey.extensions import db
from survey.models import Desk, ListedDossierCode, Round, RoundState, Unit, User
from survey.services.audit import record_event
from survey.services.responses.abuse import keyed_hash, normalise_dossier_code
from survey.services.rounds.dossier_counts import RowError, read_csv_table

CODE_COLUMNS: dict[str, tuple[str, ...]] = {
    "unit_code": ("unit_code", "ma_don_vi", "mã đơn vị", "mã_đơn_vị"),
    "desk_code": ("desk_code", "ma_quay", "mã quầy", "mã_quầy"),
    "dossier_code": ("dossier_code", "ma_ho_so", "mã hồ sơ", "mã_hồ_sơ"),
}
OPTIONAL_COLUMNS = ("desk_code",)
# A province's round handles at most some hundred thousand dossiers; a larger file is a mistake.
MAX_CODES = 500_000
INSERT_BATCH = 5_000


@dataclass
class CodeImportOutcome:
    errors: list[RowError] = field(default_factory=list)
    codes: int = 0  # codes in the new list
    previous: int = 0  # codes in the list it replaced

    @property
    def ok(self) -> bool:
        return not self.errors


def dossier_code_listed(round_id: int, unit_id: int, desk_id: int, code_hash: str) -> bool:
    """Whether a citizen at ``desk_id`` may answer with this code: always when the round has no
    list, otherwise only when the list holds it for the desk's unit (and this desk, or no desk).
    One query, run only at desks that ask for a code."""
    has_list = exists().where(ListedDossierCode.round_id == round_id)
    listed = exists().where(
        ListedDossierCode.round_id == round_id,
        ListedDossierCode.code_hash == code_hash,
        ListedDossierCode.unit_id == unit_id,
        or_(ListedDossierCode.desk_id.is_(None), ListedDossierCode.desk_id == desk_id),
    )
    return bool(db.session.scalar(select(or_(~has_list, listed))))


def listed_code_count(round_id: int) -> int:
    return (
        db.session.scalar(select(func.count()).where(ListedDossierCode.round_id == round_id)) or 0
    )


def read_dossier_code(
    line: int, raw_code: str, first_line: dict[str, int], row_errors: list[RowError]
) -> str | None:
    """The normalised dossier code of a CSV line, or None with its problem added to
    ``row_errors``: missing, not a code (never repeated in the message), or a code already
    on an earlier line (``first_line`` remembers where each code was first seen)."""
    code = normalise_dossier_code(raw_code)
    if not raw_code:
        row_errors.append(RowError(line, "dossier_code", _l("Thiếu mã hồ sơ.")))
    elif code is None:
        row_errors.append(
            RowError(
                line,
                "dossier_code",
                _l(
                    "Mã hồ sơ không hợp lệ: 4 đến 40 ký tự, chữ, số và . / - "
                    "(không ghi lại mã ở đây)."
                ),
            )
        )
    elif code in first_line:
        row_errors.append(
            RowError(
                line,
                "dossier_code",
                _l("Trùng mã hồ sơ đã có ở dòng %(first)s.", first=first_line[code]),
            )
        )
        return None
    else:
        first_line[code] = line
    return code


def parse_code_csv(
    data: bytes, round_: Round, key: bytes
) -> tuple[list[dict[str, Any]], list[RowError]]:
    """The list's rows as stored (hashed under ``key``), or every reason it cannot be imported."""
    table, errors = read_csv_table(data, CODE_COLUMNS, OPTIONAL_COLUMNS)
    if table is None:
        return [], errors
    if len(table.rows) > MAX_CODES:
        return [], [
            RowError(
                None, None, _l("Tệp có quá %(n)s mã hồ sơ; hãy chia nhỏ theo đơn vị.", n=MAX_CODES)
            )
        ]
    in_scope = {s.unit_id for s in round_.scope}
    units = {
        code: unit_id
        for unit_id, code in db.session.execute(select(Unit.id, Unit.code))
        if unit_id in in_scope
    }
    known_units = set(db.session.scalars(select(Unit.code)))
    desks = {
        (unit_id, code): desk_id
        for desk_id, unit_id, code in db.session.execute(select(Desk.id, Desk.unit_id, Desk.code))
    }
    stored: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for line, row in table.rows:
        unit_code = table.value(row, "unit_code")
        desk_code = table.value(row, "desk_code")
        raw_code = table.value(row, "dossier_code")
        row_errors = []
        unit_id = units.get(unit_code)
        if not unit_code:
            row_errors.append(RowError(line, "unit_code", _l("Thiếu mã đơn vị.")))
        elif unit_id is None:
            reason = (
                _l("Đơn vị %(code)s không thuộc phạm vi đợt khảo sát.", code=unit_code)
                if unit_code in known_units
                else _l("Không có đơn vị mã %(code)s.", code=unit_code)
            )
            row_errors.append(RowError(line, "unit_code", reason))
        desk_id = None
        if desk_code and unit_id is not None:
            desk_id = desks.get((unit_id, desk_code))
            if desk_id is None:
                row_errors.append(
                    RowError(
                        line,
                        "desk_code",
                        _l(
                            "Đơn vị %(unit)s không có quầy mã %(code)s.",
                            unit=unit_code,
                            code=desk_code,
                        ),
                    )
                )
        code = read_dossier_code(line, raw_code, first_line, row_errors)
        if row_errors:
            errors.extend(row_errors)
        elif code is not None and unit_id is not None:
            stored.append(
                {
                    "round_id": round_.id,
                    "code_hash": keyed_hash(code, key),
                    "unit_id": unit_id,
                    "desk_id": desk_id,
                }
            )
    if not stored and not errors:
        errors.append(RowError(None, None, _l("Tệp không có dòng dữ liệu nào.")))
    return stored, errors


def import_dossier_codes(
    round_: Round, data: bytes, *, key: bytes, now: datetime, actor: User
) -> CodeImportOutcome:
    """Check the whole file, then make it the round's list (replacing any earlier one).
    Nothing is written on any error; the caller commits."""
    if round_.state == RoundState.PUBLISHED:
        raise ConflictError(
            _l("Đợt khảo sát đã công bố: không thể thay đổi danh sách mã hồ sơ nữa.")
        )
    rows, errors = parse_code_csv(data, round_, key)
    outcome = CodeImportOutcome(errors=errors, codes=len(rows))
    if errors:
        return outcome
    outcome.previous = listed_code_count(round_.id)
    db.session.execute(delete(ListedDossierCode).where(ListedDossierCode.round_id == round_.id))
    for first in range(0, len(rows), INSERT_BATCH):
        db.session.execute(insert(ListedDossierCode), rows[first : first + INSERT_BATCH])
    db.session.flush()
    record_event(
        action="round.dossier_codes_import",
        entity_type="round",
        entity_id=round_.id,
        now=now,
        actor=actor,
        before={"codes": outcome.previous},
        after={"codes": outcome.codes},
        note=f"codes={outcome.codes} replaced={outcome.previous}",
    )
    return outcome
