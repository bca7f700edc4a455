"""The contact list's free-text search can be served by the pg_trgm index of migration contacts/0002.

With a few hundred contacts the planner rightly prefers the account's B-tree indexes (at 100,000 it
takes the trigram index: bench/bench_contact_search.py prints the plans). To prove the search's
expressions match the index, the test hides every other way in: the table's other indexes are
dropped inside the test's transaction (rolled back afterwards) and sequential scans are disabled.
"""

from django.db import connection

from contacts.models import Contact
from contacts.selectors import contact_search

OTHER_INDEXES = """
    SELECT i.indexrelid::regclass::text, c.conname
    FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid
    WHERE i.indrelid = 'contacts_contact'::regclass
      AND i.indexrelid::regclass::text NOT IN ('contacts_contact_pkey', 'contact_search_trgm')
"""


def test_text_search_expressions_are_the_trigram_indexs(account):
    Contact.objects.bulk_create(
        Contact(account=account, email=f"p{index}@example.com", name="Ana", surname=f"Surname{index}")
        for index in range(300)
    )
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no ALTER TABLE with deferred checks pending
        cursor.execute(OTHER_INDEXES)
        for index, constraint in cursor.fetchall():
            if constraint:
                cursor.execute(f'ALTER TABLE contacts_contact DROP CONSTRAINT "{constraint}" CASCADE')
            else:
                cursor.execute(f"DROP INDEX {index}")
        cursor.execute("ANALYZE contacts_contact")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    search = contact_search(account=account, query="surname123").order_by("id")[:51]
    assert "Bitmap Index Scan on contact_search_trgm" in search.explain()
    assert [contact.surname for contact in search] == ["Surname123"]
