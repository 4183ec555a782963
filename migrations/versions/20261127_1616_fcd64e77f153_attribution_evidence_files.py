"""Add evidence files to attribution decisions.

Revision ID: fcd64e77f153
Revises: e6c9d6d79364
Create Date: 2026-11-27 16:16:52.005937

"""
from alembic import op
import sqlalchemy as sa

import app.db


# revision identifiers, used by Alembic.
revision = 'fcd64e77f153'
down_revision = 'e6c9d6d79364'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('attribution_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('decision_id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('stored_name', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['decision_id'], ['attribution_decisions.id'], name=op.f('fk_attribution_evidence_decision_id_attribution_decisions')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_attribution_evidence_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attribution_evidence'))
    )
    with op.batch_alter_table('attribution_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attribution_evidence_decision_id'), ['decision_id'], unique=False)



def downgrade():
    with op.batch_alter_table('attribution_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attribution_evidence_decision_id'))

    op.drop_table('attribution_evidence')
