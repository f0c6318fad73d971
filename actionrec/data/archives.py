"""Archives of the raw dataset (zip and RAR): checked (MD5, member paths, CRCs) and extracted
safely, never outside their target, once into the download cache."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from actionrec.errors import DataError
from actionrec.io import remove


def extract_cached(archive: Path, md5: str | None) -> Path:
    """Verify and extract ``archive`` once into ``<archive>.d`` (kept in the cache)."""
    target = archive.with_name(archive.name + ".d")
    if target.is_dir():
        return target
    if md5:
        digest = hashlib.md5()
        with open(archive, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != md5:
            raise DataError(f"{archive}: MD5 {digest.hexdigest()} does not match params ({md5}); delete the file to download it again")
    partial = archive.with_name(archive.name + ".d.partial")
    remove(partial)
    safe_extract(archive, partial)
    partial.rename(target)
    return target


def safe_extract(archive: Path, target: Path) -> None:
    """Test and extract a zip or rar archive, refusing it if any member would land outside ``target``."""
    archive, target = Path(archive), Path(target)
    with open(archive, "rb") as f:
        magic = f.read(8)
    if zipfile.is_zipfile(archive):
        try:
            with zipfile.ZipFile(archive) as zf:
                members = [(i.filename, zf.read(i).decode(errors="replace") if _zip_is_symlink(i) else None) for i in zf.infolist()]
                _check_members(members, target, archive)
                bad = zf.testzip()
                if bad:
                    raise DataError(f"{archive}: corrupt member {bad!r}; delete the archive to download it again")
                zf.extractall(target)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise DataError(f"{archive}: broken zip archive ({e}); delete it to download it again") from None
    elif magic.startswith(b"Rar!\x1a\x07"):
        _extract_rar(archive, target)
    else:
        raise DataError(f"{archive}: neither a zip nor a rar archive")


def _extract_rar(archive: Path, target: Path) -> None:
    # rarfile only reads the headers (in Python, no tool needed): the listing for the traversal check and the
    # CRCs checked after extracting. The data is extracted by unar or bsdtar in one pass, not by rarfile's
    # extractall(), which runs its tool once per member (twice with testrar()), decompressing a solid archive
    # from the start each time, and whose tool_setup() picks Debian's 7zz (no RAR codec) before bsdtar.
    try:
        import rarfile  # optional (the `rar` extra): only UCF101's RAR archive needs it
    except ImportError:
        raise DataError(_rar_hint(archive)) from None
    try:
        with rarfile.RarFile(archive) as rf:
            infos = rf.infolist()
            members = []
            for info in infos:
                link = None
                if info.is_symlink():
                    redir = getattr(info, "file_redir", None)
                    link = redir[2] if redir else rf.read(info).decode(errors="replace")
                members.append((info.filename, link))
            solid = rf.is_solid()
    except rarfile.RarCannotExec:  # the target of a compressed RAR 4 symlink is read through a tool
        raise DataError(_rar_hint(archive)) from None
    except rarfile.Error as e:
        raise DataError(f"{archive}: broken rar archive ({type(e).__name__}: {e}); delete it to download it again") from None
    _check_members(members, target, archive)
    with open(archive, "rb") as f:
        rar5 = f.read(8) == b"Rar!\x1a\x07\x01\x00"
    command = _rar_command(archive, target, rar5=rar5, solid=solid)
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    tool = Path(command[0]).name
    if done.returncode:
        detail = " ".join(done.stdout.split())[-300:] or f"exit status {done.returncode}"
        raise DataError(f"{archive}: {tool} could not extract it ({detail}); if the archive is damaged, delete it to download it again")
    # bsdtar checks no CRC of a stored (uncompressed) RAR 4 member, and a tool may skip a member it cannot
    # handle: every file must be there with the size and CRC-32 the archive lists.
    for info in infos:
        if not info.is_file() or getattr(info, "file_redir", None):  # RAR 5 hard links and copies carry no data
            continue
        path = target / info.filename
        if not path.is_file() or path.stat().st_size != info.file_size or (info.CRC is not None and _crc32(path) != info.CRC):
            raise DataError(
                f"{archive}: corrupt member {info.filename!r} ({tool} did not write it intact); delete the archive to download it again"
            )


def _rar_command(archive: Path, target: Path, *, rar5: bool, solid: bool) -> list[str]:
    """unar reads RAR 1.5 to 4, solid archives too (UCF101.rar is RAR 4); bsdtar (libarchive) cannot extract a
    solid RAR 4 but reads RAR 5, where Debian's unar 1.10 fails on some archives. Both are in Debian main."""
    src, dest = str(archive.resolve()), str(target.resolve())  # absolute: never mistaken for an option
    for tool in ("bsdtar", "unar") if rar5 else ("unar",) if solid else ("unar", "bsdtar"):
        path = shutil.which(tool)
        if path and tool == "unar":
            return [path, "-quiet", "-no-directory", "-no-recursion", "-output-directory", dest, src]
        if path:
            return [path, "-x", "--no-same-owner", "-C", dest, "-f", src]
    if solid and not rar5 and shutil.which("bsdtar"):
        raise DataError(
            f"{archive}: a solid RAR 4 archive, which bsdtar cannot extract: it needs unar (apt-get install unar, "
            "or `make setup`); or extract it by hand and use `source: folder` with `data.path`"
        )
    raise DataError(_rar_hint(archive))


def _rar_hint(archive: Path) -> str:
    return (
        f"{archive}: extracting .rar needs the rarfile package (pip install rarfile) and unar or bsdtar "
        "(apt-get install unar libarchive-tools; `make setup` installs all three); "
        "or extract it by hand and use `source: folder` with `data.path`"
    )


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def _zip_is_symlink(info: zipfile.ZipInfo) -> bool:
    return (info.external_attr >> 16) & 0o170000 == 0o120000


def _check_members(members: list[tuple[str, str | None]], target: Path, archive: Path) -> None:
    """Refuse the archive if any member (or symlink target) resolves outside ``target``: checked before extracting anything.

    A path that goes through one of the archive's own symlinks is refused too: they only exist once extracted, and
    on disk ``link/..`` is the folder above the link's target (``a/b/s -> ../..`` then ``t -> a/b/s/..``: each
    stays inside on paper, but ``t`` is the folder above ``target``).
    """
    root = target.resolve()
    links = {(root / name).resolve() for name, link in members if link is not None}
    for name, link in members:
        path = (root / name).resolve()
        escapes = PurePosixPath(name).is_absolute() or not path.is_relative_to(root) or _through_link(root, name, links)
        if link is not None and not escapes:
            escapes = (
                PurePosixPath(link).is_absolute()
                or not (path.parent / link).resolve().is_relative_to(root)
                or _through_link(path.parent, link, links)
            )
        if escapes:
            raise DataError(f"{archive}: refusing to extract member {name!r}: it would be written outside {target}")


def _through_link(start: Path, rel: str, links: set[Path]) -> bool:
    """Whether the relative path ``rel``, walked from ``start``, passes through (not ends at) one of ``links``."""
    step = start
    for part in PurePosixPath(rel).parts[:-1]:
        step = step.parent if part == ".." else step / part
        if step in links:
            return True
    return False
