"""A trigram index for the contact list's free-text search (contacts.selectors.contact_search).

`name__icontains` and friends are `UPPER(col::text) LIKE UPPER('%text%')`: no B-tree can serve a
pattern that starts with `%`, so without this index every search reads all the account's contacts.
One GIN index over the three searched expressions (pg_trgm's gin_trgm_ops) lets PostgreSQL answer
each arm of the OR from the index and combine them (BitmapOr).

PostgreSQL only, and kept out of Contact.Meta on purpose: the quick start runs on SQLite, which has
neither GIN nor pg_trgm, and an index in the model state would be recreated there whenever SQLite
rebuilds the table. Written as SQL because Django's GinIndex + OpClass on expressions needs
django.contrib.postgres in INSTALLED_APPS, which nothing else here needs. Built CONCURRENTLY so a
deploy does not block writes to a big contacts table.
"""

from django.db import migrations

INDEX_NAME = "contact_search_trgm"
# The same expressions as the icontains lookups (PostgreSQL reads UPPER(varchar) as
# UPPER(varchar::text)), so the planner matches them.
SEARCHED_COLUMNS = ("name", "surname", "external_id")


def search_index_create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    table = quote(apps.get_model("contacts", "Contact")._meta.db_table)
    expressions = ", ".join(f"UPPER({quote(column)}) gin_trgm_ops" for column in SEARCHED_COLUMNS)
    # Going back leaves the extension in place: harmless, and maybe used by something else.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {quote(INDEX_NAME)} ON {table} USING gin ({expressions})"
    )


def search_index_drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(INDEX_NAME)}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("contacts", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(search_index_create, search_index_drop, elidable=False),
    ]
