"""Installing a Vosk model: download, checksum, unpack, swap into place (:func:`install`).

Plain standard library (urllib, zipfile, hashlib); this module never imports
vosk, so ``callbot models install`` works even where vosk itself is broken.

Installing is all-or-nothing. The zip is streamed to a hidden ``.partial``
file inside the models directory (hashing it on the way), checked (length,
sha256, zip integrity, no unsafe paths, Vosk layout), unpacked into a hidden
temporary directory beside it and only then moved into place with
``os.replace``. Any failure removes the temporary files and leaves an already
installed model of the same name untouched.

Checksums: alphacephei.com publishes no checksums for its model zips. A spec's
``sha256`` is pinned only when it is known; for a model without one,
:func:`install` refuses to download (:class:`ChecksumUnknown`; :func:`checksum_to_expect`
tells up front) unless the caller passes a checksum or explicitly turns
verification off, and it always records the sha256 of what it
installed (see :attr:`callbot.speech.models.InstalledModel.sha256`) so it can be compared and pinned.
"""

from __future__ import annotations

import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Callable

from callbot.errors import ModelError
from callbot.speech.models import INSTALL_INFO_FILE, OFFICIAL, ModelSpec, layout_problems, looks_like_model

_CHUNK = 64 * 1024
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


class ChecksumUnknown(ModelError):
    """No checksum is known for a model and none was given: installing it needs a checksum
    from a trusted copy or an explicit decision to install it unverified."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.publisher = urllib.parse.urlsplit(spec.url).hostname or spec.url
        super().__init__(
            f"no checksum is known for {spec.name}: its publisher ({self.publisher}) does not list one. Pass the "
            f"zip's sha256 (--sha256 HEX, e.g. from a copy you already trust) to have it verified, or --no-verify "
            f"to install it unverified; the sha256 of what was downloaded is printed and recorded either way"
        )


def checksum_to_expect(spec_or_key: ModelSpec | str, sha256: str | None = None, verify: bool = True) -> str | None:
    """The sha256 an install of this model will insist on: ``sha256`` if given, else the spec's;
    None with ``verify=False``. Raises :class:`ChecksumUnknown` when there is none to verify
    against, and :class:`ModelError` for a malformed checksum — before anything is downloaded."""
    spec = _resolve_spec(spec_or_key)
    expected = _normalise_sha256(sha256, "the checksum") if sha256 else spec.sha256
    if expected:
        expected = _normalise_sha256(expected, f"the checksum of {spec.name}")
    if not verify:
        return None
    if expected is None:
        raise ChecksumUnknown(spec)
    return expected


def _resolve_spec(spec_or_key: ModelSpec | str) -> ModelSpec:
    if isinstance(spec_or_key, ModelSpec):
        return spec_or_key
    spec = OFFICIAL.get(str(spec_or_key).strip().lower())
    if spec is None:
        raise ModelError(f"unknown model {spec_or_key!r}; known models: {', '.join(sorted(OFFICIAL))}")
    return spec


def _normalise_sha256(value: str, what: str) -> str:
    digest = value.strip().lower()
    if not _SHA256_RE.fullmatch(digest):
        raise ModelError(f"{what} must be 64 hexadecimal digits (a SHA-256), got {value!r}")
    return digest


def _as_url(url: str) -> str:
    """An http(s)/file URL; a plain path to a local zip becomes a file: URL."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in ("http", "https", "file"):
        return url
    if scheme and len(scheme) > 1:  # (one letter: a Windows drive)
        raise ModelError(f"unsupported URL {url!r}: use http://, https://, file:// or a path to a local zip")
    path = Path(url).expanduser()
    if not path.is_file():
        raise ModelError(f"{url}: no such file (give an http(s):// URL or the path of a downloaded zip)")
    return path.resolve().as_uri()


def _check_models_dir(models_dir: Path) -> None:
    """Create ``models_dir`` if needed and prove we can write in it (root ignores modes)."""
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ModelError(f"models directory {models_dir} is not usable: it exists and is not a directory") from None
    except OSError as exc:
        raise ModelError(f"models directory {models_dir} cannot be created: {exc.strerror or exc}") from None
    if not models_dir.is_dir():
        raise ModelError(f"models directory {models_dir} is not usable: it is not a directory")
    try:
        fd, probe = tempfile.mkstemp(dir=models_dir, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ModelError(f"models directory {models_dir} is not writable: {exc.strerror or exc}") from None


def _describe_network_error(url: str, exc: BaseException, timeout: float) -> str:
    host = urllib.parse.urlsplit(url).netloc or url
    if isinstance(exc, urllib.error.HTTPError):
        return f"download of {url} failed: HTTP {exc.code} {exc.reason}".rstrip()
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"download of {url} failed: no answer from {host} within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return f"download of {url} failed: connection to {host} refused"
    if isinstance(reason, socket.gaierror):
        return f"download of {url} failed: cannot resolve {host} (offline?)"
    if isinstance(reason, OSError) and reason.strerror:
        return f"download of {url} failed: {reason.strerror}"
    return f"download of {url} failed: {reason}"


def _download(url: str, dest, progress, timeout: float) -> tuple[int, str]:
    """Stream ``url`` into the open binary file ``dest``; returns (bytes, sha256)."""
    request = urllib.request.Request(url, headers={"User-Agent": "callbot-models/1"})
    digest = hashlib.sha256()
    done = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.strip().isdigit() else None
            if total is not None:
                free = shutil.disk_usage(os.path.dirname(dest.name)).free
                if total > free:
                    raise ModelError(f"not enough disk space for {url}: {total / 1e6:.0f} MB needed, "
                                     f"{free / 1e6:.0f} MB free")
            if progress:
                progress(0, total)
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except http.client.IncompleteRead as exc:
                    chunk = exc.partial
                    if chunk:
                        digest.update(chunk)
                        dest.write(chunk)
                        done += len(chunk)
                    raise ModelError(f"download of {url} was truncated: got {done} of "
                                     f"{total if total is not None else '?'} bytes") from None
                if not chunk:
                    break
                digest.update(chunk)
                dest.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except ModelError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        if done and isinstance(exc, (TimeoutError, socket.timeout)):
            raise ModelError(f"download of {url} stalled: no data for {timeout:g} s after {done} bytes") from None
        if done:
            raise ModelError(f"download of {url} broke off after {done} bytes: {exc}") from None
        raise ModelError(_describe_network_error(url, exc, timeout)) from None
    if total is not None and done != total:
        raise ModelError(f"download of {url} was truncated: got {done} of {total} bytes")
    if done == 0:
        raise ModelError(f"download of {url} is empty (0 bytes)")
    return done, digest.hexdigest()


def _unsafe_member(name: str) -> str | None:
    """Why a zip member name would escape the extraction directory, if it would."""
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "points outside the archive (..)"
    return None


def _check_zip(zf: zipfile.ZipFile, url: str, room: int) -> None:
    members = zf.infolist()
    if not members:
        raise ModelError(f"{url}: the zip archive is empty")
    for info in members:
        why = _unsafe_member(info.filename)
        if why:
            raise ModelError(f"{url}: refusing to unpack unsafe zip entry {info.filename!r} (it {why})")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ModelError(f"{url}: refusing to unpack zip entry {info.filename!r} (it is a symbolic link)")
    unpacked = sum(info.file_size for info in members)
    if unpacked > room:
        raise ModelError(f"not enough disk space to unpack {url}: {unpacked / 1e6:.0f} MB needed, "
                         f"{room / 1e6:.0f} MB free")
    try:
        bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ModelError(f"{url}: the zip archive is incomplete or corrupt ({exc})") from None
    if bad is not None:
        raise ModelError(f"{url}: the zip archive is corrupt (bad checksum in {bad!r})")


def _model_root(unpacked: Path, url: str) -> Path:
    """The model directory inside an unpacked zip: the zip's root or its one top folder."""
    if looks_like_model(unpacked):
        return unpacked
    entries = [p for p in unpacked.iterdir() if p.name != "__MACOSX" and not p.name.startswith(".")]
    folders = [p for p in entries if p.is_dir()]
    candidates = [p for p in folders if looks_like_model(p)]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        names = ", ".join(sorted(p.name for p in candidates))
        raise ModelError(f"{url}: the zip holds several models ({names}); install them from separate zips")
    found = ", ".join(sorted(p.name + ("/" if p.is_dir() else "") for p in entries)) or "nothing"
    detail = "; ".join(layout_problems(folders[0])) if len(folders) == 1 else ""
    raise ModelError(
        f"{url}: the zip contains no Vosk model (a folder with am/final.mdl, conf/model.conf, conf/mfcc.conf "
        f"and graph/); found {found}" + (f" — {folders[0].name}: {detail}" if detail else "")
    )


_STALE_AFTER = 24 * 3600  # seconds; an install in progress is never that old


def _remove_stale_scratch(models_dir: Path, name: str) -> None:
    """Remove what an install killed half-way (power cut, kill -9) left behind."""
    for scratch in models_dir.glob(f".{glob.escape(name)}-*.tmp"):
        try:
            if scratch.is_dir() and time.time() - scratch.stat().st_mtime > _STALE_AFTER:
                shutil.rmtree(scratch, ignore_errors=True)
        except OSError:
            pass


def _swap_into_place(new: Path, target: Path, scratch: Path) -> None:
    """Move ``new`` to ``target``; an existing ``target`` is replaced only once ``new`` is ready."""
    if not target.exists() and not target.is_symlink():
        os.replace(new, target)
        return
    if not target.is_dir() or target.is_symlink():
        raise ModelError(f"{target} exists and is not a model directory; remove it first")
    old = scratch / "previous"
    os.replace(target, old)  # atomic: target is briefly absent, never half-written
    try:
        os.replace(new, target)
    except OSError:
        os.replace(old, target)  # put the previous model back
        raise


def install(
    spec_or_key: ModelSpec | str,
    models_dir: Path,
    *,
    url: str | None = None,
    sha256: str | None = None,
    verify: bool = True,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 30,
) -> Path:
    """Download, check and unpack a Vosk model zip into ``models_dir/<spec.name>``.

    ``url`` overrides where the zip comes from (a mirror, ``file://`` or a
    local path); the spec's checksum still applies unless ``sha256`` is given.
    Without any known checksum, ``verify=False`` must be passed explicitly
    (the sha256 of the zip is then only recorded). ``progress(done, total)``
    is called as bytes arrive (``total`` from Content-Length, or None).
    Returns the installed model directory; raises :class:`ModelError`.
    """
    spec = _resolve_spec(spec_or_key)
    models_dir = Path(models_dir)
    source = _as_url(url or spec.url)
    expected = checksum_to_expect(spec, sha256, verify)
    _check_models_dir(models_dir)
    target = models_dir / spec.name
    _remove_stale_scratch(models_dir, spec.name)

    scratch = Path(tempfile.mkdtemp(dir=models_dir, prefix=f".{spec.name}-", suffix=".tmp"))
    try:
        partial = scratch / f"{spec.name}.zip.partial"
        with open(partial, "wb") as dest:
            _size, got = _download(source, dest, progress, timeout)
        if expected is not None and got != expected:
            raise ModelError(
                f"checksum mismatch for {source}: expected sha256 {expected}, got {got} — the download is corrupt "
                f"or the file was changed; nothing was installed"
            )
        unpacked = scratch / "unpacked"
        unpacked.mkdir()
        try:
            with zipfile.ZipFile(partial) as zf:
                _check_zip(zf, source, shutil.disk_usage(models_dir).free)
                zf.extractall(unpacked)
        except zipfile.BadZipFile:
            raise ModelError(
                f"{source} is not a zip archive (or an incomplete one): got {partial.stat().st_size} bytes "
                f"that do not unpack"
            ) from None
        except (OSError, EOFError, ValueError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise ModelError(f"unpacking {source} into {models_dir} failed: {exc.strerror}") from None
            raise ModelError(f"{source}: the zip archive is incomplete or corrupt ({exc})") from None
        root = _model_root(unpacked, source)
        info = {
            "name": spec.name, "key": spec.key, "url": source, "sha256": got, "verified": expected is not None,
            "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        (root / INSTALL_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        try:
            _swap_into_place(root, target, scratch)
        except OSError as exc:
            raise ModelError(f"could not move the new model into {target}: {exc.strerror or exc}") from None
        return target
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
