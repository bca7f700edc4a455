"""Contact deletes wait for the fan-out chunks of their account that are being written.

Without a foreign-key constraint on Message.contact (0004), a chunk that read a contact before
its DELETE committed could commit messages after the delete's trigger had set the contact's
messages NULL, leaving a dangling contact_id. Each chunk holds the shared advisory lock
(campaigns.fanout.FANOUT_CONTACTS_LOCK, account id) for its transaction; the trigger takes the
same lock exclusively before its UPDATE, so it runs after those chunks commit and, in READ
COMMITTED, its UPDATE sees their messages. A chunk that starts later waits for the delete to
commit and no longer sees the contact. Cost: one lock per chunk, none per row (locking the
contact rows FOR KEY SHARE instead cost a third of the fan-out's database time on a million
contacts).
"""

from django.db import migrations

# The lock's first key, 1836279601, is campaigns.fanout.FANOUT_CONTACTS_LOCK.
FORWARD_SQL = """
CREATE OR REPLACE FUNCTION messaging_contacts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1836279601, account_id::integer)
    FROM (SELECT DISTINCT account_id FROM deleted_rows ORDER BY account_id) AS accounts;
    UPDATE messaging_message SET contact_id = NULL
    WHERE contact_id IN (SELECT id FROM deleted_rows);
    RETURN NULL;
END $$
"""

BACKWARD_SQL = """
CREATE OR REPLACE FUNCTION messaging_contacts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE messaging_message SET contact_id = NULL
    WHERE contact_id IN (SELECT id FROM deleted_rows);
    RETURN NULL;
END $$
"""


def _run(statement: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("messaging", "0004_message_references_without_row_triggers")]

    operations = [migrations.RunPython(_run(FORWARD_SQL), _run(BACKWARD_SQL))]
