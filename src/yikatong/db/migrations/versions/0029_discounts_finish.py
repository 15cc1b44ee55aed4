"""discounts: rebates to bank accounts (one row per card and sponsor credited through the bank);
eligibility with one meaning per condition

Revision ID: 0029
Revises: 0028

The stored campaigns are brought to the conditions as they now read (discounts/rules.py):
eligibility `bank_codes` (the partner bank's card) is `card_kinds`; the tap conditions (`modes`,
`lines`, `operators`) that eligibility accepted and never applied move into a transit rebate's
rule, where they apply, and are dropped elsewhere (they never applied); an eligibility or a
rule `card_kinds` holding what a validator reads (social_security / city_card), never applied
to a holder, is dropped (every card in the registry is a social security card). A transit rebate's rule says where its
rebates go, `credit_to: wallet` for the campaigns made before (where they went).
"""

import sqlalchemy as sa
from alembic import op

import yikatong.db.base

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

TAP_FIELDS = ("operators", "modes", "lines")
TAP_CARD_KINDS = {"social_security", "city_card"}


def upgrade() -> None:
    op.create_table('discount_rebate_account_credits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.String(length=32), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.String(length=64), nullable=False),
    sa.Column('asn', sa.String(length=20), nullable=False),
    sa.Column('issuer_id', sa.String(length=16), nullable=False),
    sa.Column('card_no', sa.String(length=9), nullable=False),
    sa.Column('bank_code', sa.String(length=16), nullable=False),
    sa.Column('pan', sa.String(length=19), nullable=False),
    sa.Column('sponsor_code', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('bank_reference', sa.String(length=64), nullable=True),
    sa.Column('reason_code', sa.String(length=48), nullable=True),
    sa.Column('reason_zh', sa.Text(), nullable=True),
    sa.Column('reason_en', sa.Text(), nullable=True),
    sa.Column('order_no', sa.String(length=32), nullable=True),
    sa.Column('created_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_at', yikatong.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discount_rebate_account_credits')),
    sa.UniqueConstraint('request_id', name=op.f('uq_discount_rebate_account_credits_request_id'))
    )
    op.create_index(op.f('ix_discount_rebate_account_credits_batch_id'), 'discount_rebate_account_credits',
                    ['batch_id'], unique=False)
    op.create_index('ix_discount_rebate_account_credits_state', 'discount_rebate_account_credits', ['state'],
                    unique=False)
    _conditions_with_one_meaning()


def _conditions_with_one_meaning() -> None:
    campaigns = sa.table("discount_campaigns", sa.column("id", sa.Integer), sa.column("kind", sa.String),
                         sa.column("rule", sa.JSON), sa.column("eligibility", sa.JSON))
    connection = op.get_bind()
    for row in connection.execute(sa.select(campaigns.c.id, campaigns.c.kind, campaigns.c.rule,
                                            campaigns.c.eligibility)).all():
        rule, eligibility = dict(row.rule or {}), dict(row.eligibility or {})
        new_rule, new_eligibility = dict(rule), dict(eligibility)
        if new_eligibility.get("card_kinds") and set(new_eligibility["card_kinds"]) <= TAP_CARD_KINDS:
            del new_eligibility["card_kinds"]
        if "bank_codes" in new_eligibility:
            banks = new_eligibility.pop("bank_codes")
            if banks:
                new_eligibility["card_kinds"] = banks
        for name in TAP_FIELDS:
            values = new_eligibility.pop(name, None)
            if values and row.kind == "transit_rebate" and not new_rule.get(name):
                new_rule[name] = values
        new_rule.pop("card_kinds", None)
        if row.kind == "transit_rebate":
            new_rule.setdefault("credit_to", "wallet")  # what they did: rules.check_rule's default
        if (new_rule, new_eligibility) != (rule, eligibility):
            connection.execute(sa.update(campaigns).where(campaigns.c.id == row.id)
                               .values(rule=new_rule, eligibility=new_eligibility))


def downgrade() -> None:
    op.drop_index('ix_discount_rebate_account_credits_state', table_name='discount_rebate_account_credits')
    op.drop_index(op.f('ix_discount_rebate_account_credits_batch_id'), table_name='discount_rebate_account_credits')
    op.drop_table('discount_rebate_account_credits')
