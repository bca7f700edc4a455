"""django-q2 entry points for contacts: fetch by id, call the service."""

import logging

from contacts.importing import contact_import_run
from contacts.models import ContactImport, ImportStatus

logger = logging.getLogger(__name__)


def run_contact_import(import_id: int) -> dict[str, int | str] | None:
    """Run a queued import. A finished or failed import is left alone, so a redelivered task is harmless;
    a running one is run again, as its transaction died with the worker that ran it."""
    contact_import = ContactImport.objects.select_related("account").filter(pk=import_id).first()
    if contact_import is None:
        logger.warning("Contact import %s no longer exists", import_id)
        return None
    if contact_import.status in (ImportStatus.FINISHED, ImportStatus.FAILED):
        return {"status": contact_import.status}
    contact_import_run(contact_import=contact_import)
    return {
        "status": contact_import.status,
        "created": contact_import.created_count,
        "updated": contact_import.updated_count,
        "errors": contact_import.error_count,
    }
