"""Images, in one place: where they are stored (`Storage`: S3-compatible storage or a folder;
the API writes, generate reads) and how stored images and their rows are kept in step
(`sync`: no row without its image, no image without its row, whatever fails in between).
The `pending_images` table behind `sync` is store/pending_images.py, like every table."""

from touchgrass.images.base import ObjectInfo, Storage, image_key
from touchgrass.images.filesystem import FilesystemStorage
from touchgrass.images.s3 import S3Storage
from touchgrass.images.sync import SWEEP_GRACE_S, holds, release, store_with_row, sweep
from touchgrass.settings import StorageSettings

__all__ = ["SWEEP_GRACE_S", "FilesystemStorage", "ObjectInfo", "S3Storage", "Storage",
           "holds", "image_key", "open_storage", "release", "store_with_row", "sweep"]


def open_storage(settings: StorageSettings) -> Storage:
    """The configured backend: S3 when `MINIO_ENDPOINT` is set, else the filesystem."""
    if settings.minio_endpoint:
        assert settings.minio_root_user and settings.minio_root_password  # settings checked
        return S3Storage(
            settings.minio_endpoint, settings.minio_root_user,
            settings.minio_root_password.get_secret_value(), settings.minio_bucket,
            region=settings.minio_region, create_bucket=settings.minio_create_bucket,
            pool_size=settings.minio_pool_size, timeout_s=settings.minio_timeout_s,
        )
    return FilesystemStorage(settings.storage_dir)
