"""Add chargeback policies, statements and their lines.

Revision ID: 011c42340260
Revises: 92cfc11d2b41
Create Date: 2026-11-27 15:38:08.869818

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = '011c42340260'
down_revision = '92cfc11d2b41'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('chargeback_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=True),
    sa.Column('chain_role', sa.String(length=32), nullable=True),
    sa.Column('per_incident_amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('charges_costs', sa.Boolean(), nullable=False),
    sa.Column('cap_per_statement', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(supplier_id IS NULL) <> (chain_role IS NULL)', name=op.f('ck_chargeback_policies_one_owner')),
    sa.CheckConstraint('cap_per_statement IS NULL OR cap_per_statement >= 0', name=op.f('ck_chargeback_policies_cap')),
    sa.CheckConstraint('per_incident_amount >= 0', name=op.f('ck_chargeback_policies_per_incident_amount')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_chargeback_policies_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chargeback_policies')),
    sa.UniqueConstraint('chain_role', name=op.f('uq_chargeback_policies_chain_role')),
    sa.UniqueConstraint('supplier_id', name=op.f('uq_chargeback_policies_supplier_id'))
    )
    op.create_table('chargeback_statements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('lines_total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('sent_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('responded_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('response_note', sa.Text(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'sent', 'accepted', 'disputed')", name=op.f('ck_chargeback_statements_status')),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_chargeback_statements_period')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_chargeback_statements_created_by_id_users')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_chargeback_statements_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chargeback_statements'))
    )
    with op.batch_alter_table('chargeback_statements', schema=None) as batch_op:
        batch_op.create_index('uq_chargeback_statements_supplier_period', ['supplier_id', 'period_start', 'period_end'], unique=True)

    op.create_table('chargeback_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('statement_id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('cost', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('per_incident_amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('share', sa.Numeric(precision=7, scale=6), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_chargeback_lines_incident_id_incidents')),
    sa.ForeignKeyConstraint(['statement_id'], ['chargeback_statements.id'], name=op.f('fk_chargeback_lines_statement_id_chargeback_statements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chargeback_lines'))
    )
    with op.batch_alter_table('chargeback_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chargeback_lines_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_chargeback_lines_statement_id'), ['statement_id'], unique=False)



def downgrade():
    with op.batch_alter_table('chargeback_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chargeback_lines_statement_id'))
        batch_op.drop_index(batch_op.f('ix_chargeback_lines_incident_id'))

    op.drop_table('chargeback_lines')
    with op.batch_alter_table('chargeback_statements', schema=None) as batch_op:
        batch_op.drop_index('uq_chargeback_statements_supplier_period')

    op.drop_table('chargeback_statements')
    op.drop_table('chargeback_policies')
