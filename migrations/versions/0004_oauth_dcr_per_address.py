"""app.oauth_clients.registered_from: dynamic client registration is limited per client address (issue 16.4)

The old limit counted every registration of the last hour together, so one caller could block every new
connector. Each dynamically registered client now records the address it came from (IPv4, or the /64 of an
IPv6 address); the limit counts per address, served by an index on (registered_from, created_at).

Revision ID: 0004_oauth_dcr_per_address
Revises: 0003
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_oauth_dcr_per_address"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_oauth_clients_registered_from_created_at"


def upgrade() -> None:
    op.add_column("oauth_clients", sa.Column("registered_from", sa.Text(), nullable=True), schema="app")
    op.create_index(_INDEX, "oauth_clients", ["registered_from", "created_at"], schema="app")


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="oauth_clients", schema="app")
    op.drop_column("oauth_clients", "registered_from", schema="app")
