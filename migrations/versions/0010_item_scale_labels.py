"""Per-question scale labels, the 2/1/0 indicator scale, and a version's target and scores.

Issue 22, point 1: the shipped instruments word their scale points per question (the 2023
SIPAS 4-level scales, the nine 2/1/0 indicators of the one-stop form), so ``items.scale_labels``
holds an item's own labels (NULL: the scale's). ``points210`` is the scale of those indicators.
``template_versions.default_target`` is the target a round launched from the version starts
with, and ``template_versions.scores`` the per-response sums the version defines (the official
dossier score), both data of the template.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD_SCALES = "scale IN ('sat5', 'level4', 'onestop3', 'yesno', 'choice', 'text')"
NEW_SCALES = "scale IN ('sat5', 'level4', 'onestop3', 'yesno', 'points210', 'choice', 'text')"
TARGET = "default_target IS NULL OR (default_target >= 0 AND default_target <= 100)"


def upgrade():
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scale_labels", sa.JSON(), nullable=True))
        batch_op.drop_constraint(op.f("ck_items_scale"), type_="check")
        batch_op.create_check_constraint("scale", NEW_SCALES)
    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_target", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("scores", sa.JSON(), nullable=True))
        batch_op.create_check_constraint("default_target", TARGET)


def downgrade():
    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_template_versions_default_target"), type_="check")
        batch_op.drop_column("scores")
        batch_op.drop_column("default_target")
    # Items on the 2/1/0 scale have no place in the old schema: the downgrade refuses rather
    # than silently changing what they measured.
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_items_scale"), type_="check")
        batch_op.create_check_constraint("scale", OLD_SCALES)
        batch_op.drop_column("scale_labels")
