"""notifications

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 09:18:52.441112
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("recipient", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("folded_into", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
    )
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_notification_deliveries_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_notification_deliveries_recipient_created", ["recipient", "created_at"], unique=False)
        batch_op.create_index("ix_notification_deliveries_status_next", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "notification_escalations",
        sa.Column(
            "alarm_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alarm", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("alarm_id", name=op.f("pk_notification_escalations")),
    )
    with op.batch_alter_table("notification_escalations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_escalations_due_at"), ["due_at"], unique=False)

    op.create_table(
        "notification_alarms",
        sa.Column("delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("alarm_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["notification_deliveries.id"],
            name=op.f("fk_notification_alarms_delivery_id_notification_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("delivery_id", "alarm_id", name=op.f("pk_notification_alarms")),
    )
    with op.batch_alter_table("notification_alarms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_alarms_alarm_id"), ["alarm_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notification_alarms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_alarms_alarm_id"))

    op.drop_table("notification_alarms")
    with op.batch_alter_table("notification_escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_escalations_due_at"))

    op.drop_table("notification_escalations")
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_deliveries_status_next")
        batch_op.drop_index("ix_notification_deliveries_recipient_created")
        batch_op.drop_index("ix_notification_deliveries_created_at")

    op.drop_table("notification_deliveries")
