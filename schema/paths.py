"""Local paths and remote URIs (gs://, s3://, hdfs://): which is which, and a filesystem for
either. Local paths use Python's own functions, so listing a local dataset or reading a local
schema imports no TensorFlow; URIs go through TFX's filesystem layer (TensorFlow's gfile)."""
import os


def is_remote(path) -> bool:
    """A URI (gs://, s3://, hdfs://...) rather than a path on this machine."""
    return "://" in str(path)


class _LocalFilesystem:
    """The subset of tfx.dsl.io.fileio that the listing and the schema reader use."""
    open = staticmethod(open)
    makedirs = staticmethod(lambda path: os.makedirs(path, exist_ok=True))  # as fileio's
    exists = staticmethod(os.path.exists)
    isdir = staticmethod(os.path.isdir)
    listdir = staticmethod(os.listdir)
    walk = staticmethod(os.walk)


def filesystem(path):
    """tfx.dsl.io.fileio for a URI, the local filesystem otherwise."""
    if is_remote(path):
        from tfx.dsl.io import fileio
        return fileio
    return _LocalFilesystem


def shown(path: str) -> str:
    """A path as a user can paste it: relative to the working folder when below it."""
    if is_remote(path):
        return path
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
