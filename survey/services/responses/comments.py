"""Free-text comments: masking obvious personal data, and moderation before anyone reads them.

Masking happens at storage (``record_response`` stores only the masked text, so the raw phone
number or ID never reaches the database) and again whenever a comment is shown, for comments
stored by any other path or before masking existed. Masking is idempotent: its placeholders hold
no digit and no ``@``.

What is masked, each bounded so that it is not part of a longer word or number:

- Vietnamese phone numbers: ``0`` and 9 digits (mobile), ``02`` and 9 digits (landline), ``+84``
  / ``0084`` / ``(+84)`` and the national number, ``(024) 3825 1234``; single spaces, dots or
  dashes between digits; a keyword glued in front (``sđt0912345678``) is kept, the number masked.
- CCCD (12 digits) and CMND (9 digits) numbers, contiguous or grouped by spaces or dashes; a
  12-digit number grouped by dots when it starts with 0 (every CCCD starts with its province
  code 001-096; an amount never starts with 0).
- E-mail addresses.
- Dossier codes (the receipt's code ties a comment to one person's case): the national portal's
  form, an agency code, the date and a sequence (``H33.25-241205-0001``,
  ``000.00.20.H33-241205-0001``), and any code after "mã hồ sơ", "số hồ sơ", "hồ sơ số", "mã
  HS", "mã biên nhận" or "số biên nhận" that holds a digit.
- Personal names: a common Vietnamese family name (Nguyễn, Trần, Lê, Phạm, Hoàng, Huỳnh, Phan,
  Vũ, Võ, Đặng, Bùi, Đỗ, Hồ, Ngô, Dương, Lý, Đinh, Trương, Đoàn, Trịnh, Lương, Tô, Đào, Chu, Tạ)
  followed by one to three capitalised syllables (``Nguyễn Văn An``, ``chị Trần Thị B``), unless
  a place word comes first (``đường Lê Lợi``, ``TP Hồ Chí Minh``) or it is a well-known place
  (``Hồ Chí Minh``, ``Phan Thiết``...). Family names that are also provinces (Hà, Cao, Lâm,
  Mai) are left out: a name missed is what moderators are for; a place masked would make every
  comment about Hà Nội unreadable.

Moderators can also hide any part of a comment by hand (``redact_comment``), audited.

What is deliberately left alone: amounts of money (``1.000.000 đồng``, ``100.000.000``, grouped in
thousands or followed by a currency word), dates and times, numbers glued to letters (codes such
as ``H33.25-0912345678`` or ``ABC123456789``), and numbers too short or too long to be a phone
or an ID. When in doubt between an amount and an ID, a thousands-grouped number is an amount.

Who reads comments: administrators and analysts moderate (approve or hide) every comment of a
round, already masked; everyone else (unit officers in the console, API tokens of unit officers)
sees only approved comments of their own units. Comments are never on public pages.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select

from survey.errors import DomainError, NotFoundError
from survey.extensions import db
from survey.models import (
    Answer,
    CommentReview,
    CommentState,
    Item,
    ItemRole,
    Response,
    Role,
    Round,
    RoundUnit,
    ServiceArea,
    User,
)
from survey.services.audit import record_event
from survey.services.paging import Page
from survey.services.responses.counting import counted

PHONE_MASK = "[SĐT đã ẩn]"
ID_MASK = "[số giấy tờ đã ẩn]"
EMAIL_MASK = "[email đã ẩn]"
DOSSIER_MASK = "[mã hồ sơ đã ẩn]"
NAME_MASK = "[tên đã ẩn]"
REDACTED_MASK = "[đã ẩn]"

_SEP = r"[ .\-]?"  # at most one space, dot or dash between two digits
_PHONE = (
    # +84 / 0084 / (+84), an optional (0), then 9 digits (10 for a 2x landline)
    rf"(?:(?:\+|00)84|\(\+84\)){_SEP}(?:\(0\){_SEP})?"
    rf"(?:2(?:{_SEP}\d){{9}}|[1-9](?:{_SEP}\d){{8}})"
    # 84 and a mobile number, written together
    r"|84[35789]\d{8}"
    # (024) 3825 1234
    rf"|\(0\d{{2,3}}\){_SEP}\d(?:{_SEP}\d){{6,7}}"
    # 02x landline (11 digits) or a 10-digit mobile
    rf"|0{_SEP}(?:2(?:{_SEP}\d){{9}}|[1-9](?:{_SEP}\d){{8}})"
)
_ID = (
    r"\d{12}|\d{9}"
    r"|0\d{2}(?:[ .\-]\d{3}){3}"  # CCCD grouped by threes, dots allowed: it starts with 0
    r"|\d{3}(?:[ \-]\d{3}){3}"
    r"|\d{4}(?P<idsep>[ .\-])\d{4}(?P=idsep)\d{4}"
    r"|\d{3}[ \-]\d{3}[ \-]\d{3}"
)
_EMAIL = r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+"
_CURRENCY = r"(?:đồng|đ|vnđ|vnd|nghìn|ngàn|triệu|tỷ|tỉ|k)"
_MONEY = (
    rf"\d+(?:[.,]\d+)*\s?{_CURRENCY}"  # any number followed by a currency word
    r"|[1-9]\d{0,2}(?P<moneysep>[.,])\d{3}(?:(?P=moneysep)\d{3})*"  # grouped in thousands
)
_DATE = r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{4}-\d{1,2}-\d{1,2}"
_KEYWORD = r"(?:sđt|sdt|đt|dt|số|tel|zalo|cccd|cmnd|cmt)[:.]?"

# Alternatives are tried in order at each position: what must be kept (amounts, dates) wins over
# what is masked. Nothing matches inside a word or a longer number (the lookarounds).
_PERSONAL = re.compile(
    r"(?<!\w)(?<!\d[.,\-])"
    rf"(?P<kw>{_KEYWORD}(?=[+(\d]))?"
    r"(?:"
    rf"(?P<email>{_EMAIL})"
    rf"|(?P<money>{_MONEY})"
    rf"|(?P<date>{_DATE})"
    rf"|(?P<phone>{_PHONE})"
    rf"|(?P<id>{_ID})"
    r")"
    r"(?!\w)(?![.,\-]?\d)",
    re.IGNORECASE,
)


_DOSSIER = re.compile(
    # agency code (dotted parts), the date as yymmdd, the sequence number
    r"(?<![\w.\-])(?:[A-Za-z0-9]+\.)*[A-Za-z0-9]+-\d{6}-\d{3,6}(?![\w\-]|\.\w)"
    # or whatever code follows the words that announce one
    r"|(?P<kw>(?<!\w)(?:mã\s+hồ\s+sơ|số\s+hồ\s+sơ|hồ\s+sơ\s+số|mã\s+hs|mã\s+biên\s+nhận"
    r"|số\s+biên\s+nhận)(?:\s*(?:là|số|:|#))?\s*)"
    r"(?=[\w./\-]*\d)[A-Za-z0-9][\w./\-]{2,39}(?<![.\-])",
    re.IGNORECASE,
)
_FAMILY = (
    "Nguyễn|Trần|Lê|Phạm|Hoàng|Huỳnh|Phan|Vũ|Võ|Đặng|Bùi|Đỗ|Hồ|Ngô|Dương|Lý|Đinh|Trương"
    "|Đoàn|Trịnh|Lương|Tô|Đào|Chu|Tạ"
)
_UPPER = "A-ZÀ-ÝĂĐĨŨƠƯẠ-Ỹ"
_LOWER = "a-zà-ýăđĩũơưạ-ỹ"
_SYLLABLE = rf"[{_UPPER}][{_LOWER}]*"
_NAME = re.compile(rf"(?<![\w])(?:{_FAMILY})(?:[ \t]+{_SYLLABLE}(?![{_LOWER}{_UPPER}\d])){{1,3}}")
_PLACE_BEFORE = re.compile(
    r"(?:đường|phố|ngõ|hẻm|quận|huyện|phường|xã|thị\s+xã|thị\s+trấn|tỉnh|thành\s+phố|tp\.?"
    r"|trường|bệnh\s+viện|cầu|chợ|công\s+viên|lăng|bác|chủ\s+tịch|q\.|p\.)\s+$",
    re.IGNORECASE,
)
_PLACES = frozenset(
    {
        "Hồ Chí Minh",
        "Phan Thiết",
        "Phan Rang",
        "Hoàng Mai",
        "Lê Chân",
        "Ngô Quyền",
        "Hồ Gươm",
        "Hoàng Sa",
        "Trần Hưng Đạo",
        "Lê Lợi",
        "Nguyễn Huệ",
        "Lý Thường Kiệt",
        "Hai Bà Trưng",
    }
)


def _mask_name(match: re.Match[str]) -> str:
    name = match.group(0)
    before = match.string[max(0, match.start() - 20) : match.start()]
    if name in _PLACES or _PLACE_BEFORE.search(before):
        return name
    return NAME_MASK


def _mask_dossier(match: re.Match[str]) -> str:
    return (match.group("kw") or "") + DOSSIER_MASK


def _replace(match: re.Match[str]) -> str:
    keyword = match.group("kw") or ""
    if match.group("email"):
        return keyword + EMAIL_MASK
    if match.group("phone"):
        return keyword + PHONE_MASK
    if match.group("id"):
        return keyword + ID_MASK
    return match.group(0)  # an amount or a date: kept as written


def normalise_text(text: str) -> str:
    """What a comment is stored as before masking; empty when nothing visible was typed."""
    # NFKC turns full-width digits and compatibility forms into plain ones (and composes
    # Vietnamese diacritics); invisible format characters (zero-width spaces, direction marks)
    # would otherwise split a number so that it escapes the patterns.
    composed = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in composed if unicodedata.category(ch) != "Cf")


def mask_personal_data(text: str) -> str:
    """``text`` with dossier codes, phone numbers, CCCD/CMND numbers, e-mail addresses and
    personal names replaced by placeholders. Plain text in, plain text out: escaping is the
    template's job."""
    text = _DOSSIER.sub(_mask_dossier, normalise_text(text))
    return _NAME.sub(_mask_name, _PERSONAL.sub(_replace, text))


# --- moderation -----------------------------------------------------------------------------


class CommentNotInRoundError(NotFoundError):
    code = "comment_not_found"


MODERATORS = (Role.ADMIN, Role.ANALYST)


@dataclass(frozen=True)
class CommentRow:
    answer_id: int
    unit_name: str
    area_name: str
    received_at: datetime
    text: str  # masked
    state: CommentState


def can_moderate(user: User) -> bool:
    return user.role in MODERATORS


def _comments(
    round_: Round, unit_ids: set[int] | None
) -> Select[int, str, str, datetime, str | None, str]:
    query = (
        select(
            Answer.id,
            RoundUnit.unit_name,
            ServiceArea.name,
            Response.received_at,
            Answer.text,
            CommentReview.state,
        )
        .join(Response, Answer.response_id == Response.id)
        .join(Item, Answer.item_id == Item.id)
        .join(
            RoundUnit,
            (RoundUnit.round_id == Response.round_id) & (RoundUnit.unit_id == Response.unit_id),
        )
        .join(ServiceArea, ServiceArea.id == Response.service_area_id)
        .outerjoin(CommentReview, CommentReview.answer_id == Answer.id)
        .where(counted(round_), Item.role == ItemRole.COMMENT.value, Answer.text.is_not(None))
    )
    if unit_ids is not None:
        query = query.where(Response.unit_id.in_(unit_ids))
    return query


def comments_page(
    round_: Round,
    viewer: User,
    unit_ids: set[int] | None,
    *,
    state: CommentState | None,
    page: int,
    per_page: int,
) -> Page[CommentRow]:
    """Comments of ``round_``'s counted responses, newest first, masked. Moderators see the
    ``state`` they ask for (None: all); anyone else only approved comments of ``unit_ids``."""
    if not can_moderate(viewer):
        state = CommentState.APPROVED
    query = _comments(round_, unit_ids)
    if state == CommentState.PENDING:
        query = query.where(CommentReview.state.is_(None))
    elif state is not None:
        query = query.where(CommentReview.state == state.value)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    last = max(1, -(-total // per_page))
    page = min(max(1, page), last)
    rows = db.session.execute(
        query.order_by(Response.received_at.desc(), Answer.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    items = [
        CommentRow(
            answer_id=answer_id,
            unit_name=unit_name,
            area_name=area_name,
            received_at=received_at,
            text=mask_personal_data(text or ""),
            state=CommentState(review or CommentState.PENDING),
        )
        for answer_id, unit_name, area_name, received_at, text, review in rows
    ]
    return Page(items, page, per_page, total)


def comment_counts(round_: Round) -> dict[CommentState, int]:
    """How many comments of the round are pending, approved and hidden."""
    sub = _comments(round_, None).subquery()
    rows = db.session.execute(select(sub.c.state, func.count()).group_by(sub.c.state))
    found = dict.fromkeys(CommentState, 0)
    for review, n in rows:
        found[CommentState(review or CommentState.PENDING)] += n
    return found


def review_comment(
    round_: Round, answer_id: int, state: CommentState, *, actor: User, now: datetime
) -> CommentReview | None:
    """Approve or hide one comment of ``round_`` (pending puts it back in the queue). Audited
    without the text: the trail must not become a second copy of what citizens wrote."""
    if not can_moderate(actor):
        raise DomainError(_l("Chỉ quản trị viên và chuyên viên phân tích được kiểm duyệt."))
    found = db.session.execute(_comments(round_, None).where(Answer.id == answer_id)).first()
    if found is None:
        raise CommentNotInRoundError(_l("Không có ý kiến này trong đợt khảo sát."))
    review = db.session.get(CommentReview, answer_id)
    before = review.state if review is not None else CommentState.PENDING.value
    if before == state.value:
        return review
    if state == CommentState.PENDING:
        if review is not None:
            db.session.delete(review)
        review = None
    elif review is None:
        review = CommentReview(
            answer_id=answer_id, state=state.value, reviewed_at=now, reviewed_by_id=actor.id
        )
        db.session.add(review)
    else:
        review.state = state.value
        review.reviewed_at = now
        review.reviewed_by_id = actor.id
    db.session.flush()
    record_event(
        action=f"comment.{state.value}",
        entity_type="comment",
        entity_id=answer_id,
        now=now,
        actor=actor,
        before={"state": before, "round_id": round_.id},
        after={"state": state.value, "round_id": round_.id},
    )
    return review


def review_comments(
    round_: Round, answer_ids: list[int], state: CommentState, *, actor: User, now: datetime
) -> int:
    """Approve or hide several comments of ``round_`` at once: all of them, or none when one is
    not a comment of the round (the caller rolls back). Returns how many changed state."""
    if not answer_ids:
        raise DomainError(_l("Chưa chọn ý kiến nào."))
    changed = 0
    for answer_id in dict.fromkeys(answer_ids):
        before = db.session.get(CommentReview, answer_id)
        old = before.state if before is not None else CommentState.PENDING.value
        review_comment(round_, answer_id, state, actor=actor, now=now)
        changed += old != state.value
    return changed


class NothingToRedactError(DomainError):
    code = "nothing_to_redact"


def redact_comment(
    round_: Round, answer_id: int, phrase: str, *, actor: User, now: datetime
) -> int:
    """Hide every occurrence of ``phrase`` in one comment (a name or an address the masking
    missed), for good: the stored text changes. Audited with the lengths and the number of
    places hidden, never the text itself. Returns that number."""
    if not can_moderate(actor):
        raise DomainError(_l("Chỉ quản trị viên và chuyên viên phân tích được kiểm duyệt."))
    found = db.session.execute(_comments(round_, None).where(Answer.id == answer_id)).first()
    answer = db.session.get(Answer, answer_id) if found is not None else None
    if answer is None:
        raise CommentNotInRoundError(_l("Không có ý kiến này trong đợt khảo sát."))
    wanted = normalise_text(phrase).strip()
    current = mask_personal_data(answer.text or "")
    if not wanted or wanted == REDACTED_MASK:
        raise NothingToRedactError(_l("Hãy nhập đoạn cần ẩn, đúng như trong ý kiến."))
    pattern = re.compile(re.escape(wanted), re.IGNORECASE)
    redacted, count = pattern.subn(REDACTED_MASK, current)
    if count == 0:
        raise NothingToRedactError(_l("Không tìm thấy đoạn này trong ý kiến."))
    answer.text = redacted
    db.session.flush()
    record_event(
        action="comment.redacted",
        entity_type="comment",
        entity_id=answer_id,
        now=now,
        actor=actor,
        before={"length": len(current), "round_id": round_.id},
        after={"length": len(redacted), "places": count, "round_id": round_.id},
    )
    return count
