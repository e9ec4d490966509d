"""Repeat receipts keyed by (message_key, station_id), the key beginning with the message's time.

The primary key was (station_id, message_key) with the key a bare digest: every MeterValues commit put each
station's receipt at a random place in the index, half of what the commit cost SQLite after migration 0014. Keys
now begin with the message's own time (gateway.session.repeat_key) and lead the primary key, so a commit's
receipts land together. Receipts stored before keep their digest-only keys: a message received before the upgrade
and repeated after it is stored again, once (receipts are pruned after historian.message_receipt_days anyway).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 03:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _primary_key(*columns: str) -> None:
    with op.batch_alter_table("message_receipts", recreate="always") as batch_op:
        batch_op.drop_constraint("pk_message_receipts", type_="primary")
        batch_op.create_primary_key("pk_message_receipts", list(columns))


def upgrade() -> None:
    _primary_key("message_key", "station_id")


def downgrade() -> None:
    _primary_key("station_id", "message_key")
