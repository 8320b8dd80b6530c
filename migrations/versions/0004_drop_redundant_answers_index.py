"""Drop the index on answers.response_id: the unique constraint on (response_id, item_id, value)
begins with the same column and serves every lookup by response (results, exports, the cascade
from responses), so the extra index only cost about 25 index insertions per submission and disk.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index(op.f("ix_answers_response_id"), table_name="answers")


def downgrade():
    op.create_index(op.f("ix_answers_response_id"), "answers", ["response_id"], unique=False)
