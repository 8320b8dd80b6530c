"""Anti-abuse settings per round, dossier codes per desk, used dossier codes.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROUND_SETTINGS = (
    ("min_answer_seconds", "10", "min_answer_seconds >= 0"),
    ("device_period_hours", "12", "device_period_hours >= 0"),
    ("desk_limit_per_hour", "240", "desk_limit_per_hour >= 1"),
    ("network_limit_per_hour", "240", "network_limit_per_hour >= 1"),
)


def upgrade():
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        for name, default, check in ROUND_SETTINGS:
            batch_op.add_column(
                sa.Column(name, sa.Integer(), server_default=default, nullable=False)
            )
            batch_op.create_check_constraint(name, check)
    with op.batch_alter_table("desks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "requires_dossier_code", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
    op.create_table(
        "dossier_code_uses",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_dossier_code_uses_round_id_rounds")
        ),
        sa.PrimaryKeyConstraint("round_id", "code_hash", name=op.f("pk_dossier_code_uses")),
    )


def downgrade():
    op.drop_table("dossier_code_uses")
    with op.batch_alter_table("desks", schema=None) as batch_op:
        batch_op.drop_column("requires_dossier_code")
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        for name, _default, _check in reversed(ROUND_SETTINGS):
            batch_op.drop_constraint(op.f(f"ck_rounds_{name}"), type_="check")
            batch_op.drop_column(name)
