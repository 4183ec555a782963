"""Add orders, their legs, import profiles and batches, and service standards (SLAs).

Revision ID: 83fffc5cb17e
Revises: c0355b2ca67b
Create Date: 2026-11-27 14:37:27.438798

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = '83fffc5cb17e'
down_revision = 'c0355b2ca67b'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('import_profiles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('datetime_format', sa.String(length=64), nullable=True),
    sa.Column('delimiter', sa.String(length=4), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_profiles')),
    sa.UniqueConstraint('name', name=op.f('uq_import_profiles_name'))
    )
    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('customer_ref', sa.String(length=64), nullable=True),
    sa.Column('placed_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('channel', sa.String(length=40), nullable=True),
    sa.Column('value', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('ref', name=op.f('uq_orders_ref'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_customer_ref'), ['customer_ref'], unique=False)

    op.create_table('import_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=True),
    sa.Column('profile_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_created', sa.Integer(), nullable=False),
    sa.Column('rows_updated', sa.Integer(), nullable=False),
    sa.Column('rows_rejected', sa.Integer(), nullable=False),
    sa.Column('problems', sa.JSON(), nullable=True),
    sa.Column('started_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_import_batches_created_by_id_users')),
    sa.ForeignKeyConstraint(['profile_id'], ['import_profiles.id'], name=op.f('fk_import_batches_profile_id_import_profiles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batches'))
    )
    op.create_table('service_standards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('series_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=True),
    sa.Column('chain_role', sa.String(length=32), nullable=True),
    sa.Column('metric', sa.String(length=40), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=True),
    sa.Column('comparator', sa.String(length=3), nullable=False),
    sa.Column('target', sa.Numeric(precision=12, scale=6), nullable=False),
    sa.Column('warning_threshold', sa.Numeric(precision=12, scale=6), nullable=True),
    sa.Column('window', sa.String(length=16), nullable=False),
    sa.Column('min_sample', sa.Integer(), nullable=False),
    sa.Column('tolerance_minutes', sa.Integer(), nullable=False),
    sa.Column('honours_exclusions', sa.Boolean(), nullable=False),
    sa.Column('penalty_kind', sa.String(length=16), nullable=False),
    sa.Column('penalty_amount', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('penalty_cap', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('weight', sa.Numeric(precision=6, scale=2), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(supplier_id IS NULL) <> (chain_role IS NULL)', name=op.f('ck_service_standards_one_owner')),
    sa.CheckConstraint('min_sample >= 1', name=op.f('ck_service_standards_min_sample')),
    sa.CheckConstraint('tolerance_minutes >= 0', name=op.f('ck_service_standards_tolerance')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to >= valid_from', name=op.f('ck_service_standards_validity')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_service_standards_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_standards'))
    )
    with op.batch_alter_table('service_standards', schema=None) as batch_op:
        batch_op.create_index('ix_service_standards_role', ['chain_role'], unique=False)
        batch_op.create_index('ix_service_standards_series_version', ['series_id', 'version'], unique=True)
        batch_op.create_index('ix_service_standards_supplier', ['supplier_id'], unique=False)

    op.create_table('legs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('promised_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('promised_day', sa.Date(), nullable=False),
    sa.Column('actual_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('delay_seconds', sa.Integer(), nullable=True),
    sa.Column('is_excluded', sa.Boolean(), nullable=False),
    sa.Column('exclusion_reason', sa.String(length=300), nullable=True),
    sa.Column('import_batch_id', sa.Integer(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('completed', 'lost', 'damaged', 'failed_attempt', 'returned', 'cancelled')", name=op.f('ck_legs_outcome')),
    sa.CheckConstraint("stage IN ('seller_handover', 'warehouse', 'line_haul', 'hub', 'last_mile', 'pickup_point', 'return')", name=op.f('ck_legs_stage')),
    sa.ForeignKeyConstraint(['import_batch_id'], ['import_batches.id'], name=op.f('fk_legs_import_batch_id_import_batches')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_legs_order_id_orders')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_legs_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legs')),
    sa.UniqueConstraint('external_id', name=op.f('uq_legs_external_id'))
    )
    with op.batch_alter_table('legs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legs_import_batch_id'), ['import_batch_id'], unique=False)
        batch_op.create_index('ix_legs_order_sequence', ['order_id', 'sequence'], unique=False)
        batch_op.create_index('ix_legs_supplier_stage_day', ['supplier_id', 'stage', 'promised_day'], unique=False)



def downgrade():
    with op.batch_alter_table('legs', schema=None) as batch_op:
        batch_op.drop_index('ix_legs_supplier_stage_day')
        batch_op.drop_index('ix_legs_order_sequence')
        batch_op.drop_index(batch_op.f('ix_legs_import_batch_id'))

    op.drop_table('legs')
    with op.batch_alter_table('service_standards', schema=None) as batch_op:
        batch_op.drop_index('ix_service_standards_supplier')
        batch_op.drop_index('ix_service_standards_series_version')
        batch_op.drop_index('ix_service_standards_role')

    op.drop_table('service_standards')
    op.drop_table('import_batches')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_customer_ref'))

    op.drop_table('orders')
    op.drop_table('import_profiles')
