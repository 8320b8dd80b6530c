"""Answers of sampled rounds: no desk, the mode recorded, double entry, the trimming rule.

Issue 22, points 4 and 5: a sampled round's answers come from invitations (the citizen on the
web, or paper forms and interviews entered by staff), so ``responses.desk_id`` may be empty and
``responses.mode`` says how each answer came. ``invitation_entries`` holds a clerk's entry until
the double entry agrees or is resolved. ``sample_draws`` states, with the draw, whether entries
are made twice and the weight-trimming ratio.

Downgrading deletes the responses that have no desk (with their answers): the older schema cannot
hold them.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MODES = "mode IS NULL OR mode IN ('self_web', 'paper', 'phone', 'face_to_face')"
ENTRY_MODES = "mode IN ('self_web', 'paper', 'phone', 'face_to_face')"

# SQLite rebuilds ``responses`` to let desk_id be empty; the triggers 0009 made on it (and the
# one on ``answers`` that reads it) are dropped first and made again, as 0011 does for rounds.
SQLITE_TRIGGERS = {
    "responses": ("stats_generation", "OLD.round_id"),
    "answers": (
        "answers_generation",
        "SELECT round_id FROM responses WHERE id = OLD.response_id",
    ),
}


def _alter_responses(change):
    sqlite = op.get_context().dialect.name == "sqlite"
    if sqlite:
        for table in SQLITE_TRIGGERS:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{event}_statistics")
    with op.batch_alter_table("responses", schema=None) as batch_op:
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
    def loosen(batch_op):
        batch_op.alter_column("desk_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("mode", sa.String(length=16), nullable=True))
        batch_op.create_check_constraint("mode", MODES)

    _alter_responses(loosen)
    with op.batch_alter_table("sample_draws", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("double_entry", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("trim_ratio", sa.Float(), nullable=True))
        batch_op.create_check_constraint("trim_ratio", "trim_ratio IS NULL OR trim_ratio >= 1")
    op.create_table(
        "invitation_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=False),
        sa.Column("clerk_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("entered_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(ENTRY_MODES, name=op.f("ck_invitation_entries_mode")),
        sa.ForeignKeyConstraint(
            ["clerk_id"], ["users.id"], name=op.f("fk_invitation_entries_clerk_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_invitation_entries_invitation_id_invitations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation_entries")),
        sa.UniqueConstraint(
            "invitation_id", "clerk_id", name=op.f("uq_invitation_entries_invitation_id_clerk_id")
        ),
    )
    op.create_index(
        op.f("ix_invitation_entries_invitation_id"),
        "invitation_entries",
        ["invitation_id"],
        unique=False,
    )


def downgrade():
    op.drop_index(op.f("ix_invitation_entries_invitation_id"), table_name="invitation_entries")
    op.drop_table("invitation_entries")
    with op.batch_alter_table("sample_draws", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_sample_draws_trim_ratio"), type_="check")
        batch_op.drop_column("trim_ratio")
        batch_op.drop_column("double_entry")
    op.execute(
        "DELETE FROM answers WHERE response_id IN (SELECT id FROM responses WHERE desk_id IS NULL)"
    )
    op.execute("DELETE FROM responses WHERE desk_id IS NULL")

    def tighten(batch_op):
        batch_op.drop_constraint(op.f("ck_responses_mode"), type_="check")
        batch_op.drop_column("mode")
        batch_op.alter_column("desk_id", existing_type=sa.Integer(), nullable=False)

    _alter_responses(tighten)
