"""keyword analysis per knowledge base: which analysis its sparse vectors were made with

Knowledge bases created before this have NULL: the first releases' English analysis ("en1"), whose
collections keep their names. New ones get the current analysis; a worker re-indexes the others
(finetune/rollout.py) and sets it when their points are in place.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keywords", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.drop_column("keywords")
