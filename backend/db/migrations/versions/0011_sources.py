"""sources: connectors that keep a knowledge base in sync

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

A source is a page, sitemap, site section or Git repository a knowledge base stays in sync with;
its items keep the change tokens of the last sync; its syncs are its history.
"""

import sqlalchemy as sa
from alembic import op

import backend.db.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kb_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("schedule_s", sa.Integer(), nullable=True),
        sa.Column("remove_after_s", sa.Integer(), nullable=False),
        sa.Column("next_sync_at", backend.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_sync_at", backend.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=False),
        sa.Column("last_counts", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sync_job_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", backend.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", backend.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["kb_id"],
            ["knowledge_bases.id"],
            name=op.f("fk_sources_kb_id_knowledge_bases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
    )
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.create_index("ix_sources_due", ["next_sync_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sources_kb_id"), ["kb_id"], unique=False)

    op.create_table(
        "source_items",
        sa.Column("source_id", sa.String(length=36), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=2000), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=True),
        sa.Column("owned", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("change_token", sa.String(length=200), nullable=True),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("seen_at", backend.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("missing_since", backend.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_source_items_document_id_documents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_source_items_source_id_sources"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("source_id", "key_hash", name=op.f("pk_source_items")),
    )
    with op.batch_alter_table("source_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_source_items_document_id"), ["document_id"], unique=False)

    op.create_table(
        "source_syncs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("started_at", backend.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", backend.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_source_syncs_source_id_sources"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_syncs")),
    )
    with op.batch_alter_table("source_syncs", schema=None) as batch_op:
        batch_op.create_index("ix_source_syncs_source_started", ["source_id", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("source_syncs", schema=None) as batch_op:
        batch_op.drop_index("ix_source_syncs_source_started")

    op.drop_table("source_syncs")
    with op.batch_alter_table("source_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_source_items_document_id"))

    op.drop_table("source_items")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sources_kb_id"))
        batch_op.drop_index("ix_sources_due")

    op.drop_table("sources")
