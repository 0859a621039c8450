"""an encoder per knowledge base: each knowledge base points at the version that serves it

Existing installs keep working without re-embedding: the version that was active service-wide becomes
every knowledge base's version (its points are already in that version's collection) and stays the
default for new knowledge bases.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("encoder_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_id", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column(
                "status",
                sa.Enum(
                    "training", "ready", "failed", name="encoderversionstatus", native_enum=False, length=16
                ),
                nullable=False,
                server_default="ready",
            )
        )
        batch_op.add_column(sa.Column("shared", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("relevance_threshold", sa.Float(), nullable=True))
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("encoder_version_id", sa.String(length=36), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_knowledge_bases_encoder_version_id"), ["encoder_version_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_knowledge_bases_encoder_version_id_encoder_versions"),
            "encoder_versions",
            ["encoder_version_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    op.execute(
        "UPDATE knowledge_bases SET encoder_version_id = "
        "(SELECT id FROM encoder_versions WHERE active = true)"
    )


def downgrade() -> None:
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_knowledge_bases_encoder_version_id_encoder_versions"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_knowledge_bases_encoder_version_id"))
        batch_op.drop_column("encoder_version_id")
    with op.batch_alter_table("encoder_versions", schema=None) as batch_op:
        batch_op.drop_column("relevance_threshold")
        batch_op.drop_column("shared")
        batch_op.drop_column("status")
        batch_op.drop_column("model_id")
