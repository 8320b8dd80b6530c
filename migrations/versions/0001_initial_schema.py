"""Initial schema: organisation, questionnaires, rounds, responses, users, audit trail.

Reviewed by hand: the audit table is made append-only by triggers on both dialects.

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 05:36:29.475797

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('service_areas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('name_en', sa.String(length=300), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.CheckConstraint("code <> ''", name=op.f('ck_service_areas_code_not_empty')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_areas')),
    sa.UniqueConstraint('code', name=op.f('uq_service_areas_code'))
    )
    op.create_table('templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('name_en', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_templates')),
    sa.UniqueConstraint('code', name=op.f('uq_templates_code'))
    )
    op.create_table('unit_levels',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_unit_levels'))
    )
    op.create_table('template_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('title_en', sa.String(length=300), nullable=False),
    sa.Column('intro', sa.Text(), nullable=False),
    sa.Column('intro_en', sa.Text(), nullable=False),
    sa.Column('index_definition', sa.String(length=16), nullable=False),
    sa.Column('frozen_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("index_definition IN ('top2box', 'mean', 'mean_pct')", name=op.f('ck_template_versions_index_definition')),
    sa.CheckConstraint('number >= 1', name=op.f('ck_template_versions_number_positive')),
    sa.ForeignKeyConstraint(['template_id'], ['templates.id'], name=op.f('fk_template_versions_template_id_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_versions')),
    sa.UniqueConstraint('template_id', 'number', name=op.f('uq_template_versions_template_id_number'))
    )
    op.create_table('units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('level_code', sa.String(length=32), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('successor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("code <> ''", name=op.f('ck_units_code_not_empty')),
    sa.CheckConstraint('parent_id IS NULL OR parent_id <> id', name=op.f('ck_units_not_own_parent')),
    sa.CheckConstraint('successor_id IS NULL OR successor_id <> id', name=op.f('ck_units_not_own_successor')),
    sa.ForeignKeyConstraint(['level_code'], ['unit_levels.code'], name=op.f('fk_units_level_code_unit_levels')),
    sa.ForeignKeyConstraint(['parent_id'], ['units.id'], name=op.f('fk_units_parent_id_units')),
    sa.ForeignKeyConstraint(['successor_id'], ['units.id'], name=op.f('fk_units_successor_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_units')),
    sa.UniqueConstraint('code', name=op.f('uq_units_code'))
    )
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_units_parent_id'), ['parent_id'], unique=False)

    op.create_table('aspects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('name_en', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['template_versions.id'], name=op.f('fk_aspects_version_id_template_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aspects')),
    sa.UniqueConstraint('version_id', 'code', name=op.f('uq_aspects_version_id_code'))
    )
    with op.batch_alter_table('aspects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_aspects_version_id'), ['version_id'], unique=False)

    op.create_table('desks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('token_issued_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_desks_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_desks')),
    sa.UniqueConstraint('code', name=op.f('uq_desks_code')),
    sa.UniqueConstraint('token', name=op.f('uq_desks_token'))
    )
    with op.batch_alter_table('desks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_desks_unit_id'), ['unit_id'], unique=False)

    op.create_table('rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('template_version_id', sa.Integer(), nullable=False),
    sa.Column('opens_at', sa.DateTime(), nullable=False),
    sa.Column('closes_at', sa.DateTime(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("(state = 'published') = (published_at IS NOT NULL)", name=op.f('ck_rounds_published_at')),
    sa.CheckConstraint("state = 'draft' OR opened_at IS NOT NULL", name=op.f('ck_rounds_opened_at')),
    sa.CheckConstraint("state IN ('draft', 'open', 'closed', 'published')", name=op.f('ck_rounds_state')),
    sa.CheckConstraint("state NOT IN ('closed', 'published') OR closed_at IS NOT NULL", name=op.f('ck_rounds_closed_at')),
    sa.CheckConstraint('closes_at > opens_at', name=op.f('ck_rounds_period')),
    sa.ForeignKeyConstraint(['template_version_id'], ['template_versions.id'], name=op.f('fk_rounds_template_version_id_template_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rounds'))
    )
    op.create_table('unit_service_areas',
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('service_area_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['service_area_id'], ['service_areas.id'], name=op.f('fk_unit_service_areas_service_area_id_service_areas'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_unit_service_areas_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('unit_id', 'service_area_id', name=op.f('pk_unit_service_areas'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("role <> 'unit_officer' OR unit_id IS NOT NULL", name=op.f('ck_users_officer_unit')),
    sa.CheckConstraint("role IN ('admin', 'unit_officer', 'analyst')", name=op.f('ck_users_role')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_users_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity_type', sa.String(length=64), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_events_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_occurred_at'), ['occurred_at'], unique=False)

    op.create_table('desk_service_areas',
    sa.Column('desk_id', sa.Integer(), nullable=False),
    sa.Column('service_area_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_desk_service_areas_desk_id_desks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_area_id'], ['service_areas.id'], name=op.f('fk_desk_service_areas_service_area_id_service_areas'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('desk_id', 'service_area_id', name=op.f('pk_desk_service_areas'))
    )
    op.create_table('dossier_counts',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('service_area_id', sa.Integer(), nullable=False),
    sa.Column('dossiers', sa.Integer(), nullable=False),
    sa.CheckConstraint('dossiers >= 0', name=op.f('ck_dossier_counts_dossiers')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_dossier_counts_round_id_rounds')),
    sa.ForeignKeyConstraint(['service_area_id'], ['service_areas.id'], name=op.f('fk_dossier_counts_service_area_id_service_areas')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_dossier_counts_unit_id_units')),
    sa.PrimaryKeyConstraint('round_id', 'unit_id', 'service_area_id', name=op.f('pk_dossier_counts'))
    )
    op.create_table('elements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('aspect_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('name_en', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['aspect_id'], ['aspects.id'], name=op.f('fk_elements_aspect_id_aspects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elements')),
    sa.UniqueConstraint('aspect_id', 'code', name=op.f('uq_elements_aspect_id_code'))
    )
    with op.batch_alter_table('elements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_elements_aspect_id'), ['aspect_id'], unique=False)

    op.create_table('responses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('desk_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('service_area_id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('exclusion_reason', sa.Text(), nullable=True),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.CheckConstraint("(status = 'counted' AND exclusion_reason IS NULL) OR (status = 'excluded' AND exclusion_reason IS NOT NULL)", name=op.f('ck_responses_exclusion_reason')),
    sa.CheckConstraint("channel IN ('qr', 'kiosk', 'web', 'paper')", name=op.f('ck_responses_channel')),
    sa.CheckConstraint("status IN ('counted', 'excluded')", name=op.f('ck_responses_status')),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_responses_desk_id_desks')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_responses_round_id_rounds')),
    sa.ForeignKeyConstraint(['service_area_id'], ['service_areas.id'], name=op.f('fk_responses_service_area_id_service_areas')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_responses_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responses')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_responses_idempotency_key'))
    )
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_responses_desk_id'), ['desk_id'], unique=False)
        batch_op.create_index('ix_responses_round_received', ['round_id', 'received_at'], unique=False)
        batch_op.create_index('ix_responses_round_unit_area', ['round_id', 'unit_id', 'service_area_id'], unique=False)

    op.create_table('round_units',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('target_responses', sa.Integer(), nullable=False),
    sa.Column('unit_name', sa.String(length=300), nullable=False),
    sa.CheckConstraint('target_responses >= 0', name=op.f('ck_round_units_target')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_round_units_round_id_rounds')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_round_units_unit_id_units')),
    sa.PrimaryKeyConstraint('round_id', 'unit_id', name=op.f('pk_round_units'))
    )
    op.create_table('items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('element_id', sa.Integer(), nullable=True),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('text_en', sa.Text(), nullable=False),
    sa.Column('scale', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('allow_na', sa.Boolean(), nullable=False),
    sa.Column('max_choices', sa.Integer(), nullable=True),
    sa.Column('satisfied_values', sa.JSON(), nullable=False),
    sa.Column('condition_item_id', sa.Integer(), nullable=True),
    sa.Column('condition_values', sa.JSON(), nullable=True),
    sa.CheckConstraint("role <> 'criterion' OR element_id IS NOT NULL", name=op.f('ck_items_criterion_element')),
    sa.CheckConstraint("role IN ('criterion', 'overall', 'priorities', 'comment', 'other')", name=op.f('ck_items_role')),
    sa.CheckConstraint("scale IN ('sat5', 'level4', 'onestop3', 'yesno', 'choice', 'text')", name=op.f('ck_items_scale')),
    sa.CheckConstraint('condition_item_id IS NULL OR condition_item_id <> id', name=op.f('ck_items_not_own_condition')),
    sa.CheckConstraint('max_choices IS NULL OR max_choices >= 1', name=op.f('ck_items_max_choices')),
    sa.ForeignKeyConstraint(['condition_item_id'], ['items.id'], name=op.f('fk_items_condition_item_id_items')),
    sa.ForeignKeyConstraint(['element_id'], ['elements.id'], name=op.f('fk_items_element_id_elements')),
    sa.ForeignKeyConstraint(['version_id'], ['template_versions.id'], name=op.f('fk_items_version_id_template_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_items')),
    sa.UniqueConstraint('version_id', 'code', name=op.f('uq_items_version_id_code'))
    )
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_items_element_id'), ['element_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_version_id'), ['version_id'], unique=False)

    op.create_table('answers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('response_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('not_applicable', sa.Boolean(), nullable=False),
    sa.CheckConstraint('(CASE WHEN value IS NULL THEN 0 ELSE 1 END) + (CASE WHEN text IS NULL THEN 0 ELSE 1 END) + (CASE WHEN not_applicable THEN 1 ELSE 0 END) = 1', name=op.f('ck_answers_one_kind')),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_answers_item_id_items')),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_answers_response_id_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answers')),
    sa.UniqueConstraint('response_id', 'item_id', 'value', name=op.f('uq_answers_response_id_item_id_value'))
    )
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answers_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_answers_response_id'), ['response_id'], unique=False)

    op.create_table('item_options',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=300), nullable=False),
    sa.Column('label_en', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_options_item_id_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_item_options')),
    sa.UniqueConstraint('item_id', 'value', name=op.f('uq_item_options_item_id_value'))
    )
    with op.batch_alter_table('item_options', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_options_item_id'), ['item_id'], unique=False)


    _create_audit_triggers()


AUDIT_MESSAGE = "audit_events is append-only"


def _create_audit_triggers():
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{AUDIT_MESSAGE}'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{AUDIT_MESSAGE}'); END"
            )


def _drop_audit_triggers():
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")

def downgrade():
    _drop_audit_triggers()
    with op.batch_alter_table('item_options', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_options_item_id'))

    op.drop_table('item_options')
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answers_response_id'))
        batch_op.drop_index(batch_op.f('ix_answers_item_id'))

    op.drop_table('answers')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_items_version_id'))
        batch_op.drop_index(batch_op.f('ix_items_element_id'))

    op.drop_table('items')
    op.drop_table('round_units')
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_index('ix_responses_round_unit_area')
        batch_op.drop_index('ix_responses_round_received')
        batch_op.drop_index(batch_op.f('ix_responses_desk_id'))

    op.drop_table('responses')
    with op.batch_alter_table('elements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_elements_aspect_id'))

    op.drop_table('elements')
    op.drop_table('dossier_counts')
    op.drop_table('desk_service_areas')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_occurred_at'))

    op.drop_table('audit_events')
    op.drop_table('users')
    op.drop_table('unit_service_areas')
    op.drop_table('rounds')
    with op.batch_alter_table('desks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_desks_unit_id'))

    op.drop_table('desks')
    with op.batch_alter_table('aspects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_aspects_version_id'))

    op.drop_table('aspects')
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_units_parent_id'))

    op.drop_table('units')
    op.drop_table('template_versions')
    op.drop_table('unit_levels')
    op.drop_table('templates')
    op.drop_table('service_areas')
