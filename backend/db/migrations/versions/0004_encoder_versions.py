"""encoder registry

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

import backend.db.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "encoder_versions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("base_model", sa.String(length=500), nullable=False),
        sa.Column("path", sa.String(length=2000), nullable=False),
        sa.Column("kb_id", sa.String(length=36), nullable=True),
        sa.Column("data_hash", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", backend.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", backend.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["kb_id"],
            ["knowledge_bases.id"],
            name=op.f("fk_encoder_versions_kb_id_knowledge_bases"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_encoder_versions")),
        sa.UniqueConstraint("name", name=op.f("uq_encoder_versions_name")),
    )
    with op.batch_alter_table("encoder_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_encoder_versions_kb_id"), ["kb_id"], unique=False)


def downgrade() -> None:
    op.drop_table("encoder_versions")
