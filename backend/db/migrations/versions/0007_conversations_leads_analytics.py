"""conversation channel, visitor and handoff; per-message analytics columns; question vectors; leads;
identity and webhook secrets

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

import backend.db.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identity_secret", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("webhook_secret", sa.String(length=100), nullable=True))
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=16), nullable=False, server_default="api"))
        batch_op.add_column(sa.Column("visitor_id", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("handoff_at", backend.db.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("handoff_reason", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_conversations_visitor_id"), ["visitor_id"], unique=False)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kb_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("reply_to", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("relevance", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("grounded", sa.Boolean(), nullable=True))
        batch_op.create_index(batch_op.f("ix_messages_reply_to"), ["reply_to"], unique=False)
        batch_op.create_index("ix_messages_kb_role_created", ["kb_id", "role", "created_at"], unique=False)
    # Earlier messages learn their knowledge base from their conversation.
    op.execute(
        "UPDATE messages SET kb_id = "
        "(SELECT conversations.kb_id FROM conversations WHERE conversations.id = messages.conversation_id)"
    )
    op.create_table(
        "question_vectors",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=500), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_question_vectors_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_question_vectors")),
    )
    op.create_table(
        "citations",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("kb_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", backend.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_citations_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("message_id", "document_id", name=op.f("pk_citations")),
    )
    with op.batch_alter_table("citations", schema=None) as batch_op:
        batch_op.create_index("ix_citations_kb_created", ["kb_id", "created_at"], unique=False)
    op.create_table(
        "leads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kb_id", sa.String(length=36), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=True),
        sa.Column("visitor_id", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", backend.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_leads_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["kb_id"], ["knowledge_bases.id"], name=op.f("fk_leads_kb_id_knowledge_bases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_leads_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index("ix_leads_kb_created", ["kb_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("leads")
    op.drop_table("citations")
    op.drop_table("question_vectors")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_kb_role_created")
        batch_op.drop_index(batch_op.f("ix_messages_reply_to"))
        for column in ("grounded", "relevance", "reply_to", "kb_id"):
            batch_op.drop_column(column)
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations_visitor_id"))
        for column in ("handoff_reason", "handoff_at", "visitor_id", "channel"):
            batch_op.drop_column(column)
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.drop_column("webhook_secret")
        batch_op.drop_column("identity_secret")
