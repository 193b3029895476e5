"""The local list store, in docker's own layout (`<config dir>/manifests/<list>/<entry>`), so
a list moves freely between `docker manifest` and manifestor. Unlike docker's store it keeps
the user's entry order, replaces a whole list atomically and lets writers take a lock.

A list is replaced by swapping directories with renameat2(RENAME_EXCHANGE), so there is
no moment without it. Where the kernel or filesystem cannot, two renames are journalled
and the next run that opens the store puts back what an interrupted one left."""

from __future__ import annotations

import base64
import binascii
import errno
import fcntl
import hashlib
import itertools
import json
import os
import re
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manifestor.errors import (
    CorruptListError,
    EntryNotFoundError,
    ListExistsError,
    ListNotFoundError,
    ManifestorError,
    StoreError,
)
from manifestor.local.keychain import docker_config_dir
from manifestor.model.gojson import go_compact, go_json
from manifestor.model.oci import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Descriptor,
    parse_manifest,
    sha256_digest,
)
from manifestor.model.platform import Platform
from manifestor.model.reference import Reference, parse_reference

MANIFESTS_DIR = "manifests"
# Dot-dirs directly under the root: docker reads every file inside a list directory as an
# entry, but never looks at these.
TMP_DIR = ".manifestor-tmp"
LOCK_DIR = ".manifestor-locks"
CONFIG_LOCK = "config.json.lock"
# Extra entry keys; Go's json ignores unknown fields, so docker reads our files unchanged.
LIST_KEY = "manifestorList"
ORDER_KEY = "manifestorOrder"
# The repository the entry's manifest was read from when it was stored: proof that it was
# there, so a push into that repository need not ask again.
READ_FROM_KEY = "manifestorReadFrom"
# docker's embedded copy of the manifest, by media type (types.ImageManifest field names).
PAYLOAD_KEYS = {DOCKER_MANIFEST: "SchemaV2Manifest", OCI_MANIFEST: "OCIManifest"}

# Most filesystems limit one name to 255 bytes; docker would fail with ENAMETOOLONG.
_MAX_NAME_BYTES = 255
# decode_store_name tries 2**underscores spellings (times the dashes); past this, it gives up.
_MAX_DECODED_UNDERSCORES = 10
_DIR_MODE = 0o755
_FILE_MODE = 0o644

# Whitespace between JSON tokens, skipped when reading an entry's members.
_SPACE = re.compile(r"[ \t\n\r]*")
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
# The fallback swap's journal in TMP_DIR: swap-<key>.list names the list directory,
# swap-<key>.old is the old list while it is out of place.
_SWAP_PREFIX = "swap-"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_STALE_AFTER = 3600.0
_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM}


def _load_renameat2() -> Any:
    # ctypes is loaded here, when a list is first swapped, not by every command that
    # reads the store.
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not glibc >= 2.28, or not Linux
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    function.argtypes += [ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_NOT_LOADED = object()
# renameat2(2) through libc, or None where there is none; loaded on first use.
_renameat2: Any = _NOT_LOADED


def exchange_paths(first: Path, second: Path) -> bool:
    """Swap two existing paths in one atomic step. False when this system cannot (no
    renameat2, or a filesystem without RENAME_EXCHANGE); other failures raise OSError."""
    global _renameat2
    if _renameat2 is _NOT_LOADED:
        _renameat2 = _load_renameat2()
    if _renameat2 is None:
        return False
    result = _renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    import ctypes  # loaded by _load_renameat2 already

    code = ctypes.get_errno()
    if code in _NO_EXCHANGE:
        return False
    raise OSError(code, os.strerror(code), str(second))


@dataclass(frozen=True)
class StoredEntry:
    """One image of a local list.

    `raw` is None only for entries docker wrote without exact bytes (the pre-2023 formats);
    re-fetch those by `descriptor.digest`, whose `size` is then 0 if the file did not say."""

    ref: str
    descriptor: Descriptor
    raw: bytes | None
    order: int | None = None
    read_from: str | None = None


@dataclass(frozen=True)
class StoredList:
    """A local list. `made_by_docker`: no entry carries manifestor's keys, so the order is
    docker's (sorted file names)."""

    name: str
    entries: tuple[StoredEntry, ...]
    made_by_docker: bool


@dataclass(frozen=True)
class ListSummary:
    """One line of `ls`: the list's name (or docker's encoded directory name when docker made
    it, since that encoding cannot be decoded), its entry count, and why it is unreadable."""

    name: str
    entries: int
    corrupt: str | None


@dataclass(frozen=True)
class _EntryFile:
    filename: str
    entry: StoredEntry
    list_name: str | None


class _Unreadable(Exception):
    """Why one entry file cannot be read; becomes part of a CorruptListError."""


def docker_store_name(reference: str) -> str:
    """docker's file name for a normalised reference: `:` → `-`, `/` → `_` (lossy)."""
    name = reference.replace(":", "-").replace("/", "_")
    if not name or name.startswith(".") or "\\" in name or "\0" in name or os.sep in name:
        raise StoreError(f"{reference!r} cannot be stored: its file name {name!r} is unsafe")
    if len(name.encode()) > _MAX_NAME_BYTES:
        raise StoreError(
            f"{reference} is too long for docker's store: its file name is "
            f"{len(name.encode())} bytes, the limit is {_MAX_NAME_BYTES}"
        )
    return name


def decode_store_name(name: str, entry_refs: Sequence[str] = ()) -> str | None:
    """The list name docker encoded as the directory `name`, or None if no reference
    encodes to it. docker's encoding is lossy (`_` was `/` or `_`, `-` was `:` or `-`), so
    every decoding is tried; any of them finds the same directory again. Preferred: the one
    whose repository holds an entry (docker users list `app:1.0` from `app:1.0-amd64`),
    then the longest repository path (`reg.io/my-app:1.0`, not `reg.io/my:app-1.0`), then
    `/` over `_` and a port over a hyphen in the host."""
    if name.count("_") > _MAX_DECODED_UNDERSCORES:
        return None
    entry_repos = set()
    for entry_ref in entry_refs:
        try:
            entry_repos.add(parse_reference(entry_ref, default_tag=None).repository)
        except ManifestorError:
            continue
    best: tuple[bool, int, int, bool, str] | None = None
    for candidate in _decodings(name):
        try:
            decoded = parse_reference(candidate, default_tag=None)
        except ManifestorError:
            continue
        if decoded.tag is None or decoded.digest is not None or str(decoded) != candidate:
            continue
        rank = (
            decoded.repository in entry_repos,
            len(decoded.path),
            decoded.path.count("/"),
            ":" in decoded.domain,
            candidate,
        )
        if best is None or rank > best:
            best = rank
    return best[-1] if best else None


def _decodings(name: str) -> Iterator[str]:
    """Every spelling docker_store_name maps to `name` that has a domain, a tag and at
    most a port: each `_` is `/` or itself; one `-` of the last component is the tag's
    `:`, and perhaps one `-` of the first component a port's."""
    underscores = [i for i, c in enumerate(name) if c == "_"]
    for choice in itertools.product((False, True), repeat=len(underscores)):
        chars = list(name)
        for slash, i in zip(choice, underscores, strict=True):
            if slash:
                chars[i] = "/"
        parts = "".join(chars).split("/")
        if len(parts) < 2:
            continue
        middle = "/".join(parts[1:-1])
        for domain in (parts[0], *_one_dash_as_colon(parts[0])):
            for last in _one_dash_as_colon(parts[-1]):
                yield "/".join(p for p in (domain, middle, last) if p)


def _one_dash_as_colon(text: str) -> Iterator[str]:
    for i, c in enumerate(text):
        if c == "-":
            yield text[:i] + ":" + text[i + 1 :]


class ManifestStore:
    """Local lists under `<config dir>/manifests`, readable and writable by docker too.

    Writes are atomic but not serialised: wrap a read-modify-write in `locked(list_ref)`."""

    def __init__(self, config_dir: str | os.PathLike[str] | None = None) -> None:
        base = Path(config_dir) if config_dir is not None else docker_config_dir()
        self.root = base / MANIFESTS_DIR
        self._held: set[str] = set()  # lock file names this store holds
        self._held_lock = threading.Lock()

    def exists(self, list_ref: Reference) -> bool:
        """True if the list's directory exists, even empty (docker's rule). Raises StoreError
        if that directory holds another list whose name encodes the same."""
        self.recover()
        list_dir = self._list_dir(list_ref)
        if not os.path.lexists(list_dir):
            return False
        if list_dir.is_dir():
            files, _ = self._scan(list_dir)
            _check_owner(list_ref, files)
        return True

    def get(self, list_ref: Reference) -> StoredList:
        self.recover()
        list_dir = self._list_dir(list_ref)
        if not os.path.lexists(list_dir):
            raise ListNotFoundError(f"No such manifest list: {list_ref}")
        if not list_dir.is_dir():
            raise CorruptListError(
                f"manifest list {list_ref} is corrupt: {list_dir} is not a directory"
            )
        files, problems = self._scan(list_dir)
        if problems:
            filename, reason = problems[0]
            raise CorruptListError(
                f"manifest list {list_ref} is corrupt: {list_dir / filename}: {reason}"
            )
        _check_owner(list_ref, files)
        if all(f.entry.order is not None for f in files):
            files.sort(key=lambda f: (f.entry.order or 0, f.filename))
        else:
            # Docker wrote or rewrote (on its own annotate) some entry: it orders the list
            # by file name, so do the same, and both tools push the same bytes.
            files.sort(key=lambda f: f.filename)
        names = [f.list_name for f in files if f.list_name is not None]
        return StoredList(
            name=names[0] if names else str(list_ref),
            entries=tuple(f.entry for f in files),
            made_by_docker=bool(files) and not names,
        )

    def get_entry(self, list_ref: Reference, image_ref: Reference) -> StoredEntry:
        self.recover()
        list_dir = self._list_dir(list_ref)
        if not list_dir.is_dir():
            raise ListNotFoundError(f"No such manifest list: {list_ref}")
        path = list_dir / docker_store_name(str(image_ref))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise EntryNotFoundError(
                f"manifest for image {image_ref} does not exist in {list_ref}"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror}") from None
        try:
            found = _read_entry(path.name, data)
        except _Unreadable as exc:
            raise CorruptListError(f"manifest list {list_ref} is corrupt: {path}: {exc}") from None
        _check_owner(list_ref, [found])
        if found.entry.ref != str(image_ref):
            raise StoreError(_collision(str(image_ref), found.entry.ref, path.name))
        return found.entry

    def save(self, list_ref: Reference, entries: Sequence[StoredEntry], *, replace: bool) -> None:
        """Write the whole list in the given order (each entry's own `order` is ignored);
        if any step fails the previous list, if any, is left as it was."""
        self.recover()
        list_name = str(list_ref)
        files = _serialise_entries(list_name, entries)
        list_dir = self._list_dir(list_ref)
        if os.path.lexists(list_dir):
            if list_dir.is_dir():
                _check_owner(list_ref, self._scan(list_dir)[0])
            if not replace:
                raise ListExistsError(
                    f"refusing to amend the existing manifest list {list_name} with no --amend flag"
                )
        try:
            tmp_root = self._private_dir(TMP_DIR)
            import tempfile  # only when a list is written

            staging = Path(tempfile.mkdtemp(prefix="save-", dir=tmp_root))
        except OSError as exc:
            raise _os_error(f"cannot save manifest list {list_name}", exc) from None
        try:
            os.chmod(staging, _DIR_MODE)
            for filename, content in files.items():
                _write_new_file(staging / filename, content)
            _fsync_dir(staging)
            self._move_into_place(list_ref, staging, tmp_root)
        except OSError as exc:
            raise _os_error(f"cannot save manifest list {list_name}", exc) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def update_entry(self, list_ref: Reference, entry: StoredEntry) -> None:
        """Rewrite one entry in place (temp file + rename), keeping its position."""
        self.recover()
        list_dir = self._list_dir(list_ref)
        if not list_dir.is_dir():
            raise ListNotFoundError(f"No such manifest list: {list_ref}")
        filename = docker_store_name(entry.ref)
        path = list_dir / filename
        try:
            old = _read_entry(filename, path.read_bytes())
        except FileNotFoundError:
            raise EntryNotFoundError(
                f"manifest for image {entry.ref} does not exist in {list_ref}"
            ) from None
        except _Unreadable:
            old = None  # a corrupt file is being replaced anyway; its order is lost
        except OSError as exc:
            raise _os_error(f"cannot read {path}", exc) from None
        order = entry.order
        if old is not None:
            _check_owner(list_ref, [old])
            if old.entry.ref != entry.ref:
                raise StoreError(_collision(entry.ref, old.entry.ref, filename))
            if old.entry.order is not None:
                order = old.entry.order
        content = _entry_json(entry, str(list_ref), order)
        tmp_path: Path | None = None
        try:
            tmp_path = self._private_dir(TMP_DIR) / f"entry-{uuid.uuid4().hex}"
            _write_new_file(tmp_path, content)
            os.replace(tmp_path, path)
        except OSError as exc:
            raise _os_error(f"cannot update {path}", exc) from None
        finally:
            if tmp_path is not None:
                tmp_path.unlink(missing_ok=True)

    def remove(self, list_ref: Reference) -> None:
        """Delete a list, even one whose files are corrupt."""
        self.recover()
        list_dir = self._list_dir(list_ref)
        if not os.path.lexists(list_dir):
            raise ListNotFoundError(f"No such manifest list: {list_ref}")
        if list_dir.is_dir():
            # Only readable entries can prove the directory belongs to another list.
            _check_owner(list_ref, self._scan(list_dir)[0])
        try:
            trash = self._private_dir(TMP_DIR) / f"rm-{uuid.uuid4().hex}"
            # Renaming first makes the list vanish at once for docker and for us.
            os.rename(list_dir, trash)
        except OSError as exc:
            raise _os_error(f"cannot remove manifest list {list_ref}", exc) from None
        if trash.is_dir() and not trash.is_symlink():
            shutil.rmtree(trash, ignore_errors=True)
        else:
            trash.unlink(missing_ok=True)

    def summaries(self) -> list[ListSummary]:
        """Every list under the root, sorted by name; unreadable ones carry the reason."""
        self.recover()
        try:
            children = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _os_error(f"cannot list {self.root}", exc) from None
        summaries = []
        for child in children:
            list_dir = self.root / child
            if child.startswith(".") or not list_dir.is_dir():
                continue
            files, problems = self._scan(list_dir)
            names = sorted({f.list_name for f in files if f.list_name is not None})
            corrupt = None
            if problems:
                filename, reason = problems[0]
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                corrupt = f"{filename}: {reason}{more}"
            elif len(names) > 1:
                corrupt = f"its entries name different lists: {', '.join(names)}"
            if not names:  # made by docker: decode its directory name
                decoded = decode_store_name(child, [f.entry.ref for f in files])
                names = [decoded] if decoded else []
            summaries.append(
                ListSummary(
                    name=names[0] if names else child,
                    entries=len(files) + len(problems),
                    corrupt=corrupt,
                )
            )
        summaries.sort(key=lambda s: s.name)
        return summaries

    @contextmanager
    def locked(self, list_ref: Reference) -> Iterator[None]:
        """Hold an exclusive lock for this list's directory name while the block runs.

        Not re-entrant: store methods never lock, so take it once around a read-modify-write."""
        name = _lock_name(docker_store_name(str(list_ref)))
        with self._lock_file(name, f"cannot lock manifest list {list_ref}"):
            yield

    @contextmanager
    def locked_config(self) -> Iterator[None]:
        """Hold the lock that serialises rewrites of config.json (login, logout), so two
        concurrent logins cannot lose an entry. Not a list name: those end in a tag."""
        with self._lock_file(CONFIG_LOCK, "cannot lock config.json"):
            yield

    @contextmanager
    def _lock_file(self, name: str, failure: str) -> Iterator[None]:
        try:
            path = self._private_dir(LOCK_DIR) / name
            fd = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
        except OSError as exc:
            raise _os_error(failure, exc) from None
        try:
            # Lock files are never deleted: unlinking one while another process waits on it
            # would let a third process lock a fresh file and run concurrently.
            fcntl.flock(fd, fcntl.LOCK_EX)
            with self._held_lock:
                self._held.add(name)
            try:
                yield
            finally:
                with self._held_lock:
                    self._held.discard(name)
        finally:
            os.close(fd)

    def recover(self) -> None:
        """Finish what an interrupted fallback swap left: the old list is put back when
        the new one never arrived, and thrown away when it did. A swap whose list is
        locked by another process is in progress and left alone."""
        tmp_root = self.root / TMP_DIR
        try:
            names = os.listdir(tmp_root)
        except OSError:
            return
        for name in names:
            if name.startswith(_SWAP_PREFIX) and name.endswith(".list"):
                self._recover_swap(tmp_root, name[: -len(".list")])
            elif name.startswith(("save-", "rm-", "entry-")):
                _remove_if_stale(tmp_root / name)

    def _recover_swap(self, tmp_root: Path, key: str) -> None:
        record = tmp_root / f"{key}.list"
        old = tmp_root / f"{key}.old"
        try:
            dir_name = record.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return
        if not dir_name or "/" in dir_name or dir_name.startswith("."):
            return
        lock_name = _lock_name(dir_name)
        with self._held_lock:
            ours = lock_name in self._held
        fd = None
        try:
            if not ours:
                fd = os.open(self._private_dir(LOCK_DIR) / lock_name, os.O_RDWR | os.O_CREAT)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # its writer is alive and mid-swap
            list_dir = self.root / dir_name
            if os.path.lexists(old):
                if os.path.lexists(list_dir):
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.rename(old, list_dir)
                    _fsync_dir(self.root)
            record.unlink(missing_ok=True)
        except OSError as exc:
            raise _os_error(f"cannot restore manifest list {dir_name}", exc) from None
        finally:
            if fd is not None:
                os.close(fd)

    def _list_dir(self, list_ref: Reference) -> Path:
        return self.root / docker_store_name(str(list_ref))

    def _private_dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        return path

    def _move_into_place(self, list_ref: Reference, staging: Path, tmp_root: Path) -> None:
        list_dir = self._list_dir(list_ref)
        if not os.path.lexists(list_dir):
            try:
                os.rename(staging, list_dir)
            except OSError:
                if os.path.lexists(list_dir):
                    raise ListExistsError(
                        f"manifest list {list_ref} was created by another process meanwhile"
                    ) from None
                raise
        elif exchange_paths(staging, list_dir):
            # One atomic step: staging now holds the old list, which the caller removes.
            pass
        else:
            # Two renames: for an instant the list is out of place, so the journal says
            # where it went, and `recover` puts it back if this run dies in between.
            key = _SWAP_PREFIX + hashlib.sha256(list_dir.name.encode()).hexdigest()[:32]
            record = tmp_root / f"{key}.list"
            old = tmp_root / f"{key}.old"
            if os.path.lexists(old):
                shutil.rmtree(old)
            record.unlink(missing_ok=True)
            _write_new_file(record, list_dir.name.encode())
            _fsync_dir(tmp_root)
            os.rename(list_dir, old)
            try:
                os.rename(staging, list_dir)
            except OSError:
                os.rename(old, list_dir)
                record.unlink(missing_ok=True)
                raise
            _fsync_dir(self.root)
            shutil.rmtree(old, ignore_errors=True)
            record.unlink(missing_ok=True)
        _fsync_dir(self.root)

    def _scan(self, list_dir: Path) -> tuple[list[_EntryFile], list[tuple[str, str]]]:
        """Read every file as docker would: parsed entries, and (file name, reason) problems."""
        try:
            names = sorted(os.listdir(list_dir))
        except OSError as exc:
            return [], [(".", f"cannot list the directory: {exc.strerror}")]
        files: list[_EntryFile] = []
        problems: list[tuple[str, str]] = []
        for filename in names:
            path = list_dir / filename
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    raise _Unreadable(
                        "not a regular file; docker reads every file here as an entry"
                    )
                files.append(_read_entry(filename, path.read_bytes()))
            except _Unreadable as exc:
                problems.append((filename, str(exc)))
            except OSError as exc:
                problems.append((filename, f"cannot read: {exc.strerror}"))
        return files, problems


def _remove_if_stale(path: Path) -> None:
    """What a killed run left in TMP_DIR (a staged list, an old one swapped out, a removed
    one): thrown away once it is an hour old, when no live run can still be using it."""
    try:
        if time.time() - os.lstat(path).st_mtime < _STALE_AFTER:
            return
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def _lock_name(dir_name: str) -> str:
    name = dir_name + ".lock"
    if len(name.encode()) > _MAX_NAME_BYTES:
        name = hashlib.sha256(name.encode()).hexdigest() + ".lock"
    return name


def _check_owner(list_ref: Reference, files: Sequence[_EntryFile]) -> None:
    wanted = str(list_ref)
    for found in files:
        if found.list_name is not None and found.list_name != wanted:
            raise StoreError(_collision(wanted, found.list_name, docker_store_name(wanted)))


def _collision(wanted: str, other: str, filename: str) -> str:
    return (
        f"{wanted} and {other} collide in docker's store (both are stored as {filename}); "
        "use another name"
    )


def _os_error(action: str, exc: OSError) -> StoreError:
    where = f": {exc.filename}" if exc.filename else ""
    return StoreError(f"{action}: {exc.strerror or exc}{where}")


def _write_new_file(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)  # the mode docker uses, whatever the umask
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- writing: the bytes Go's json.Marshal gives for docker's types.ImageManifest ---------


def _serialise_entries(list_name: str, entries: Sequence[StoredEntry]) -> dict[str, bytes]:
    """File name → content for every entry, or StoreError before anything is written."""
    files: dict[str, bytes] = {}
    refs: dict[str, str] = {}
    for order, entry in enumerate(entries):
        filename = docker_store_name(entry.ref)
        if filename in refs:
            if refs[filename] == entry.ref:
                raise StoreError(f"{entry.ref} is given twice for manifest list {list_name}")
            raise StoreError(_collision(entry.ref, refs[filename], filename))
        refs[filename] = entry.ref
        files[filename] = _entry_json(entry, list_name, order)
    return files


def _entry_json(entry: StoredEntry, list_name: str, order: int | None) -> bytes:
    what = f"cannot store {entry.ref}"
    _check_stored_ref(entry.ref, what)
    descriptor = entry.descriptor
    if entry.raw is None:
        raise StoreError(f"{what}: its manifest bytes are unknown; fetch it again")
    if sha256_digest(entry.raw) != descriptor.digest or len(entry.raw) != descriptor.size:
        raise StoreError(f"{what}: its manifest bytes do not match {descriptor.digest}")
    payload_key = PAYLOAD_KEYS.get(descriptor.media_type)
    if payload_key is None:
        raise StoreError(
            f"{what}: docker's store holds image manifests only, not {descriptor.media_type}"
        )
    try:
        manifest = parse_manifest(entry.raw, what=entry.ref)
        text = entry.raw.decode("utf-8")
    except ManifestorError as exc:
        raise StoreError(f"{what}: {exc}") from None
    except UnicodeDecodeError:
        raise StoreError(f"{what}: its manifest is not UTF-8 JSON") from None
    if manifest.media_type != descriptor.media_type:
        raise StoreError(
            f"{what}: the descriptor says {descriptor.media_type} but the manifest is "
            f"{manifest.media_type}"
        )
    members = [
        f'"Ref":{go_json(entry.ref)}',
        f'"Descriptor":{go_json(descriptor.to_ocispec_json())}',
        f'"Raw":"{base64.b64encode(entry.raw).decode("ascii")}"',
        # Go re-emits the manifest's own bytes compacted, keeping its key order.
        f'"{payload_key}":{go_compact(text)}',
        f'"{LIST_KEY}":{go_json(list_name)}',
    ]
    if order is not None:
        members.append(f'"{ORDER_KEY}":{order}')
    if entry.read_from is not None:
        members.append(f'"{READ_FROM_KEY}":{go_json(entry.read_from)}')
    return ("{" + ",".join(members) + "}").encode("utf-8")


def _check_stored_ref(ref: str, what: str) -> None:
    # docker parses "Ref" with ParseNamed, which accepts only the fully normalised form; one
    # bad entry would make docker refuse the whole list.
    try:
        normalised = str(parse_reference(ref, default_tag=None))
    except ManifestorError as exc:
        raise StoreError(f"{what}: {exc}") from None
    if normalised != ref:
        raise StoreError(f"{what}: not a normalised reference (expected {normalised})")


# --- reading: current, pre-Raw and legacy docker formats --------------------------------


def _read_entry(filename: str, data: bytes) -> _EntryFile:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Unreadable("not UTF-8 text") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Unreadable(
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except (ValueError, RecursionError):  # a number too long to convert, nesting too deep
        raise _Unreadable("not valid JSON") from None
    if not isinstance(body, dict):
        raise _Unreadable("not a JSON object")
    ref = body.get("Ref")
    if not isinstance(ref, str) or not ref:
        raise _Unreadable('"Ref" is missing or not a string')
    list_name = body.get(LIST_KEY)
    if list_name is not None and not isinstance(list_name, str):
        raise _Unreadable(f'"{LIST_KEY}" is not a string')
    order = body.get(ORDER_KEY)
    if order is not None and (not isinstance(order, int) or isinstance(order, bool)):
        raise _Unreadable(f'"{ORDER_KEY}" is not an integer')
    read_from = body.get(READ_FROM_KEY)
    if read_from is not None and not isinstance(read_from, str):
        raise _Unreadable(f'"{READ_FROM_KEY}" is not a string')
    try:
        # docker takes the legacy path whenever a top-level Digest is set.
        if body.get("Digest"):
            descriptor, raw = _read_legacy(body, text)
        else:
            descriptor, raw = _read_current(body, text)
    except ManifestorError as exc:
        raise _Unreadable(str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise _Unreadable(f"malformed entry ({exc})") from None
    return _EntryFile(filename, StoredEntry(ref, descriptor, raw, order, read_from), list_name)


def _read_current(body: Mapping[str, Any], text: str) -> tuple[Descriptor, bytes | None]:
    fields = body.get("Descriptor")
    if not isinstance(fields, Mapping):
        raise _Unreadable('"Descriptor" is missing or not an object')
    descriptor = Descriptor.from_json(fields, "Descriptor")
    encoded = body.get("Raw")
    if encoded is None:
        # Written before docker kept Raw: its compacted copy is exact only if the registry's
        # bytes were compact already.
        payload = _embedded_manifest(body, text)
        if payload is not None and sha256_digest(payload) == descriptor.digest:
            return descriptor, payload
        return descriptor, None
    if not isinstance(encoded, str):
        raise _Unreadable('"Raw" is not a base64 string')
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _Unreadable('"Raw" is not valid base64') from None
    if sha256_digest(raw) != descriptor.digest:
        raise _Unreadable(f'"Raw" does not hash to the descriptor digest {descriptor.digest}')
    if len(raw) != descriptor.size:
        raise _Unreadable(f'"Raw" is {len(raw)} bytes but the descriptor says {descriptor.size}')
    return descriptor, raw


def _read_legacy(body: Mapping[str, Any], text: str) -> tuple[Descriptor, bytes | None]:
    digest = body["Digest"]
    if not isinstance(digest, str):
        raise _Unreadable('"Digest" is not a string')
    if body.get("SchemaV2Manifest") is not None:
        media_type = DOCKER_MANIFEST
    elif body.get("OCIManifest") is not None:
        media_type = OCI_MANIFEST
    else:
        raise _Unreadable("legacy entry has no SchemaV2Manifest or OCIManifest")
    platform_fields = body.get("Platform")
    platform = Platform.from_json(platform_fields) if isinstance(platform_fields, Mapping) else None
    payload = _embedded_manifest(body, text)
    # docker refuses a mismatch; the digest is still right, so the caller can re-fetch.
    if payload is not None and sha256_digest(payload) == digest:
        return Descriptor(media_type, digest, len(payload), platform), payload
    return Descriptor(media_type, digest, 0, platform), None


def _embedded_manifest(body: Mapping[str, Any], text: str) -> bytes | None:
    """The exact text of the embedded manifest, the bytes docker's Payload() returns."""
    for key in PAYLOAD_KEYS.values():
        if isinstance(body.get(key), Mapping):
            return _member_texts(text)[key].encode("utf-8")
    return None


def _skip_space(text: str, at: int) -> int:
    match = _SPACE.match(text, at)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _member_texts(text: str) -> dict[str, str]:
    """The exact source text of each top-level member value of a JSON object that
    json.loads has already accepted; a repeated key keeps its last value, as in Go."""
    decoder = json.JSONDecoder()
    members: dict[str, str] = {}
    i = _skip_space(text, 0) + 1  # past "{"
    while True:
        i = _skip_space(text, i)
        if text[i] == "}":
            return members
        key, i = _scanstring(text, i + 1)
        i = _skip_space(text, i) + 1  # past ":"
        i = _skip_space(text, i)
        _, end = decoder.raw_decode(text, i)
        members[key] = text[i:end]
        i = _skip_space(text, end)
        if text[i] == ",":
            i += 1
