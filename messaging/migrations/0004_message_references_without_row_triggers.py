"""Message's foreign keys lose their per-row constraint triggers; statement-level triggers on the
referenced tables keep the database's guarantees (see Message in messaging/models.py).

- contacts_contact AFTER DELETE: messages of the deleted contacts get contact_id NULL (what
  on_delete=SET_NULL does through the ORM, now also for any other DELETE).
- campaigns_sending / accounts_account AFTER DELETE: refused with foreign_key_violation while
  messages still reference the deleted rows (what the NO ACTION constraint did). Django's delete
  collector removes the messages first, so ORM deletes cascade exactly as before.

The triggers run once per DELETE statement, never on message inserts. PostgreSQL only.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD_SQL = [
    """
    CREATE OR REPLACE FUNCTION messaging_contacts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE messaging_message SET contact_id = NULL
        WHERE contact_id IN (SELECT id FROM deleted_rows);
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER messaging_message_contact_set_null AFTER DELETE ON contacts_contact
    REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT EXECUTE FUNCTION messaging_contacts_deleted()
    """,
    """
    CREATE OR REPLACE FUNCTION messaging_sendings_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM messaging_message WHERE sending_id IN (SELECT id FROM deleted_rows)) THEN
            RAISE foreign_key_violation USING MESSAGE = 'deleted sendings still have messages';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER messaging_message_sending_restrict AFTER DELETE ON campaigns_sending
    REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT EXECUTE FUNCTION messaging_sendings_deleted()
    """,
    """
    CREATE OR REPLACE FUNCTION messaging_accounts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM messaging_message WHERE account_id IN (SELECT id FROM deleted_rows)) THEN
            RAISE foreign_key_violation USING MESSAGE = 'deleted accounts still have messages';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER messaging_message_account_restrict AFTER DELETE ON accounts_account
    REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT EXECUTE FUNCTION messaging_accounts_deleted()
    """,
]

BACKWARD_SQL = [
    "DROP TRIGGER IF EXISTS messaging_message_contact_set_null ON contacts_contact",
    "DROP TRIGGER IF EXISTS messaging_message_sending_restrict ON campaigns_sending",
    "DROP TRIGGER IF EXISTS messaging_message_account_restrict ON accounts_account",
    "DROP FUNCTION IF EXISTS messaging_contacts_deleted()",
    "DROP FUNCTION IF EXISTS messaging_sendings_deleted()",
    "DROP FUNCTION IF EXISTS messaging_accounts_deleted()",
]


def _run(statements: list[str]):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_account_event_notification_url_and_more"),
        ("campaigns", "0004_fanout_chunk"),
        ("contacts", "0001_initial"),
        ("messaging", "0003_outbox_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="message",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="messages",
                to="accounts.account",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="contact",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="messages",
                to="contacts.contact",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="sending",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="messages",
                to="campaigns.sending",
            ),
        ),
        migrations.RunPython(_run(FORWARD_SQL), _run(BACKWARD_SQL)),
    ]
