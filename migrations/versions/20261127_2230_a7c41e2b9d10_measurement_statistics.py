"""Statistics that make a year of SLA measurement cheap: attributed incident shares per
supplier and day, and monthly delay histograms of the legs.

`incident_share_day_stats` is kept by `incidents.services.share_stats` as decisions are
recorded, `leg_delay_month_stats` by `incidents.services.stats` with the daily leg
statistics. Both are filled here from what is already stored, as a rebuild would.

Revision ID: a7c41e2b9d10
Revises: 3dd58de3f566
Create Date: 2026-11-27 22:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c41e2b9d10'
down_revision = '3dd58de3f566'
branch_labels = None
depends_on = None

FILL_FROM_DECISIONS = """
INSERT INTO incident_share_day_stats (supplier_id, day, shares_count, shares_millionths)
SELECT s.supplier_id, i.reported_day, COUNT(*), SUM(CAST(ROUND(s.share * 1000000) AS BIGINT))
FROM attribution_shares s
JOIN attribution_decisions d ON d.id = s.decision_id
JOIN incidents i ON i.id = d.incident_id
WHERE s.supplier_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM attribution_decisions later
                  WHERE later.incident_id = d.incident_id AND later.revision > d.revision)
GROUP BY s.supplier_id, i.reported_day
"""

FILL_DELAYS_FROM_LEGS = """
INSERT INTO leg_delay_month_stats (supplier_id, stage, month, is_excluded, delay_bucket, legs)
SELECT supplier_id, stage, {month}, is_excluded,
       CASE WHEN delay_seconds > 0 THEN delay_seconds / 18 ELSE 0 END, COUNT(*)
FROM legs
WHERE actual_at IS NOT NULL AND (outcome IS NULL OR outcome <> 'cancelled')
GROUP BY 1, 2, 3, 4, 5
"""
MONTH = {"postgresql": "CAST(date_trunc('month', promised_day) AS DATE)",
         "sqlite": "date(promised_day, 'start of month')"}


def upgrade():
    op.create_table('incident_share_day_stats',
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('shares_count', sa.Integer(), nullable=False),
    sa.Column('shares_millionths', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'],
                            name=op.f('fk_incident_share_day_stats_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('supplier_id', 'day', name=op.f('pk_incident_share_day_stats'))
    )
    op.execute(FILL_FROM_DECISIONS)
    op.create_table('leg_delay_month_stats',
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('is_excluded', sa.Boolean(), nullable=False),
    sa.Column('delay_bucket', sa.Integer(), nullable=False),
    sa.Column('legs', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'],
                            name=op.f('fk_leg_delay_month_stats_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('supplier_id', 'stage', 'month', 'is_excluded', 'delay_bucket',
                            name=op.f('pk_leg_delay_month_stats'))
    )
    op.execute(FILL_DELAYS_FROM_LEGS.format(month=MONTH[op.get_bind().dialect.name]))


def downgrade():
    op.drop_table('leg_delay_month_stats')
    op.drop_table('incident_share_day_stats')
