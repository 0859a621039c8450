"""widget settings per knowledge base, daily widget usage

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("widget", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "widget_usage",
        sa.Column("kb_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["kb_id"],
            ["knowledge_bases.id"],
            name=op.f("fk_widget_usage_kb_id_knowledge_bases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("kb_id", "day", name=op.f("pk_widget_usage")),
    )


def downgrade() -> None:
    op.drop_table("widget_usage")
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.drop_column("widget")
