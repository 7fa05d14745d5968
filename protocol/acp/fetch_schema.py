"""Fetch the pinned official ACP JSON Schema into a local cache, verifying every byte.

Usage: ``python protocol/acp/fetch_schema.py [--dest DIR]``

The package, version and hashes come from ``schema.lock.json`` beside this file. The default
destination is ``<repo>/.cache/acp-schema/<version>/``; the schema ends up as ``DIR/schema.json``
and its path is printed on stdout. If that file already exists with the pinned sha256 nothing is
downloaded. Otherwise ``npm pack`` fetches the package tarball, whose npm integrity (sha512) is
checked before the single schema file is read out of it (never extracted to disk), checked
against its own sha256, and written atomically.

Standard library only: this runs before any virtualenv exists. Tests import it by path and call
``ensure_schema()``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess  # `npm pack` is the one way to get the pinned tarball (TID251 off here)
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

LOCK_PATH = Path(__file__).resolve().with_name("schema.lock.json")
REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILENAME = "schema.json"
NPM_TIMEOUT_SECONDS = 300
MAX_SCHEMA_BYTES = 32 * 1024 * 1024
LOCK_KEYS = ("package", "version", "tarball_integrity", "schema_path", "schema_sha256")


class SchemaFetchError(RuntimeError):
    """The pinned schema could not be provided; the message says why in one line."""


def load_lock(lock_path: Path = LOCK_PATH) -> dict[str, str]:
    """Read and check the lock file.

    Args:
        lock_path: The lock file to read.

    Returns:
        The lock entries, all strings.

    Raises:
        SchemaFetchError: The lock file is missing, not JSON or lacks an entry.
    """
    try:
        raw = json.loads(lock_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaFetchError(f"cannot read lock file {lock_path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise SchemaFetchError(f"lock file {lock_path} must hold a JSON object")
    lock: dict[str, str] = {}
    for key in LOCK_KEYS:
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            raise SchemaFetchError(f"lock file {lock_path} lacks a string {key!r}")
        lock[key] = value
    return lock


def default_dest(lock: dict[str, str]) -> Path:
    """Return the default cache directory for the locked version."""
    return REPO_ROOT / ".cache" / "acp-schema" / lock["version"]


def sha256_hex(data: bytes) -> str:
    """Return the hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def check_integrity(data: bytes, integrity: str) -> None:
    """Check ``data`` against an npm/SRI integrity string such as ``sha512-<base64>``.

    Every entry of a space-separated list must use a known algorithm, and one must match.

    Args:
        data: The tarball bytes.
        integrity: The integrity string from the lock.

    Raises:
        SchemaFetchError: The string is malformed or no entry matches.
    """
    entries = integrity.split()
    if not entries:
        raise SchemaFetchError("empty tarball_integrity in the lock file")
    for entry in entries:
        algorithm, sep, expected = entry.partition("-")
        if not sep or algorithm not in {"sha256", "sha384", "sha512"}:
            raise SchemaFetchError(f"unsupported integrity entry {entry!r} in the lock file")
        actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode("ascii")
        if actual == expected:
            return
    actual512 = base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    raise SchemaFetchError(
        f"tarball integrity mismatch: expected {integrity}, got sha512-{actual512}"
    )


def _cached_schema(target: Path, expected_sha256: str) -> bool:
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise SchemaFetchError(f"cannot read cached schema {target}: {exc}") from exc
    return sha256_hex(data) == expected_sha256


def _npm_pack(spec: str, workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise SchemaFetchError(
            f"npm is not on PATH; install Node.js with npm (e.g. `apt-get install npm`) "
            f"so `npm pack {spec}` can fetch the ACP schema"
        )
    command = [npm, "pack", spec, "--pack-destination", str(workdir), "--ignore-scripts"]
    try:
        result = subprocess.run(
            command,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise SchemaFetchError(f"`npm pack {spec}` timed out after {exc.timeout}s") from exc
    except OSError as exc:
        raise SchemaFetchError(f"cannot run npm ({npm}): {exc}") from exc
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("npm error")]
        detail = " | ".join(errors[:3] or lines[-5:])
        raise SchemaFetchError(
            f"`npm pack {spec}` failed with exit code {result.returncode}: {detail or 'no output'}"
        )
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise SchemaFetchError(
            f"`npm pack {spec}` produced {len(tarballs)} tarballs in {workdir}, expected 1"
        )
    return tarballs[0]


def _read_member(tarball: Path, member_path: str) -> bytes:
    """Read one regular file out of a gzipped tarball without extracting anything to disk."""
    try:
        with tarfile.open(tarball, mode="r:gz") as archive:
            try:
                member = archive.getmember(member_path)
            except KeyError as exc:
                raise SchemaFetchError(f"{member_path} is not in {tarball.name}") from exc
            if not member.isfile():
                raise SchemaFetchError(f"{member_path} in {tarball.name} is not a regular file")
            if member.size > MAX_SCHEMA_BYTES:
                raise SchemaFetchError(
                    f"{member_path} in {tarball.name} is {member.size} bytes, over the limit"
                )
            handle = archive.extractfile(member)
            if handle is None:
                raise SchemaFetchError(f"cannot read {member_path} from {tarball.name}")
            with handle:
                return handle.read(MAX_SCHEMA_BYTES + 1)
    except (OSError, tarfile.TarError) as exc:
        raise SchemaFetchError(f"cannot read {tarball.name}: {exc}") from exc


def _write_atomically(target: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o644)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ensure_schema(dest: Path | None = None) -> Path:
    """Make sure the pinned schema is at ``dest/schema.json`` and return that path.

    Args:
        dest: The cache directory; ``<repo>/.cache/acp-schema/<version>/`` when None.

    Returns:
        The path of the verified ``schema.json``.

    Raises:
        SchemaFetchError: npm is missing or failed, a hash did not match, or a write failed.
    """
    lock = load_lock()
    directory = default_dest(lock) if dest is None else Path(dest)
    target = directory / SCHEMA_FILENAME
    if _cached_schema(target, lock["schema_sha256"]):
        return target

    spec = f"{lock['package']}@{lock['version']}"
    with tempfile.TemporaryDirectory(prefix="acp-schema-") as tmp:
        tarball = _npm_pack(spec, Path(tmp))
        check_integrity(tarball.read_bytes(), lock["tarball_integrity"])
        data = _read_member(tarball, lock["schema_path"])

    actual = sha256_hex(data)
    if actual != lock["schema_sha256"]:
        raise SchemaFetchError(
            f"{lock['schema_path']} sha256 mismatch: expected {lock['schema_sha256']}, got {actual}"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, data)
    except OSError as exc:
        raise SchemaFetchError(f"cannot write {target}: {exc}") from exc
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--dest",
        type=Path,
        default=None,
        help="cache directory (default: <repo>/.cache/acp-schema/<version>/)",
    )
    args = parser.parse_args(argv)
    try:
        path = ensure_schema(args.dest)
    except SchemaFetchError as exc:
        print("fetch_schema: " + " ".join(str(exc).split()), file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
