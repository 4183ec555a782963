"""Add attribution disputes: a supplier's private link to accept or contest its share, and the settlement.

Revision ID: e6c9d6d79364
Revises: 011c42340260
Create Date: 2026-11-27 15:50:12.007834

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = 'e6c9d6d79364'
down_revision = '011c42340260'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('attribution_disputes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('decision_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_prefix', sa.String(length=12), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('supplier_statement', sa.Text(), nullable=True),
    sa.Column('supplier_answered_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('settled_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('settled_by_id', sa.Integer(), nullable=True),
    sa.Column('settlement_note', sa.Text(), nullable=True),
    sa.Column('revised_decision_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'accepted', 'disputed', 'upheld', 'revised')", name=op.f('ck_attribution_disputes_status')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_attribution_disputes_created_by_id_users')),
    sa.ForeignKeyConstraint(['decision_id'], ['attribution_decisions.id'], name=op.f('fk_attribution_disputes_decision_id_attribution_decisions')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_attribution_disputes_incident_id_incidents')),
    sa.ForeignKeyConstraint(['revised_decision_id'], ['attribution_decisions.id'], name=op.f('fk_attribution_disputes_revised_decision_id_attribution_decisions')),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['users.id'], name=op.f('fk_attribution_disputes_revoked_by_id_users')),
    sa.ForeignKeyConstraint(['settled_by_id'], ['users.id'], name=op.f('fk_attribution_disputes_settled_by_id_users')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_attribution_disputes_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attribution_disputes')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_attribution_disputes_token_hash'))
    )
    with op.batch_alter_table('attribution_disputes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attribution_disputes_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attribution_disputes_supplier_id'), ['supplier_id'], unique=False)



def downgrade():
    with op.batch_alter_table('attribution_disputes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attribution_disputes_supplier_id'))
        batch_op.drop_index(batch_op.f('ix_attribution_disputes_incident_id'))

    op.drop_table('attribution_disputes')
