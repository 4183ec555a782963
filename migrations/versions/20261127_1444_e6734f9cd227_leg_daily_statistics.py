"""Add daily leg statistics per supplier, stage and day, and fill them from the legs.

Revision ID: e6734f9cd227
Revises: 83fffc5cb17e
Create Date: 2026-11-27 14:44:50.969404

"""
from alembic import op
import sqlalchemy as sa

import app.db


FILL_FROM_LEGS = """
INSERT INTO leg_day_stats (supplier_id, stage, day, is_excluded, legs, closed, lost, damaged, completed,
                           failed_attempt, with_actual, late_seconds, on_time_0, on_time_15, on_time_30, on_time_60, on_time_120, on_time_240, on_time_480, on_time_720, on_time_1440, on_time_2880)
SELECT supplier_id, stage, promised_day, is_excluded, COUNT(*),
       SUM(CASE WHEN outcome IS NOT NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN outcome = 'lost' THEN 1 ELSE 0 END),
       SUM(CASE WHEN outcome = 'damaged' THEN 1 ELSE 0 END),
       SUM(CASE WHEN outcome = 'completed' THEN 1 ELSE 0 END),
       SUM(CASE WHEN outcome = 'failed_attempt' THEN 1 ELSE 0 END),
       SUM(CASE WHEN actual_at IS NOT NULL THEN 1 ELSE 0 END),
       COALESCE(SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds > 0 THEN delay_seconds ELSE 0 END), 0),
       SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds <= 0 AND (outcome IS NULL OR outcome <> 'lost') THEN 1 ELSE 0 END),
       SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds <= 900 AND (outcome IS NULL OR outcome <> 'lost') THEN 1 ELSE 0 END),
       SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds <= 1800 AND (outcome IS NULL OR outcome <> 'lost') THEN 1 ELSE 0 END),
       SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds <= 3600 AND (outcome IS NULL OR outcome <> 'lost') THEN 1 ELSE 0 END),
       SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds <= 7200 AND (outcome IS NULL OR outcome <> 'lost') THEN 1 ELSE 0 END),
       SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds <= 14400 AND (outcome IS NULL OR outcome <> 'lost') THEN 1 ELSE 0 END),
       SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds <= 28800 AND (outcome IS NULL OR outcome <> 'lost') THEN 1 ELSE 0 END),
       SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds <= 43200 AND (outcome IS NULL OR outcome <> 'lost') THEN 1 ELSE 0 END),
       SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds <= 86400 AND (outcome IS NULL OR outcome <> 'lost') THEN 1 ELSE 0 END),
       SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds <= 172800 AND (outcome IS NULL OR outcome <> 'lost') THEN 1 ELSE 0 END)
FROM legs
WHERE outcome IS NULL OR outcome <> 'cancelled'
GROUP BY supplier_id, stage, promised_day, is_excluded
"""

# revision identifiers, used by Alembic.
revision = 'e6734f9cd227'
down_revision = '83fffc5cb17e'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('leg_day_stats',
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('is_excluded', sa.Boolean(), nullable=False),
    sa.Column('legs', sa.Integer(), nullable=False),
    sa.Column('closed', sa.Integer(), nullable=False),
    sa.Column('lost', sa.Integer(), nullable=False),
    sa.Column('damaged', sa.Integer(), nullable=False),
    sa.Column('completed', sa.Integer(), nullable=False),
    sa.Column('failed_attempt', sa.Integer(), nullable=False),
    sa.Column('with_actual', sa.Integer(), nullable=False),
    sa.Column('late_seconds', sa.BigInteger(), nullable=False),
    sa.Column('on_time_0', sa.Integer(), nullable=False),
    sa.Column('on_time_15', sa.Integer(), nullable=False),
    sa.Column('on_time_30', sa.Integer(), nullable=False),
    sa.Column('on_time_60', sa.Integer(), nullable=False),
    sa.Column('on_time_120', sa.Integer(), nullable=False),
    sa.Column('on_time_240', sa.Integer(), nullable=False),
    sa.Column('on_time_480', sa.Integer(), nullable=False),
    sa.Column('on_time_720', sa.Integer(), nullable=False),
    sa.Column('on_time_1440', sa.Integer(), nullable=False),
    sa.Column('on_time_2880', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_leg_day_stats_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('supplier_id', 'stage', 'day', 'is_excluded', name=op.f('pk_leg_day_stats'))
    )
    # Legs recorded before this migration get their statistics now.
    op.execute(FILL_FROM_LEGS)


def downgrade():
    op.drop_table('leg_day_stats')
