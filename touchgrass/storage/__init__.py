"""Where images live, behind one small interface (`Storage`): the API writes, generate reads."""

from touchgrass.settings import StorageSettings
from touchgrass.storage.base import ObjectInfo, Storage, image_key
from touchgrass.storage.filesystem import FilesystemStorage
from touchgrass.storage.s3 import S3Storage

__all__ = ["FilesystemStorage", "ObjectInfo", "S3Storage", "Storage", "image_key", "open_storage"]


def open_storage(settings: StorageSettings) -> Storage:
    """The configured backend: S3 when `MINIO_ENDPOINT` is set, else the filesystem."""
    if settings.minio_endpoint:
        assert settings.minio_root_user and settings.minio_root_password  # settings checked
        return S3Storage(
            settings.minio_endpoint, settings.minio_root_user,
            settings.minio_root_password.get_secret_value(), settings.minio_bucket,
            region=settings.minio_region, create_bucket=settings.minio_create_bucket,
        )
    return FilesystemStorage(settings.storage_dir)
