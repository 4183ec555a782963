"""Add each incident's report day (company zone) and its response and resolution seconds, for SLA measurement.

Revision ID: 92cfc11d2b41
Revises: ce6b22d50fd3
Create Date: 2026-11-27 15:35:22.447382

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = '92cfc11d2b41'
down_revision = 'ce6b22d50fd3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reported_day', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('first_response_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('resolution_seconds', sa.Integer(), nullable=True))
    # Incidents recorded before this migration (none in a normal history): their UTC day.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE incidents SET reported_day = CAST(reported_at AT TIME ZONE 'UTC' AS DATE)")
    else:
        op.execute("UPDATE incidents SET reported_day = substr(reported_at, 1, 10)")
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.alter_column('reported_day', existing_type=sa.Date(), nullable=False)
        batch_op.create_index(batch_op.f('ix_incidents_reported_day'), ['reported_day'], unique=False)


def downgrade():
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_reported_day'))
        batch_op.drop_column('resolution_seconds')
        batch_op.drop_column('first_response_seconds')
        batch_op.drop_column('reported_day')
