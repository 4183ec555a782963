"""Add customer incidents, their interactions, cost lines and attribution decisions; seed the category catalogue.

Revision ID: ce6b22d50fd3
Revises: e6734f9cd227
Create Date: 2026-11-27 15:32:34.420367

"""
from alembic import op
import sqlalchemy as sa

import app.db


#: The standard catalogue (DESIGN.md codes); quality managers may add to it.
CATEGORIES = [
    # code, English, Italian, attribution rule, first-response hours, position
    ("late_delivery", "Late delivery", "Consegna in ritardo", "late_delivery", 24, 10),
    ("lost_parcel", "Lost parcel", "Pacco smarrito", "lost_parcel", 8, 20),
    ("damaged_goods", "Damaged goods", "Merce danneggiata", "damaged_goods", 24, 30),
    ("wrong_item", "Wrong item", "Articolo sbagliato", "none", 24, 40),
    ("labelling_error", "Labelling error", "Errore di etichettatura", "labelling_error", 24, 50),
    ("failed_attempt", "Failed delivery attempt", "Tentativo di consegna fallito", "none", 24, 60),
    ("staff_behaviour", "Staff behaviour at pickup point", "Comportamento del personale al punto di ritiro",
     "none", 48, 70),
    ("billing", "Billing", "Fatturazione", "none", 48, 80),
    ("other", "Other", "Altro", "none", 48, 90),
]


# revision identifiers, used by Alembic.
revision = 'ce6b22d50fd3'
down_revision = 'e6734f9cd227'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('incident_categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('label_en', sa.String(length=120), nullable=False),
    sa.Column('label_it', sa.String(length=120), nullable=False),
    sa.Column('attribution_rule', sa.String(length=32), nullable=False),
    sa.Column('first_response_hours', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint("attribution_rule IN ('late_delivery', 'lost_parcel', 'damaged_goods', 'labelling_error', 'none')", name=op.f('ck_incident_categories_attribution_rule')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_categories')),
    sa.UniqueConstraint('code', name=op.f('uq_incident_categories_code'))
    )
    op.create_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('order_ref_given', sa.String(length=64), nullable=True),
    sa.Column('needs_follow_up', sa.Boolean(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reported_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('respond_by', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_response_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('csat', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("channel IN ('phone', 'email', 'web', 'chat', 'social', 'store')", name=op.f('ck_incidents_channel')),
    sa.CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name=op.f('ck_incidents_priority')),
    sa.CheckConstraint("status IN ('new', 'in_progress', 'resolved', 'closed')", name=op.f('ck_incidents_status')),
    sa.CheckConstraint('csat IS NULL OR (csat >= 1 AND csat <= 5)', name=op.f('ck_incidents_csat')),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_incidents_assignee_id_users')),
    sa.ForeignKeyConstraint(['category_id'], ['incident_categories.id'], name=op.f('fk_incidents_category_id_incident_categories')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_incidents_created_by_id_users')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_incidents_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents')),
    sa.UniqueConstraint('external_id', name=op.f('uq_incidents_external_id'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incidents_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_category_id'), ['category_id'], unique=False)
        batch_op.create_index('ix_incidents_open_respond_by', ['status', 'respond_by', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_incidents_reported_at_id', ['reported_at', 'id'], unique=False)

    op.create_table('attribution_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('proposal', sa.JSON(), nullable=True),
    sa.Column('follows_proposal', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('decided_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_attribution_decisions_decided_by_id_users')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_attribution_decisions_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attribution_decisions'))
    )
    with op.batch_alter_table('attribution_decisions', schema=None) as batch_op:
        batch_op.create_index('ix_attribution_decisions_incident_revision', ['incident_id', 'revision'], unique=True)

    op.create_table('incident_cost_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('refund', 'reshipment', 'voucher', 'other')", name=op.f('ck_incident_cost_lines_kind')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_incident_cost_lines_amount')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_cost_lines_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_cost_lines'))
    )
    with op.batch_alter_table('incident_cost_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_cost_lines_incident_id'), ['incident_id'], unique=False)

    op.create_table('incident_interactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("channel IN ('phone', 'email', 'web', 'chat', 'social', 'store')", name=op.f('ck_incident_interactions_channel')),
    sa.CheckConstraint("direction IN ('inbound', 'outbound')", name=op.f('ck_incident_interactions_direction')),
    sa.ForeignKeyConstraint(['by_id'], ['users.id'], name=op.f('fk_incident_interactions_by_id_users')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_interactions_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_interactions'))
    )
    with op.batch_alter_table('incident_interactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_interactions_incident_id'), ['incident_id'], unique=False)

    op.create_table('attribution_shares',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('decision_id', sa.Integer(), nullable=False),
    sa.Column('leg_id', sa.Integer(), nullable=True),
    sa.Column('supplier_id', sa.Integer(), nullable=True),
    sa.Column('is_internal', sa.Boolean(), nullable=False),
    sa.Column('share', sa.Numeric(precision=7, scale=6), nullable=False),
    sa.Column('root_cause', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('evidence', sa.Text(), nullable=True),
    sa.CheckConstraint('is_internal OR supplier_id IS NOT NULL', name=op.f('ck_attribution_shares_party')),
    sa.CheckConstraint('share > 0 AND share <= 1', name=op.f('ck_attribution_shares_share')),
    sa.ForeignKeyConstraint(['decision_id'], ['attribution_decisions.id'], name=op.f('fk_attribution_shares_decision_id_attribution_decisions')),
    sa.ForeignKeyConstraint(['leg_id'], ['legs.id'], name=op.f('fk_attribution_shares_leg_id_legs')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_attribution_shares_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attribution_shares'))
    )
    with op.batch_alter_table('attribution_shares', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attribution_shares_decision_id'), ['decision_id'], unique=False)
        batch_op.create_index('ix_attribution_shares_supplier', ['supplier_id'], unique=False)

    categories = sa.table(
        "incident_categories", sa.column("code", sa.String), sa.column("label_en", sa.String),
        sa.column("label_it", sa.String), sa.column("attribution_rule", sa.String),
        sa.column("first_response_hours", sa.Integer), sa.column("position", sa.Integer),
        sa.column("is_active", sa.Boolean),
    )
    op.bulk_insert(categories, [
        {"code": code, "label_en": en, "label_it": it, "attribution_rule": rule, "first_response_hours": hours,
         "position": position, "is_active": True}
        for code, en, it, rule, hours, position in CATEGORIES
    ])


def downgrade():
    with op.batch_alter_table('attribution_shares', schema=None) as batch_op:
        batch_op.drop_index('ix_attribution_shares_supplier')
        batch_op.drop_index(batch_op.f('ix_attribution_shares_decision_id'))

    op.drop_table('attribution_shares')
    with op.batch_alter_table('incident_interactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_interactions_incident_id'))

    op.drop_table('incident_interactions')
    with op.batch_alter_table('incident_cost_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_cost_lines_incident_id'))

    op.drop_table('incident_cost_lines')
    with op.batch_alter_table('attribution_decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_attribution_decisions_incident_revision')

    op.drop_table('attribution_decisions')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_reported_at_id')
        batch_op.drop_index(batch_op.f('ix_incidents_order_id'))
        batch_op.drop_index('ix_incidents_open_respond_by')
        batch_op.drop_index(batch_op.f('ix_incidents_category_id'))
        batch_op.drop_index(batch_op.f('ix_incidents_assignee_id'))

    op.drop_table('incidents')
    op.drop_table('incident_categories')
