"""Maintained sufficient statistics and frozen published snapshots.

Issue 21, points 1 and 2: a result page read every answer of the round on its first view and
after every new submission. ``round_statistics`` keeps a round's sufficient statistics per desk
within cell, folded forward as responses arrive; ``rounds.stats_generation`` is raised by
exclusions and restores so that the cells are checked again; ``ix_responses_round_id`` finds a
round's newest response in one probe. ``round_snapshots`` freezes what a round published.

Triggers raise ``stats_generation`` whenever a stored response is changed or deleted, by the
product (an exclusion, a restore) or by hand in the database, and ``answers_generation`` when
an answer is: only new responses are folded in without a check.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stats_generation", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("answers_generation", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.create_index("ix_responses_round_id", ["round_id", "id"], unique=False)
    op.create_table(
        "round_statistics",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("template_version_id", sa.Integer(), nullable=False),
        sa.Column("labels_key", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("answers_generation", sa.Integer(), nullable=False),
        sa.Column("through_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_round_statistics_round_id_rounds")
        ),
        sa.ForeignKeyConstraint(
            ["template_version_id"],
            ["template_versions.id"],
            name=op.f("fk_round_statistics_template_version_id_template_versions"),
        ),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_round_statistics")),
    )
    op.create_table(
        "round_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("responses", sa.Integer(), nullable=False),
        sa.Column("responses_hash", sa.String(length=64), nullable=False),
        sa.Column("numbers_hash", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("numbers", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_round_snapshots_round_id_rounds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_snapshots")),
    )
    with op.batch_alter_table("round_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_round_snapshots_round_id"), ["round_id"], unique=False)
    _create_triggers()


BUMP = "UPDATE rounds SET {column} = {column} + 1 WHERE id IN ({rounds})"
COLUMN = {"responses": "stats_generation", "answers": "answers_generation"}


def _create_triggers():
    if op.get_context().dialect.name == "postgresql":
        for table, rounds in (
            ("responses", "SELECT round_id FROM changed"),
            (
                "answers",
                "SELECT r.round_id FROM responses r JOIN changed c ON c.response_id = r.id",
            ),
        ):
            op.execute(
                f"CREATE FUNCTION {table}_changed() RETURNS trigger AS $$ "
                f"BEGIN {BUMP.format(column=COLUMN[table], rounds=rounds)}; RETURN NULL; END; "
                "$$ LANGUAGE plpgsql"
            )
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_{event.lower()}_statistics AFTER {event} ON {table} "
                    f"REFERENCING OLD TABLE AS changed FOR EACH STATEMENT "
                    f"EXECUTE FUNCTION {table}_changed()"
                )
        return
    for table, rounds in (
        ("responses", "OLD.round_id"),
        ("answers", "SELECT round_id FROM responses WHERE id = OLD.response_id"),
    ):
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_{event.lower()}_statistics AFTER {event} ON {table} "
                f"BEGIN {BUMP.format(column=COLUMN[table], rounds=rounds)}; END"
            )


def _drop_triggers():
    postgresql = op.get_context().dialect.name == "postgresql"
    for table in ("responses", "answers"):
        for event in ("update", "delete"):
            on = f" ON {table}" if postgresql else ""
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{event}_statistics{on}")
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS {table}_changed()")


def downgrade():
    _drop_triggers()
    with op.batch_alter_table("round_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_round_snapshots_round_id"))
    op.drop_table("round_snapshots")
    op.drop_table("round_statistics")
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_index("ix_responses_round_id")
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_column("answers_generation")
        batch_op.drop_column("stats_generation")
