"""Sampled rounds: a round's kind, the frame, the recorded draw, and the invitations.

Issue 22, point 3: a round of kind 'sample' draws dossiers at random from a frame of completed
dossiers (codes kept only as keyed hashes), stratified by unit x service area, with the seed and
allocation recorded so the draw can be reproduced; each sampled dossier gets an invitation with
a one-time code (stored only as a hash) and a non-secret reference number.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ALLOCATIONS = "allocation IN ('proportional', 'equal', 'minimum')"
STATES = "state IN ('issued', 'answered', 'refused', 'undeliverable')"
MODES = "mode IS NULL OR mode IN ('self_web', 'paper', 'phone', 'face_to_face')"

# SQLite rebuilds ``rounds`` for the new check constraint, and its triggers from 0009 that update
# ``rounds`` would point at the dropped table: they are dropped first and made again (as 0009
# made them). PostgreSQL alters the table in place and keeps its triggers.
SQLITE_TRIGGERS = {
    "responses": ("stats_generation", "OLD.round_id"),
    "answers": (
        "answers_generation",
        "SELECT round_id FROM responses WHERE id = OLD.response_id",
    ),
}


def _alter_rounds(change):
    sqlite = op.get_context().dialect.name == "sqlite"
    if sqlite:
        for table in SQLITE_TRIGGERS:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{event}_statistics")
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        change(batch_op)
    if sqlite:
        for table, (column, rounds) in SQLITE_TRIGGERS.items():
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_{event.lower()}_statistics AFTER {event} ON {table} "
                    f"BEGIN UPDATE rounds SET {column} = {column} + 1 "
                    f"WHERE id IN ({rounds}); END"
                )


def upgrade():
    def add_kind(batch_op):
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="qr", nullable=False)
        )
        batch_op.create_check_constraint("kind", "kind IN ('qr', 'sample')")

    _alter_rounds(add_kind)
    op.create_table(
        "sample_frame_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("service_area_id", sa.Integer(), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_sample_frame_rows_round_id_rounds")
        ),
        sa.ForeignKeyConstraint(
            ["service_area_id"],
            ["service_areas.id"],
            name=op.f("fk_sample_frame_rows_service_area_id_service_areas"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_sample_frame_rows_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample_frame_rows")),
        sa.UniqueConstraint(
            "round_id", "code_hash", name=op.f("uq_sample_frame_rows_round_id_code_hash")
        ),
    )
    op.create_index(
        op.f("ix_sample_frame_rows_round_id"), "sample_frame_rows", ["round_id"], unique=False
    )
    op.create_table(
        "sample_draws",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("allocation", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("minimum", sa.Integer(), nullable=False),
        sa.Column("drawn_at", sa.DateTime(), nullable=False),
        sa.Column("drawn_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(ALLOCATIONS, name=op.f("ck_sample_draws_allocation")),
        sa.CheckConstraint("total >= 1", name=op.f("ck_sample_draws_total")),
        sa.CheckConstraint("minimum >= 0", name=op.f("ck_sample_draws_minimum")),
        sa.CheckConstraint("seed >= 0", name=op.f("ck_sample_draws_seed")),
        sa.ForeignKeyConstraint(
            ["drawn_by_id"], ["users.id"], name=op.f("fk_sample_draws_drawn_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_sample_draws_round_id_rounds")
        ),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_sample_draws")),
    )
    op.create_table(
        "sample_strata",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("service_area_id", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("sample_size", sa.Integer(), nullable=False),
        sa.CheckConstraint("population >= 1", name=op.f("ck_sample_strata_population")),
        sa.CheckConstraint(
            "sample_size >= 0 AND sample_size <= population",
            name=op.f("ck_sample_strata_sample_size"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["sample_draws.round_id"],
            name=op.f("fk_sample_strata_round_id_sample_draws"),
        ),
        sa.ForeignKeyConstraint(
            ["service_area_id"],
            ["service_areas.id"],
            name=op.f("fk_sample_strata_service_area_id_service_areas"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_sample_strata_unit_id_units")
        ),
        sa.PrimaryKeyConstraint(
            "round_id", "unit_id", "service_area_id", name=op.f("pk_sample_strata")
        ),
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("frame_row_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(STATES, name=op.f("ck_invitations_state")),
        sa.CheckConstraint(MODES, name=op.f("ck_invitations_mode")),
        sa.CheckConstraint(
            "(state = 'answered') = (mode IS NOT NULL)", name=op.f("ck_invitations_answered_mode")
        ),
        sa.ForeignKeyConstraint(
            ["frame_row_id"],
            ["sample_frame_rows.id"],
            name=op.f("fk_invitations_frame_row_id_sample_frame_rows"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_invitations_round_id_rounds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_invitations_code_hash")),
        sa.UniqueConstraint("frame_row_id", name=op.f("uq_invitations_frame_row_id")),
        sa.UniqueConstraint(
            "round_id", "reference", name=op.f("uq_invitations_round_id_reference")
        ),
    )
    op.create_index(op.f("ix_invitations_round_id"), "invitations", ["round_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_invitations_round_id"), table_name="invitations")
    op.drop_table("invitations")
    op.drop_table("sample_strata")
    op.drop_table("sample_draws")
    op.drop_index(op.f("ix_sample_frame_rows_round_id"), table_name="sample_frame_rows")
    op.drop_table("sample_frame_rows")

    def drop_kind(batch_op):
        batch_op.drop_constraint(op.f("ck_rounds_kind"), type_="check")
        batch_op.drop_column("kind")

    _alter_rounds(drop_kind)
