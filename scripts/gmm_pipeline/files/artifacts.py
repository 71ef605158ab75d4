"""Writing and reading artifacts: atomic, deterministic, hashed."""

import contextlib
import csv
import functools
import hashlib
import io
import itertools
import json
import math
import os
import tempfile
from pathlib import Path

from ..errors import PipelineInputError

_HASH_CHUNK = 1 << 20
# What is read of a text file to find its header and sample its rows: never the whole file.
HEAD_BYTES = 1 << 20
# Compressed files a user may name .csv, by their first bytes (none of which is text).
_COMPRESSED = (
    (b"\x1f\x8b", "gzip", "decompress it with gunzip"),
    (b"PK\x03\x04", "zip", "extract it with unzip"),
    (b"\xfd7zXZ\x00", "xz", "decompress it with unxz"),
    (b"\x28\xb5\x2f\xfd", "zstd", "decompress it with unzstd"),
)
# Table columns that measure the run (wall-clock time), not the data: the only values that
# may differ between two runs of the same config.
TIMING_COLUMNS = ("fit_seconds",)


def current_umask():
    """This process's umask, read without changing it (``/proc``), else by setting it back."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def sha256_file(path):
    """Return the hex SHA-256 digest of a file's bytes."""
    return _digest_and_lines(path)[0]


def text_rows(path):
    """How many rows a CSV file holds below its header: its line count less one (a last
    line without a line end counts). A quoted field that spans lines counts as more."""
    return max(_digest_and_lines(path)[1] - 1, 0)


def _digest_and_lines(path):
    """SHA-256 of a file's bytes and its line count, in one pass of bounded memory; kept
    for the file's size and modification time, so planning reads a user's file once."""
    status = os.stat(path)
    return _digest_and_lines_of(os.path.abspath(path), status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _digest_and_lines_of(path, size, mtime_ns):
    digest, lines, last = hashlib.sha256(), 0, b"\n"
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return digest.hexdigest(), lines + (last != b"\n")


@contextlib.contextmanager
def atomic_open(path, mode="wb", **kwargs):
    """Open ``path`` for writing so that readers never see a partial file.

    Writes go to a temporary file in the same folder, which is renamed over ``path`` when
    the block ends; a crash leaves either the old file or the new one, never half of one.
    The file gets the permissions the umask gives a new file (the temporary file is
    created private, 0600, and opened up just before the rename).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.filename is None:
            err.filename = str(path)  # a full disk names the artifact, not nothing
        raise


def write_bytes_atomic(path, data):
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as handle:
        handle.write(data)


def write_json(path, payload):
    """Write ``payload`` as indented JSON; NaN and infinity are refused, not written."""
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


# A table file with one of these suffixes is Parquet; any other is CSV.
PARQUET_SUFFIXES = (".parquet", ".pq")


def read_json(path, max_bytes=None):
    """Read a JSON file strictly.

    Refuses what Python's parser would otherwise let through: the NaN/Infinity
    extensions, numbers too large for a float (``1e400`` would read as infinity),
    duplicate keys (the last one would silently win), and nesting deep enough to
    exhaust the stack. Every refusal is a ``ValueError`` naming the problem.

    Parameters
    ----------
    path : str or Path
        The file to read.
    max_bytes : int, optional
        Refuse a file larger than this without reading it.
    """
    if max_bytes is not None:
        size = os.stat(path).st_size
        if size > max_bytes:
            raise ValueError(f"the file has {size:,} bytes, more than the {max_bytes:,} allowed")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_refuse_duplicate_keys,
        )
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of a float's range")
    return value


def _refuse_duplicate_keys(pairs):
    record = dict(pairs)
    if len(record) != len(pairs):
        seen = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"key {duplicate!r} appears more than once in one object")
    return record


def write_csv(path, frame):
    """Write a DataFrame as CSV without its index.

    Floats are written in their shortest round-trip form, so reading the file back gives
    exactly the same numbers.
    """
    # Streamed to the file: a million-row table never sits in memory as one string.
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, index=False, lineterminator="\n")


def text_head(path, limit=HEAD_BYTES, errors="strict"):
    """The complete lines in the first ``limit`` bytes of a text file, decoded as UTF-8.

    Reads at most ``limit`` bytes whatever the file holds, so a huge file (or one with no
    line end at all) costs no more memory than a small one. A file that fits in ``limit``
    is returned whole.

    Raises
    ------
    PipelineInputError
        Naming the file, if it is compressed, not UTF-8 text (with ``errors="strict"``), or
        has no line end in its first ``limit`` bytes.
    """
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    for magic, kind, remedy in _COMPRESSED:
        if data.startswith(magic):
            raise PipelineInputError(
                f"{path}: the file is {kind}-compressed; expected plain CSV text ({remedy})"
            )
    if len(data) > limit:
        end = data.rfind(b"\n", 0, limit)
        if end < 0:
            raise PipelineInputError(
                f"{path}: no line end in the first {limit:,} bytes; expected CSV text, a header row "
                f"and one row per line"
            )
        data = data[: end + 1]
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as err:
        raise PipelineInputError(
            f"{path}: byte {data[err.start]:#04x} at offset {err.start:,} is not UTF-8; expected a "
            f"UTF-8 CSV file (a Latin-1 file converts with `iconv -f latin1 -t utf-8`)"
        ) from None


def csv_header(path, errors="strict"):
    """A CSV file's header row as written (pandas would rename a repeated name "x" to
    "x.1" and an empty one to "Unnamed: 0"), read from the file's head alone
    (:func:`text_head`, whose errors it raises). ``errors`` is the UTF-8 decoding's."""
    return first_csv_row(text_head(path, errors=errors), path)


def first_csv_row(text, path):
    """The first row of CSV ``text`` (the head of file ``path``, which errors name)."""
    try:
        return next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as err:
        raise PipelineInputError(f"{path}: the header row cannot be read as CSV ({err})") from None


def timing_columns(path):
    """The ``TIMING_COLUMNS`` a CSV artifact's header holds (none for other files, and none
    for a user's file that is not readable CSV: its bytes are hashed as they are)."""
    if Path(path).suffix != ".csv":
        return []
    try:
        header = csv_header(path, errors="replace")
    except PipelineInputError:
        return []
    return [column for column in TIMING_COLUMNS if column in header]


def content_sha256(path):
    """SHA-256 of what a file says about the data: its bytes, or for a table with timing
    columns, its rows without those columns (so the hash is the same on every run).

    Returns
    -------
    digest : str
    excluded : list of str
        The timing columns left out of the hash (empty for an ordinary file).
    """
    excluded = timing_columns(path)
    if not excluded:
        return sha256_file(path), []
    digest = hashlib.sha256()
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows)
        keep = [index for index, name in enumerate(header) if name not in excluded]
        for row in itertools.chain([header], rows):
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerow([row[index] for index in keep])
            digest.update(buffer.getvalue().encode("utf-8"))
    return digest.hexdigest(), excluded
