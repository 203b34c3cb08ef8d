"""The shared ground of every table module: schemas, the one `MetaData` with its naming convention, and the
column helpers every table uses, so that a convention (timestamps, `ingested_at`, cascading user links) lives
in one place.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    MetaData,
    func,
)
from sqlalchemy.dialects.postgresql import UUID

APP_SCHEMA = "app"
RAW_SCHEMA = "raw"
OWNED_SCHEMAS = (APP_SCHEMA, RAW_SCHEMA)
# Built by dbt and the cluster step; migrations never touch them.
DBT_SCHEMAS = ("staging", "intermediate", "marts", "ml")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Every value set (a tuple of the values a status or kind column may hold) sits beside its table and becomes a
# check constraint through this, so the database refuses anything else.
def one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def created_at() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def updated_at() -> Column[object]:
    return Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def ingested_at() -> Column[object]:
    return Column("ingested_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def user_fk(*, nullable: bool = False, primary_key: bool = False) -> Column[object]:
    """The owning user: deleting the user deletes the row. A primary key for one-row-per-user tables."""
    return Column(
        "user_id",
        UUID(as_uuid=True),
        ForeignKey(f"{APP_SCHEMA}.users.id", ondelete="CASCADE"),
        nullable=nullable,
        primary_key=primary_key,
    )
