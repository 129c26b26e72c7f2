"""Where images live, behind one small interface (`Storage`): the API writes, generate reads."""

from touchgrass.errors import NotAvailableError
from touchgrass.settings import StorageSettings
from touchgrass.storage.base import Storage, image_key
from touchgrass.storage.filesystem import FilesystemStorage

__all__ = ["FilesystemStorage", "Storage", "image_key", "open_storage"]


def open_storage(settings: StorageSettings) -> Storage:
    """The configured backend: S3 when `MINIO_ENDPOINT` is set, else the filesystem."""
    if settings.minio_endpoint:
        raise NotAvailableError(
            "S3 storage (MINIO_ENDPOINT) is not part of this build yet; unset MINIO_ENDPOINT "
            "to use the filesystem (STORAGE_DIR)"
        )
    return FilesystemStorage(settings.storage_dir)
