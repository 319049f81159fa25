"""Operators' use cases: verify and migrate body storage, purge, export and import, seed.

These are services (the management commands are thin shells around them). Each one streams
over the database in chunks and over storage in listing order, so memory stays flat with
millions of messages. One module per job; the names the commands use are here.
"""

from messages_app.operations.common import CHUNK, Progress
from messages_app.operations.export import ExportFailed, messages_export
from messages_app.operations.importing import (
    IMPORT_MAX_ID,
    ImportRefused,
    import_id_max,
    import_version_max,
    messages_import,
)
from messages_app.operations.purge import PurgeReport, message_purge_deleted
from messages_app.operations.seed import messages_seed
from messages_app.operations.storage import (
    ORPHAN_GRACE_SECONDS,
    MigrationReport,
    StorageFinding,
    StorageReport,
    StorageUnreachable,
    storage_delete_orphans,
    storage_migrate,
    storage_repair_checksums,
    storage_verify,
)

__all__ = [
    "CHUNK",
    "IMPORT_MAX_ID",
    "ORPHAN_GRACE_SECONDS",
    "ExportFailed",
    "ImportRefused",
    "MigrationReport",
    "Progress",
    "PurgeReport",
    "StorageFinding",
    "StorageReport",
    "StorageUnreachable",
    "import_id_max",
    "import_version_max",
    "message_purge_deleted",
    "messages_export",
    "messages_import",
    "messages_seed",
    "storage_delete_orphans",
    "storage_migrate",
    "storage_repair_checksums",
    "storage_verify",
]
