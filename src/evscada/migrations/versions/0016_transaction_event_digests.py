"""Transaction events recognised by what they say (a digest), not by their seqNo; 1.6 events kept as well.

A 2.0.1 station that sends seqNo 0 on every TransactionEvent had its Updated and Ended events taken for repeats of its
Started and dropped. An event is now unique per transaction by its digest (core.charging.transactions.event_digest:
everything it reports but the seqNo), and seqNo is kept where there is one. Events stored before get the digest
'seq-<seqNo>', which no event digest equals: an event received before the upgrade and repeated after it is applied
once more (it changes nothing a second time, and its end readings are not stored twice).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transaction_events") as batch_op:
        batch_op.add_column(sa.Column("digest", sa.String(length=32), nullable=True))
    op.execute("UPDATE transaction_events SET digest = 'seq-' || seq_no")
    with op.batch_alter_table("transaction_events") as batch_op:
        batch_op.alter_column("digest", existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column("seq_no", existing_type=sa.Integer(), nullable=True)
        batch_op.drop_constraint("uq_transaction_events_seq", type_="unique")
        batch_op.create_unique_constraint("uq_transaction_events_digest", ["transaction_pk", "digest"])


def downgrade() -> None:
    # One event per seqNo, as before: 1.6 events (no seqNo) and later events under a seqNo already used go.
    op.execute(
        "DELETE FROM transaction_events WHERE seq_no IS NULL OR id NOT IN "
        "(SELECT min(id) FROM transaction_events GROUP BY transaction_pk, seq_no)"
    )
    with op.batch_alter_table("transaction_events") as batch_op:
        batch_op.drop_constraint("uq_transaction_events_digest", type_="unique")
        batch_op.drop_column("digest")
        batch_op.alter_column("seq_no", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint("uq_transaction_events_seq", ["transaction_pk", "seq_no"])
