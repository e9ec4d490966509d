"""A site's electrical layout: feeders below the grid connection, and each station's feeder and supply (core/energy)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigPk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATION_FEEDER_FK = "fk_stations_feeder_id_site_feeders"
STATION_FEEDER_CLAUSE = (
    f"CONSTRAINT {STATION_FEEDER_FK} FOREIGN KEY(feeder_id) REFERENCES site_feeders (id) ON DELETE SET NULL"
)


def upgrade() -> None:
    op.create_table(
        "site_feeders",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("site_id", BigPk, nullable=False),
        sa.Column("parent_id", BigPk, nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("max_a", sa.Float(), nullable=True),
        sa.Column("max_w", sa.Float(), nullable=True),
        sa.Column("limit_curve", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_feeders_site_id_sites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["site_feeders.id"], name=op.f("fk_site_feeders_parent_id_site_feeders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_feeders")),
    )
    op.create_index(op.f("ix_site_feeders_site_id"), "site_feeders", ["site_id"])

    op.add_column("stations", sa.Column("feeder_id", BigPk, nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_station_feeder_fk(add=True)
    else:
        op.create_foreign_key(
            op.f(STATION_FEEDER_FK), "stations", "site_feeders", ["feeder_id"], ["id"], ondelete="SET NULL"
        )
    op.add_column("stations", sa.Column("max_power_w", sa.Float(), nullable=True))
    op.add_column("stations", sa.Column("supply", sa.String(length=2), nullable=True))
    op.add_column("stations", sa.Column("phases", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_stations_feeder_id"), "stations", ["feeder_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_stations_feeder_id"), table_name="stations")
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_station_feeder_fk(add=False)  # SQLite drops no column that a foreign key names
    else:
        op.drop_constraint(op.f(STATION_FEEDER_FK), "stations", type_="foreignkey")
    for column in ("phases", "supply", "max_power_w", "feeder_id"):
        op.drop_column("stations", column)  # in place on SQLite too (3.35 and later)
    op.drop_table("site_feeders")


def _sqlite_station_feeder_fk(*, add: bool) -> None:
    """Add (or remove) the foreign key of stations.feeder_id in the table's stored definition, in place.

    SQLite cannot add a constraint to a table, and batch mode would copy the stations table and drop the old one:
    with foreign keys on, that drop deletes every row that cascades from a station (connectors, local lists, device
    models ...). A new column's foreign key can be written into the stored definition instead (SQLite's ALTER TABLE
    page, "making other kinds of table schema changes"): every feeder_id is NULL, so no row breaks it, and the schema
    version is raised so that every connection reads the new definition. Written as a table constraint, as the other
    foreign keys are, so that it reads back with its name and action."""
    bind = op.get_bind()
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'stations'").scalar_one()
    body = sql.rstrip()
    assert body.endswith(")"), "unexpected definition of the stations table"
    if add:
        new = f"{body[:-1].rstrip()}, \n\t{STATION_FEEDER_CLAUSE}\n)"
    else:
        new = sql.replace(f", \n\t{STATION_FEEDER_CLAUSE}", "")
        assert new != sql, "the stations table has no feeder foreign key to remove"
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'stations'", (new,))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
