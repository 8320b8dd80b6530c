"""A round's target, its targets per unit level, and its publishing rule.

Issue 18, points 2 and 5: the target was a query parameter of the result pages and the
publishing rule a constant. ``rounds.target`` (NULL: the province's default) and
``round_level_targets`` hold the targets every verdict uses; ``rounds.rule_*`` the thresholds of
``analysis.publishing.PublishingRule``, NCHS defaults for existing rounds.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

RULE = (
    ("rule_min_n_eff", "30"),
    ("rule_max_ci_width", "30"),
    ("rule_relative_width_above", "5"),
    ("rule_max_relative_width", "1.3"),
    ("rule_df_review", "8"),
)


def upgrade():
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.Double(), nullable=True))
        for name, default in RULE:
            batch_op.add_column(
                sa.Column(name, sa.Double(), server_default=default, nullable=False)
            )
        batch_op.create_check_constraint(
            "target", "target IS NULL OR (target >= 0 AND target <= 100)"
        )
        batch_op.create_check_constraint(
            "publishing_rule",
            "rule_min_n_eff > 0 AND rule_max_ci_width > 0 AND rule_max_relative_width > 0 "
            "AND rule_df_review > 0 AND rule_relative_width_above >= 0 "
            "AND rule_relative_width_above < rule_max_ci_width",
        )
    op.create_table(
        "round_level_targets",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("level_code", sa.String(length=32), nullable=False),
        sa.Column("target", sa.Double(), nullable=False),
        sa.CheckConstraint(
            "target >= 0 AND target <= 100", name=op.f("ck_round_level_targets_target")
        ),
        sa.ForeignKeyConstraint(
            ["level_code"],
            ["unit_levels.code"],
            name=op.f("fk_round_level_targets_level_code_unit_levels"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_round_level_targets_round_id_rounds")
        ),
        sa.PrimaryKeyConstraint("round_id", "level_code", name=op.f("pk_round_level_targets")),
    )


def downgrade():
    op.drop_table("round_level_targets")
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_rounds_publishing_rule"), type_="check")
        batch_op.drop_constraint(op.f("ck_rounds_target"), type_="check")
        for name, _default in reversed(RULE):
            batch_op.drop_column(name)
        batch_op.drop_column("target")
