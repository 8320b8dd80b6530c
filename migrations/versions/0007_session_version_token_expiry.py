"""Sessions end on sign-out everywhere; API tokens expire.

``users.session_version`` is part of every session cookie's user id and is raised when the user
signs out or a password changes, so that a copied cookie stops working (issue 19, finding 8).
``api_tokens.expires_at``: a token works until then. Tokens issued before this revision had no
expiry; they get 90 days from the upgrade, so that scripts using them keep working while their
owners are told, rather than stopping at once (finding 9).

Revision ID: 0007
Revises: 0006
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
    grace = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=90)
    op.get_bind().execute(
        sa.text("UPDATE api_tokens SET expires_at = :grace WHERE expires_at IS NULL"),
        {"grace": grace},
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=sa.DateTime(), nullable=False)


def downgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
