"""A demo province with an open round, and simulated responses for trying the product out.

The simulated answers follow an ordered-probit-like model: each unit, service area and respondent
has a latent satisfaction shift, so indices differ realistically between units and areas.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import insert, select

from survey.errors import ConflictError
from survey.extensions import db
from survey.models import (
    Desk,
    DossierCount,
    Invitation,
    Item,
    ItemRole,
    Response,
    Role,
    Round,
    RoundState,
    Scale,
    ServiceArea,
    Unit,
    UnitLevel,
    User,
)
from survey.services.accounts.users import create_user, hash_password
from survey.services.questionnaires.templates import latest_version, load_starter_templates
from survey.services.rounds.lifecycle import create_round, transition_round

DEMO_ROUND_NAME = "Khảo sát sự hài lòng năm 2026 (demo)"

LEVELS = (
    ("centre", "Trung tâm Phục vụ hành chính công", "Public administration service centre"),
    ("department", "Sở, ban, ngành", "Provincial department"),
    ("district", "UBND cấp huyện", "District People's Committee"),
    ("commune", "UBND cấp xã", "Commune People's Committee"),
    ("public_service", "Đơn vị sự nghiệp công lập", "Public service unit"),
)

AREAS = (
    ("HT", "Hộ tịch", "Civil status"),
    ("DD", "Đất đai", "Land"),
    ("XD", "Xây dựng", "Construction"),
    ("DKKD", "Đăng ký kinh doanh", "Business registration"),
    ("CT", "Chứng thực", "Certification"),
    ("YT", "Y tế", "Health"),
    ("MT", "Môi trường", "Environment"),
)

# code, name, level, parent code, areas, desks
UNITS = (
    ("TTPV", "Trung tâm Phục vụ hành chính công tỉnh", "centre", None, "DD XD DKKD MT", 4),
    ("STP", "Sở Tư pháp", "department", None, "HT CT", 1),
    ("SXD", "Sở Xây dựng", "department", None, "XD", 1),
    ("SNNMT", "Sở Nông nghiệp và Môi trường", "department", None, "DD MT", 1),
    ("STC", "Sở Tài chính", "department", None, "DKKD", 1),
    ("SYT", "Sở Y tế", "department", None, "YT", 1),
    ("BVDK", "Bệnh viện Đa khoa tỉnh", "public_service", "SYT", "YT", 1),
    ("PBM", "UBND phường Bình Minh", "commune", None, "HT CT DD XD", 2),
    ("XPL", "UBND xã Phú Lộc", "commune", None, "HT CT DD", 2),
    ("HPD", "UBND huyện Phong Điền", "district", None, "HT DD XD", 1),
    ("XTT", "UBND xã Tân Thành", "commune", "HPD", "HT CT DD", 1),
)


# One account of each role, so the console can be tried at once. The unit officer belongs to the
# district, which has a commune under it: the officer sees both and nothing else.
DEMO_ACCOUNTS = (
    ("admin", Role.ADMIN, None),
    ("analyst", Role.ANALYST, None),
    ("officer", Role.UNIT_OFFICER, "HPD"),
)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: Role
    unit_name: str | None


def demo_accounts(password: str, *, now: datetime) -> list[DemoAccount]:
    """Create the demo staff accounts, or give the existing ones ``password``: the demo prints
    it at every start, so whoever runs the demo can always sign in."""
    accounts = []
    for username, role, unit_code in DEMO_ACCOUNTS:
        unit = db.session.scalar(select(Unit).where(Unit.code == unit_code)) if unit_code else None
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            create_user(username=username, password=password, role=role, unit=unit, now=now)
        else:
            user.password_hash = hash_password(password)
        accounts.append(DemoAccount(username, role, unit.name if unit else None))
    return accounts


@dataclass(frozen=True)
class DemoDesk:
    unit_name: str
    desk_name: str
    token: str


def build_demo_province(*, now: datetime, seed: int = 2026) -> Round:
    """Create the demo organisation, its dossier counts, and an open SIPAS round."""
    if db.session.scalar(select(Round.id).where(Round.name == DEMO_ROUND_NAME)) is not None:
        raise ConflictError("The demo province already exists.")
    rng = np.random.default_rng(seed)
    # SIPAS (the demo round's) and the five-item one-stop form, as before issue 22; `flask
    # load-templates` adds the other shipped ones. Kept to these, the demo data also fits the
    # schema of older revisions (tests/test_migrations_data.py), which know no 2/1/0 scale.
    load_starter_templates(now=now, names=("sipas.json", "one_stop.json"))
    for position, (code, name, name_en) in enumerate(LEVELS):
        if db.session.get(UnitLevel, code) is None:
            db.session.add(UnitLevel(code=code, name=name, name_en=name_en, position=position))
    areas = {}
    for code, name, name_en in AREAS:
        area = ServiceArea(code=code, name=name, name_en=name_en)
        db.session.add(area)
        areas[code] = area
    units: dict[str, Unit] = {}
    for code, name, level, parent, area_codes, desks in UNITS:
        unit = Unit(code=code, name=name, level_code=level, parent=units.get(parent or ""))
        unit.service_areas = [areas[a] for a in area_codes.split()]
        db.session.add(unit)
        units[code] = unit
        for number in range(1, desks + 1):
            desk = Desk(unit=unit, code=f"{code}-Q{number}", name=f"Quầy số {number}")
            if code == "TTPV":
                # Centre desks each serve one department's area.
                desk.service_areas = [unit.service_areas[number - 1]]
            db.session.add(desk)
    db.session.flush()
    version = latest_version("sipas")
    if version is None:
        raise ConflictError("The SIPAS starter template could not be loaded.")
    round_ = create_round(
        name=DEMO_ROUND_NAME,
        version=version,
        opens_at=now - timedelta(days=14),
        closes_at=now + timedelta(days=60),
        units=[(unit, 200) for unit in units.values()],
        now=now,
    )
    for unit in units.values():
        for area in unit.service_areas:
            db.session.add(
                DossierCount(
                    round_id=round_.id,
                    unit_id=unit.id,
                    service_area_id=area.id,
                    dossiers=int(rng.integers(80, 3000)),
                )
            )
    transition_round(round_, RoundState.OPEN, now=now)
    return round_


def demo_desks(round_: Round) -> list[DemoDesk]:
    unit_ids = [scoped.unit_id for scoped in round_.scope]
    desks = db.session.scalars(
        select(Desk)
        .join(Unit)
        .where(Desk.unit_id.in_(unit_ids), Desk.is_active)
        .order_by(Unit.code, Desk.code)
    )
    return [DemoDesk(d.unit.name, d.name, d.token) for d in desks]


def find_demo_round() -> Round | None:
    return db.session.scalar(select(Round).where(Round.name == DEMO_ROUND_NAME))


def simulate_responses(round_: Round, count: int, *, now: datetime, seed: int = 7) -> int:
    """Add ``count`` plausible QR responses to an open round, spread over its elapsed period."""
    rng = np.random.default_rng(seed)
    unit_ids = [scoped.unit_id for scoped in round_.scope]
    desks = list(db.session.scalars(select(Desk).where(Desk.unit_id.in_(unit_ids), Desk.is_active)))
    if not desks or count <= 0:
        return 0
    desk_areas = [[a.id for a in (d.service_areas or d.unit.service_areas)] for d in desks]
    unit_shift = {uid: rng.normal(0, 0.35) for uid in unit_ids}
    area_ids = sorted({a for areas in desk_areas for a in areas})
    area_shift = {aid: rng.normal(0, 0.25) for aid in area_ids}
    desk_index = rng.choice(len(desks), size=count, p=_desk_popularity(rng, len(desks)))
    start = max(round_.opens_at, now - timedelta(days=60))
    span = max((min(now, round_.closes_at) - start).total_seconds(), 1.0)
    offsets = np.sort(rng.uniform(0, span, size=count))
    latent = rng.normal(0, 0.6, size=count)
    rows = []
    for i in range(count):
        desk = desks[int(desk_index[i])]
        areas = desk_areas[int(desk_index[i])]
        area_id = areas[int(rng.integers(len(areas)))]
        latent[i] += unit_shift[desk.unit_id] + area_shift[area_id]
        rows.append(
            {
                "round_id": round_.id,
                "desk_id": desk.id,
                "unit_id": desk.unit_id,
                "service_area_id": area_id,
                "received_at": start + timedelta(seconds=float(offsets[i])),
                "channel": "qr",
                "idempotency_key": "sim-" + secrets.token_urlsafe(18),
                "status": "counted",
                "locale": "vi",
            }
        )
    ids: list[int] = []
    for chunk in range(0, count, 5000):
        result = db.session.execute(
            insert(Response).returning(Response.id, sort_by_parameter_order=True),
            rows[chunk : chunk + 5000],
        )
        ids.extend(result.scalars().all())
    _insert_answers(_simulated_answers(rng, round_.template_version.items, np.asarray(ids), latent))
    db.session.flush()
    return count


def _desk_popularity(rng: np.random.Generator, n: int) -> np.ndarray:
    weights = rng.gamma(2.0, 1.0, size=n)
    return np.asarray(weights / weights.sum())


def _simulated_answers(
    rng: np.random.Generator, items: list[Item], ids: np.ndarray, latent: np.ndarray
) -> list[tuple[int, int, int | None, bool]]:
    """Answer rows (response id, item id, value or None, not applicable), item by item."""
    n = len(ids)
    columns: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []
    given: dict[int, np.ndarray] = {}
    for item in items:
        shown = np.ones(n, dtype=bool)
        if item.condition_item_id is not None:
            previous = given.get(item.condition_item_id, np.zeros(n))
            shown = np.isin(previous, item.condition_values or [])
        scale = Scale(item.scale)
        if scale in (Scale.SAT5, Scale.LEVEL4, Scale.ONESTOP3):
            top = {Scale.SAT5: 5, Scale.LEVEL4: 4, Scale.ONESTOP3: 3}[scale]
            raw = (top - 0.9) + latent + rng.normal(0, 0.7, n) + rng.normal(0, 0.15)
            values = np.clip(np.rint(raw), 1, top).astype(np.int64)
            blank = rng.random(n) < (0.0 if item.required else 0.02)
            na = (rng.random(n) < 0.03) if item.allow_na else np.zeros(n, dtype=bool)
            mask = shown & ~blank
            columns.append((ids[mask], item.id, values[mask], na[mask]))
            given[item.id] = np.where(mask & ~na, values, 0)
        elif scale == Scale.YESNO:
            values = np.where(rng.random(n) < 0.3, 1, 0)
            columns.append((ids[shown], item.id, values[shown], np.zeros(int(shown.sum()), bool)))
            given[item.id] = np.where(shown, values, -1)
        elif scale == Scale.CHOICE and item.role == ItemRole.PRIORITIES:
            options = np.array([o.value for o in item.options])
            # Each respondent picks 0..max options: a random permutation's first k entries.
            picks = np.argsort(rng.random((n, len(options))), axis=1)
            chosen = rng.integers(0, (item.max_choices or 1) + 1, size=n)
            for rank in range(item.max_choices or 1):
                take = chosen > rank
                columns.append(
                    (
                        ids[take],
                        item.id,
                        options[picks[take, rank]],
                        np.zeros(int(take.sum()), bool),
                    )
                )
    rows: list[tuple[int, int, int | None, bool]] = []
    for response_ids, item_id, values, na in columns:
        rows.extend(
            (int(r), item_id, None if a else int(v), bool(a))
            for r, v, a in zip(response_ids.tolist(), values.tolist(), na.tolist(), strict=True)
        )
    return rows


def _insert_answers(rows: list[tuple[int, int, int | None, bool]]) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany elsewhere."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        dbapi: Any = connection.connection.dbapi_connection
        with (
            dbapi.cursor() as cursor,
            cursor.copy(
                "COPY answers (response_id, item_id, value, not_applicable) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    connection.exec_driver_sql(
        "INSERT INTO answers (response_id, item_id, value, not_applicable) VALUES (?, ?, ?, ?)",
        rows,
    )


def keep_frame_plausible(round_: Round, *, seed: int = 11) -> int:
    """Raise the demo's dossier counts where simulated responses outgrew them, so that every
    cell's responses stay 5 to 20% of its dossiers as in the field. Returns cells changed."""
    from survey.services.responses.counting import cell_counts

    rng = np.random.default_rng(seed)
    changed = 0
    counts = db.session.scalars(select(DossierCount).where(DossierCount.round_id == round_.id))
    responses = cell_counts(round_)
    for count in counts:
        n = responses.get((count.unit_id, count.service_area_id), 0)
        if count.dossiers < 5 * n:
            count.dossiers = int(n * rng.uniform(5, 20))
            changed += 1
    db.session.flush()
    return changed


DEMO_SAMPLE_ROUND_NAME = "Khảo sát chọn mẫu năm 2026 (demo)"


@dataclass(frozen=True)
class DemoLetter:
    reference: str
    unit_name: str
    code: str


def find_demo_sample_round() -> Round | None:
    return db.session.scalar(select(Round).where(Round.name == DEMO_SAMPLE_ROUND_NAME))


def build_demo_sample_round(
    qr_round: Round, *, key: bytes, now: datetime, actor: User, seed: int = 2027
) -> Round:
    """A sampled round over the demo province, open beside the QR round: a frame of completed
    dossiers (a tenth of each cell's dossier count, at most 2,000), a proportional draw of 300,
    and what came of most letters (answers on the phone, on paper and by phone; refusals;
    letters returned), leaving some letters to answer by hand."""
    from survey.services.questionnaires.frozen import questionnaire_spec
    from survey.services.responses.recording import AnswerValue
    from survey.services.rounds.sample_answers import record_invitation_answer
    from survey.services.rounds.sampling import (
        draw_sample,
        import_frame,
        make_sample_round,
        record_invitation_outcome,
    )

    rng = np.random.default_rng(seed)
    round_ = create_round(
        name=DEMO_SAMPLE_ROUND_NAME,
        version=qr_round.template_version,
        opens_at=qr_round.opens_at,
        closes_at=qr_round.closes_at,
        units=[(scoped.unit, 0) for scoped in qr_round.scope],
        now=now,
    )
    make_sample_round(round_, now=now, actor=actor)
    lines = ["ma_don_vi,ma_linh_vuc,ma_ho_so,ngay_hoan_thanh\n"]
    for count in db.session.scalars(
        select(DossierCount).where(DossierCount.round_id == qr_round.id)
    ):
        unit, area = (
            db.session.get(Unit, count.unit_id),
            db.session.get(ServiceArea, count.service_area_id),
        )
        assert unit is not None and area is not None  # noqa: S101  (rows of the same database)
        for i in range(min(max(1, count.dossiers // 10), 2_000)):
            day = (qr_round.opens_at - timedelta(days=int(rng.integers(1, 90)))).date()
            lines.append(f"{unit.code},{area.code},DEMO.{unit.code}.{area.code}-{i:05d},{day}\n")
    outcome = import_frame(round_, "".join(lines).encode(), key=key, now=now, actor=actor)
    if not outcome.ok:
        raise ConflictError("The demo sampling frame could not be imported.")
    draw_sample(round_, method="proportional", total=300, seed=seed, key=key, now=now, actor=actor)
    transition_round(round_, RoundState.OPEN, now=now)
    db.session.commit()
    spec = questionnaire_spec(round_.template_version)
    opening: dict[int, set[int]] = {}
    for item in spec.items:
        if item.condition_item_id is not None:
            opening.setdefault(item.condition_item_id, set()).update(item.condition_values)
    invitations = list(
        db.session.scalars(
            select(Invitation).where(Invitation.round_id == round_.id).order_by(Invitation.id)
        )
    )
    for invitation in invitations:
        fate = rng.random()
        if fate < 0.12:
            record_invitation_outcome(invitation, "refused", now=now, actor=actor)
        elif fate < 0.18:
            record_invitation_outcome(invitation, "undeliverable", now=now, actor=actor)
        elif fate < 0.78:
            mood = rng.normal(0.3, 0.6)
            chosen: dict[int, int] = {}
            answers = []
            for item in spec.items:
                if item.scale in ("text", "choice"):
                    continue
                if (
                    item.condition_item_id is not None
                    and chosen.get(item.condition_item_id) not in item.condition_values
                ):
                    continue
                values = [v for v, _vi, _en in item.points()]
                if item.id in opening:
                    value = int(rng.choice(sorted(opening[item.id]) + values))
                else:
                    at = int(
                        np.clip(
                            round(len(values) * 0.7 + mood + rng.normal(0, 0.8)), 1, len(values)
                        )
                    )
                    value = values[at - 1]
                chosen[item.id] = value
                answers.append(AnswerValue(item.id, value=value))
            mode = str(rng.choice(["self_web", "self_web", "paper", "phone"]))
            record_invitation_answer(
                round_,
                invitation,
                answers,
                mode=mode,
                idempotency_key=f"demo-sample-{invitation.id}",
                now=now - timedelta(days=float(rng.uniform(0, 13))),
            )
        db.session.commit()
    return round_


def demo_letters(round_: Round, key: bytes, count: int = 3) -> list[DemoLetter]:
    """A few letters of the sampled demo round that are still waiting for an answer."""
    from survey.services.rounds.sampling import one_time_code

    waiting = db.session.scalars(
        select(Invitation)
        .where(Invitation.round_id == round_.id, Invitation.state == "issued")
        .order_by(Invitation.id)
        .limit(count)
    )
    return [
        DemoLetter(
            invitation.reference,
            invitation.frame_row.unit.name,
            one_time_code(round_.id, invitation.frame_row.code_hash, key),
        )
        for invitation in waiting
    ]
