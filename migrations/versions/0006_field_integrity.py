"""Field integrity: a served form counts once, and a round's list of dossier codes.

``form_uses`` records the one-time nonce signed into each served questionnaire when it is sent,
so that one form posted again with fresh idempotency keys is stored excluded, across app servers.
``responses.answers_digest`` identifies a response's answer vector, so that the monitoring page
finds the same answers repeated at one desk by grouping, without reading every answer row.
``listed_dossier_codes`` holds the dossier codes a round's units (or desks) handled, as keyed
HMAC hashes only, so that a desk asking for the receipt's code refuses invented ones.

Revision ID: 0006
Revises: 0004 (no 0005 was ever released)
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answers_digest", sa.String(length=16), nullable=True))
    op.create_table(
        "form_uses",
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_form_uses_round_id_rounds")
        ),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_form_uses")),
    )
    with op.batch_alter_table("form_uses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_form_uses_round_id"), ["round_id"], unique=False)
    op.create_table(
        "listed_dossier_codes",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("desk_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["desk_id"], ["desks.id"], name=op.f("fk_listed_dossier_codes_desk_id_desks")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_listed_dossier_codes_round_id_rounds")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_listed_dossier_codes_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("round_id", "code_hash", name=op.f("pk_listed_dossier_codes")),
    )
    with op.batch_alter_table("listed_dossier_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_listed_dossier_codes_round_unit", ["round_id", "unit_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("listed_dossier_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_listed_dossier_codes_round_unit")
    op.drop_table("listed_dossier_codes")
    with op.batch_alter_table("form_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_form_uses_round_id"))
    op.drop_table("form_uses")
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_column("answers_digest")
