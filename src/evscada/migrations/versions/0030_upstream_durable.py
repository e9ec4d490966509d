"""OCPP proxy: the 1.6 transaction id map kept across restarts, sealed passwords (wider column), a CA per upstream

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 01:00:00

On SQLite the buffer's ids become AUTOINCREMENT: the proxy tells replayed rows from new ones by id, so an id
must never come back after its row was deleted (PostgreSQL's sequences never reuse one).

Passwords already stored in clear stay readable: evscada seals each one the first time it reads it (the key file is
a setting the migration cannot see).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "upstream_transactions",
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("ours", sa.Integer(), nullable=False),
        sa.Column("theirs", sa.Integer(), nullable=False),
        sa.Column("mapped_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "ours", name=op.f("pk_upstream_transactions")),
    )
    with op.batch_alter_table("upstream_csms") as batch:
        batch.alter_column("password", type_=sa.String(length=500), existing_type=sa.String(length=255))
        batch.add_column(sa.Column("ca_file", sa.String(length=500), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "upstream_buffer", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ) as batch:
            pass


def downgrade() -> None:
    with op.batch_alter_table("upstream_csms") as batch:
        batch.drop_column("ca_file")
        batch.alter_column("password", type_=sa.String(length=255), existing_type=sa.String(length=500))
    op.drop_table("upstream_transactions")
