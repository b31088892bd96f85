"""Where dataset files are found, and how a missing one is downloaded safely.

Search order for every file (each loader documents its own folder name, e.g. ``mnist``):

1. the ``path`` argument of ``load_data`` (explicit: nothing else is tried when it is given),
2. ``$GLASSNET_DATA/<folder>/<file>`` (a folder laid out like ``shared/data``),
3. the cache ``$GLASSNET_HOME/<folder>/<file>`` (``$GLASSNET_HOME`` defaults to ``~/.glassnet/datasets``),
4. a download from the first mirror that answers, verified before it enters the cache.

A download goes to a temporary file in the cache folder, its SHA-256 is compared with the
published value, and only then is it renamed into place (``os.replace`` is atomic), so the cache
never holds a partial or unverified file. A cached file whose hash no longer matches is deleted
and downloaded once more. Files found through ``path`` or ``$GLASSNET_DATA`` are trusted as the
user's own copies and are not hashed; the parsers validate their contents instead.
"""
import hashlib
import http.client
import os
import pathlib
import shutil
import tarfile
import tempfile
import urllib.request

TIMEOUT = 10.0  # seconds per socket operation: offline machines fail fast instead of hanging
_CHUNK = 1 << 20


class DatasetFileError(ValueError):
    """A dataset file is malformed, truncated, unsafe, or fails its SHA-256 check."""


class DatasetUnavailableError(OSError):
    """A dataset file is neither on disk nor downloadable (offline, or every mirror failed)."""


def data_dir():
    """``$GLASSNET_DATA`` as a path, or None when unset (a folder laid out like ``shared/data``)."""
    value = os.environ.get("GLASSNET_DATA")
    return pathlib.Path(value).expanduser() if value else None


def cache_dir():
    """The download cache: ``$GLASSNET_HOME`` or ``~/.glassnet/datasets`` (not created here)."""
    value = os.environ.get("GLASSNET_HOME")
    return pathlib.Path(value).expanduser() if value else pathlib.Path.home() / ".glassnet" / "datasets"


def sha256_of(path):
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def find_local(folder, names, extra_dirs=()):
    """First existing file among ``names`` in ``$GLASSNET_DATA/<folder>``, ``extra_dirs``, then the cache.

    Returns ``(path, trusted)``: ``trusted`` is False only for a file from the cache, which the
    caller must check against its published hash. Returns ``(None, False)`` when nothing exists.
    """
    dirs = []
    if data_dir() is not None:
        dirs.append((data_dir() / folder, True))
    dirs.extend((pathlib.Path(d), True) for d in extra_dirs)
    dirs.append((cache_dir() / folder, False))
    for directory, trusted in dirs:
        for name in names:
            if (directory / name).is_file():
                return directory / name, trusted
    return None, False


def fetch(filename, mirrors, sha256, folder, timeout=None):
    """Path of a verified copy of ``filename`` in the cache, downloading it if needed.

    Tries ``mirror + filename`` for each mirror in order; a network error or a hash mismatch
    moves on to the next mirror. A cached copy with the wrong hash is deleted first.

    Raises:
        DatasetFileError: every mirror answered, but no answer had the published SHA-256.
        DatasetUnavailableError: no mirror could be reached; the message says how to place the
            file by hand.
    """
    target = cache_dir() / folder / filename
    if target.is_file():
        if sha256_of(target) == sha256:
            return target
        target.unlink()  # corrupted or tampered with: download it once more
    target.parent.mkdir(parents=True, exist_ok=True)
    failures, mismatches = [], 0
    for mirror in mirrors:
        url = mirror + filename
        try:
            got = _download_verified(url, target, sha256, timeout or TIMEOUT)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
            continue
        if got == sha256:
            return target
        mismatches += 1
        failures.append(f"{url}: sha256 mismatch (got {got})")
    tried = "\n  ".join(failures) or "(no mirrors configured)"
    if mismatches and mismatches == len(mirrors):
        raise DatasetFileError(f"every download of {filename} failed its sha256 check "
                               f"(expected {sha256}):\n  {tried}")
    raise DatasetUnavailableError(
        f"could not download {filename} (sha256 {sha256}); tried:\n  {tried}\n"
        f"To use it offline, place the file at {target} (it is checked against that sha256), "
        f"or set GLASSNET_DATA to a folder holding {folder}/{filename}.")


def _download_verified(url, target, sha256, timeout):
    """Stream ``url`` into a temp file beside ``target``; rename it into place only if it hashes to ``sha256``.

    Returns the hex digest received (the file is left in place only when it equals ``sha256``).
    """
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(_CHUNK), b""):
                digest.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() == sha256:
            os.replace(tmp, target)
        return digest.hexdigest()
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def safe_extract_tar(archive, destination):
    """Extract a tar archive into ``destination``, admitting only plain files and folders.

    Every member is checked before anything is written: absolute names, ``..`` components,
    links (symbolic or hard) and device files raise DatasetFileError. The archive is extracted
    into a temporary folder that is renamed to ``destination`` at the end, so a failure leaves
    nothing half-extracted.
    """
    destination = pathlib.Path(destination)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                parts = pathlib.PurePosixPath(m.name).parts
                if m.name.startswith(("/", "\\")) or ".." in parts or ":" in m.name:
                    raise DatasetFileError(f"{archive}: unsafe member name {m.name!r} (absolute or '..')")
                if not (m.isfile() or m.isdir()):
                    raise DatasetFileError(f"{archive}: member {m.name!r} is a link or special file; "
                                           "only plain files and folders are allowed")
            tmp = pathlib.Path(tempfile.mkdtemp(prefix=destination.name + ".", dir=destination.parent))
            try:
                for m in members:
                    out = tmp.joinpath(*pathlib.PurePosixPath(m.name).parts)
                    if m.isdir():
                        out.mkdir(parents=True, exist_ok=True)
                        continue
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(m) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
                if destination.exists():
                    shutil.rmtree(destination)
                os.replace(tmp, destination)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp)
    except (tarfile.TarError, EOFError) as exc:
        raise DatasetFileError(f"{archive}: not a readable tar archive ({exc})") from exc
    return destination
