"""The ``download`` stage: get the dataset chosen by ``params.yaml: data`` into UCF101 layout.

Every source first yields a *source root* (``<Class>/<video>`` files) and a lists directory
(``classInd.txt`` + train/test lists); then :func:`materialize` applies ``data.classes`` and
``data.fraction`` and writes the destination. Downloads and extractions stay in ``cache_dir``
so that changing the selection never downloads again.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import zipfile
import zlib
from collections import Counter
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from tqdm import tqdm

from actionrec.data import synthetic, ucf101
from actionrec.data.ucf101 import LISTS_DIR, SPLITS
from actionrec.errors import DataError, ParamError

SOURCES = ("synthetic", "ucf101", "kaggle", "folder")
TIMEOUT = 30  # seconds without an answer before a download counts as offline
MAX_REPORTED = 100  # skipped files listed in the report (the count is always complete)
_SYNTHETIC_KEYS = ("groups", "clips_per_group", "frames", "size", "fps")


def prepare_dataset(data: dict, dest: Path, *, seed: int, cache_dir: Path) -> dict:
    """Write the dataset selected by ``data`` (the ``data:`` params) to ``dest``; return a JSON-able report."""
    data = dict(data or {})
    source = data.get("source")
    if source not in SOURCES:
        raise ParamError("data.source", source, "one of " + ", ".join(SOURCES))
    classes, fraction = _check_selection(data)
    build = {"synthetic": _synthetic_root, "ucf101": _ucf101_root, "kaggle": _kaggle_root, "folder": _folder_root}[source]
    dest, cache_dir = Path(dest), Path(cache_dir)
    tmp = dest.with_name(dest.name + ".tmp")
    work = dest.with_name(dest.name + ".work.tmp")  # scratch (generated videos, derived lists); *.tmp is git-ignored
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove(tmp)
    _remove(work)
    try:
        work.mkdir()
        src_root, lists_dir, info = build(data, work, seed=seed, cache_dir=cache_dir)
        report = materialize(src_root, tmp, classes=classes, fraction=fraction, seed=seed, lists_dir=lists_dir)
    except BaseException:
        _remove(tmp)
        raise
    finally:
        _remove(work)
    _remove(dest)
    tmp.rename(dest)
    skipped = info.pop("skipped", [])
    return {
        "source": source,
        **report,
        "skipped_count": len(skipped),
        "skipped": skipped[:MAX_REPORTED],
        **info,
    }


def materialize(
    src_root: Path,
    dest: Path,
    *,
    classes: list[str] | None = None,
    fraction: float = 1.0,
    seed: int = 0,
    lists_dir: Path | None = None,
) -> dict:
    """Hard-link (or copy) the selected videos of ``src_root`` into ``dest`` with renumbered lists.

    ``lists_dir`` defaults to ``src_root/ucfTrainTestlist``. Listed videos absent from
    ``src_root`` are dropped and counted; a selected class with no video is an error.
    """
    src_root, dest = Path(src_root), Path(dest)
    lists_dir = Path(lists_dir) if lists_dir else src_root / LISTS_DIR
    all_classes = ucf101.read_class_index(lists_dir)
    known = set(all_classes)
    lists = {(kind, split): ucf101.read_split_list(lists_dir, kind, split) for split in SPLITS for kind in ("train", "test")}
    listed = list(dict.fromkeys(rel for entries in lists.values() for rel in entries))
    for rel in listed:
        if rel.split("/")[0] not in known:
            raise DataError(f"{lists_dir}: {rel}: class {rel.split('/')[0]!r} is not in classInd.txt")
    present = [rel for rel in listed if (src_root / rel).is_file()]
    absent = sorted(set(listed) - set(present))

    kept_classes, kept = ucf101.select_videos(present, all_classes, classes, fraction, seed)
    empty = sorted(set(kept_classes) - {rel.split("/")[0] for rel in kept})
    if empty:
        raise DataError(f"{src_root}: no videos for class(es) {', '.join(empty)}")

    for rel in kept:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        _link(src_root / rel, dest / rel)
    keep = set(kept)
    splits = {s: ([r for r in lists["train", s] if r in keep], [r for r in lists["test", s] if r in keep]) for s in SPLITS}
    _write_lists(dest / LISTS_DIR, kept_classes, splits)
    return {
        "classes": len(kept_classes),
        "class_names": kept_classes,
        "videos": len(kept),
        "splits": {str(s): {"train": len(tr), "test": len(te)} for s, (tr, te) in splits.items()},
        "fraction": fraction,
        "listed_absent": len(absent),
        "listed_absent_examples": absent[:5],
    }


# --- parameters ---------------------------------------------------------------------------------


def _check_selection(data: dict) -> tuple[list[str] | None, float]:
    classes, fraction = data.get("classes"), data.get("fraction", 1.0)
    if classes is not None and (not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes)):
        raise ParamError("data.classes", classes, "null or a non-empty list of class names")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ParamError("data.fraction", fraction, "a number in (0, 1]")
    return classes, float(fraction)


def _section(data: dict, name: str) -> dict:
    section = data.get(name)
    if not isinstance(section, dict):
        raise ParamError(f"data.{name}", section, "a mapping")
    return section


def _string(section: dict, key: str, name: str) -> str:
    value = section.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ParamError(f"data.{name}.{key}", value, "a non-empty string")
    return value


# --- sources: each returns (source root, lists dir, report info) --------------------------------


def _synthetic_root(data: dict, work: Path, *, seed: int, cache_dir: Path):
    params = dict(_section(data, "synthetic"))
    for key in params:
        if key not in _SYNTHETIC_KEYS:
            raise ParamError(f"data.synthetic.{key}", params[key], "one of the keys " + ", ".join(_SYNTHETIC_KEYS))
    for key in ("frames", "size"):  # YAML gives lists
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    root = work / "synthetic"
    groups, clips = params.get("groups", 25), params.get("clips_per_group", 4)
    total = len(synthetic.CLASSES) * groups * clips if isinstance(groups, int) and isinstance(clips, int) else None
    with tqdm(total=total, desc="synthetic videos", unit="video") as bar:
        synthetic.generate(root, **params, seed=seed, progress=lambda done: bar.update(done - bar.n))
    return root, None, {}


def _folder_root(data: dict, work: Path, *, seed: int, cache_dir: Path):
    path = data.get("path")
    if not path or not Path(path).is_dir():
        raise ParamError("data.path", path, "an existing directory in UCF101 layout (required by source: folder)")
    root = Path(path)
    videos, skipped = _scan_folder(root)
    if (root / LISTS_DIR).is_dir():
        listed = {rel for kind in ("train", "test") for s in SPLITS for rel in _try_read_list(root / LISTS_DIR, kind, s)}
        skipped += [{"path": rel, "reason": "not in the split lists"} for rel in videos if rel not in listed]
        return root, root / LISTS_DIR, {"lists": "own", "skipped": skipped}
    lists_dir, kind, unlisted = _derive_lists(videos, work / "lists")
    return root, lists_dir, {"lists": kind, "skipped": skipped + unlisted}


def _kaggle_root(data: dict, work: Path, *, seed: int, cache_dir: Path):
    handle = _string(_section(data, "kaggle"), "handle", "kaggle")
    try:
        import kagglehub
    except ImportError:
        raise DataError("source: kaggle needs the kagglehub package: pip install kagglehub") from None
    if not _kaggle_credentials_present():
        raise DataError(
            "source: kaggle: no Kaggle credentials found. Set KAGGLE_USERNAME and KAGGLE_KEY in the environment, "
            "or put kaggle.json (from kaggle.com > Settings > API > Create New Token) in ~/.kaggle/ "
            "(or $KAGGLE_CONFIG_DIR, or ~/.config/kaggle/)"
        )
    try:
        mirror = Path(kagglehub.dataset_download(handle))
    except Exception as e:  # kagglehub raises many types; its message could echo a credential
        raise DataError(f"source: kaggle: downloading {handle!r} failed: {_redact(f'{type(e).__name__}: {e}')}") from None

    # Mirrors may regroup the files (train/val/test folders...): find every UCF101-named video and
    # symlink it to <Class>/ in a source root (materialize then hard-links or copies the real file).
    official = {c.lower(): c for c in ucf101.read_class_index(ucf101.official_lists_dir())}
    root, seen, skipped = work / "kaggle", {}, []
    for path in sorted(p for p in mirror.rglob("*") if p.is_file()):
        rel_in_mirror = path.relative_to(mirror).as_posix()
        reason = _skip_reason(path.name)
        if reason:
            skipped.append({"path": rel_in_mirror, "reason": reason})
            continue
        name_class = ucf101.parse_video_name(path.name)[0]
        # The folder of a mirror or the official spelling wins over the file name (v_HandStandPushups_...).
        cls = official.get(name_class.lower()) or (path.parent.name if path.parent.name.lower() == name_class.lower() else name_class)
        rel = f"{cls}/{path.name}"
        if rel.lower() in seen:
            skipped.append({"path": rel_in_mirror, "reason": f"duplicate of another file named {path.name}"})
            continue
        seen[rel.lower()] = rel
        (root / cls).mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(path.resolve())
    if not seen:
        raise DataError(f"source: kaggle: no UCF101-named videos (v_<Class>_gGG_cCC.<ext>) in the dataset {handle!r}")
    lists_dir, kind, unlisted = _derive_lists(sorted(seen.values()), work / "lists")
    return root, lists_dir, {"handle": handle, "lists": kind, "skipped": skipped + unlisted}


def _ucf101_root(data: dict, work: Path, *, seed: int, cache_dir: Path):
    cfg = _section(data, "ucf101")
    urls = {kind: _string(cfg, f"{kind}_url", "ucf101") for kind in ("video", "splits")}
    md5s = {}
    for kind in urls:
        md5 = cfg.get(f"{kind}_md5")
        if md5 is not None and (not isinstance(md5, str) or len(md5) != 32 or any(c not in "0123456789abcdefABCDEF" for c in md5)):
            raise ParamError(f"data.ucf101.{kind}_md5", md5, "null or a 32-digit hex MD5")
        md5s[kind] = md5.lower() if md5 else None
    base = Path(cache_dir) / "ucf101"
    archives = {kind: base / (PurePosixPath(urlparse(url).path).name or f"{kind}.archive") for kind, url in urls.items()}
    for kind in ("splits", "video"):  # the small one first: an offline machine fails in seconds
        if not archives[kind].is_file():
            _download(urls[kind], archives[kind], urls=urls, archives=archives)
    extracted = {kind: _extract_cached(archives[kind], md5s[kind]) for kind in archives}
    classinds = sorted(extracted["splits"].rglob("classInd.txt"))
    if not classinds:
        raise DataError(f"{archives['splits']}: no classInd.txt inside (is it the split-lists archive {urls['splits']}?)")
    return (
        _video_root(extracted["video"], archives["video"]),
        classinds[0].parent,
        {"archives": {kind: str(path) for kind, path in archives.items()}},
    )


# --- lists for a folder without its own ------------------------------------------------------------


def _derive_lists(videos: list[str], out: Path) -> tuple[Path, str, list[dict]]:
    """Lists for ``videos`` (``<Class>/<file>``): the official ones when every class is a UCF101 class,
    else the group rule. Returns (lists dir, "official" | "group rule", videos skipped as unlisted)."""
    if not videos:
        raise DataError("no UCF101-named videos (<Class>/v_<Class>_gGG_cCC.<ext>) found")
    official_dir = ucf101.official_lists_dir()
    official = ucf101.read_class_index(official_dir)
    present = {rel.split("/")[0] for rel in videos}
    if not present <= set(official):
        classes = sorted(present)
        ucf101.write_lists(out, classes, videos)
        return out / LISTS_DIR, "group rule", []

    # Match official entries to files by folder + stem, ignoring case and container:
    # ``HandstandPushups/v_HandStandPushups_g01_c01.avi`` also finds ``..._c01.mp4``.
    def key(rel: str) -> tuple[str, str]:
        folder, name = rel.split("/")
        return folder, PurePosixPath(name).stem.lower()

    on_disk = {key(rel): rel for rel in videos}
    used: set[str] = set()
    splits = {}
    for split in SPLITS:
        pair = []
        for kind in ("train", "test"):
            # Entries of present classes stay even if the file is absent: materialize counts those.
            entries = [on_disk.get(key(e), e) for e in ucf101.read_split_list(official_dir, kind, split) if e.split("/")[0] in present]
            used.update(entries)
            pair.append(entries)
        splits[split] = tuple(pair)
    _write_lists(out / LISTS_DIR, [c for c in official if c in present], splits)
    unlisted = [{"path": rel, "reason": "not in the official split lists"} for rel in videos if rel not in used]
    return out / LISTS_DIR, "official", unlisted


def _write_lists(lists_dir: Path, classes: list[str], splits: dict[int, tuple[list[str], list[str]]]) -> None:
    """classInd 1..K in the given order; train lists labelled by folder, like the official CRLF files."""
    lists_dir.mkdir(parents=True, exist_ok=True)
    label = {name: i for i, name in enumerate(classes, 1)}
    (lists_dir / "classInd.txt").write_text("".join(f"{i} {name}\r\n" for name, i in label.items()))
    for split, (train, test) in splits.items():
        (lists_dir / f"trainlist0{split}.txt").write_text("".join(f"{r} {label[r.split('/')[0]]}\r\n" for r in train))
        (lists_dir / f"testlist0{split}.txt").write_text("".join(f"{r}\r\n" for r in test))


def _try_read_list(lists_dir: Path, kind: str, split: int) -> list[str]:
    try:
        return ucf101.read_split_list(lists_dir, kind, split)
    except DataError:
        return []  # materialize reports the missing list itself


def _skip_reason(name: str) -> str | None:
    if PurePosixPath(name).suffix.lower() not in ucf101.VIDEO_EXTENSIONS:
        return "not a video file (extension not in " + " ".join(ucf101.VIDEO_EXTENSIONS) + ")"
    try:
        ucf101.parse_video_name(name)
    except DataError:
        return "name does not match v_<Class>_gGG_cCC.<ext>"
    return None


def _scan_folder(root: Path) -> tuple[list[str], list[dict]]:
    """Videos ``<Class>/<file>`` below ``root`` and every other file with the reason it is skipped."""
    videos, skipped = [], []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or rel.parts[0] == LISTS_DIR:
            continue
        reason = "not directly inside a class folder" if len(rel.parts) != 2 else _skip_reason(path.name)
        if reason:
            skipped.append({"path": rel.as_posix(), "reason": reason})
        else:
            videos.append(rel.as_posix())
    return videos, skipped


# --- downloads -------------------------------------------------------------------------------------


def _download(url: str, path: Path, *, urls: dict, archives: dict) -> None:
    """Download ``url`` to ``path`` via ``<path>.part``, resuming a previous partial download."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    start = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # nothing left after our offset: the .part is suspect, start over
            part.unlink()
            return _download(url, path, urls=urls, archives=archives)
        raise DataError(f"{url}: HTTP {e.code} {e.reason}. {_manual_download_hint(urls, archives)}") from None
    except (TimeoutError, urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DataError(f"cannot download {url} ({reason}). {_manual_download_hint(urls, archives)}") from None
    with response:
        if response.status == 206 and not response.headers.get("Content-Range", "").startswith(f"bytes {start}-"):
            response.close()  # a range we did not ask for: start over without one
            part.unlink()
            return _download(url, path, urls=urls, archives=archives)
        if response.status == 206:
            mode, offset = "ab", start
        else:  # 200: the server ignored the range, restart from zero
            mode, offset = "wb", 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        try:
            with open(part, mode) as f, tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=path.name) as bar:
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as e:
            raise DataError(f"{url}: download interrupted ({e}); run again to resume from {part}") from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise DataError(f"{url}: got {size} of {total} bytes; run again to resume from {part}")
    part.replace(path)


def _manual_download_hint(urls: dict, archives: dict) -> str:
    return (
        f"Without network access, download {urls['video']} and {urls['splits']} yourself and put them at "
        f"{archives['video']} and {archives['splits']} (they are then used without downloading), "
        "or extract UCF101 yourself and use `source: folder` with `data.path` pointing at it."
    )


# --- archives ---------------------------------------------------------------------------------------


def _extract_cached(archive: Path, md5: str | None) -> Path:
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
    _remove(partial)
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


def _video_root(extracted: Path, archive: Path) -> Path:
    """The folder that holds the class folders (``UCF101/`` in the official rar), wherever it is."""
    parents = Counter(p.parent.parent for p in extracted.rglob("*") if p.is_file() and not _skip_reason(p.name))
    if not parents:
        raise DataError(f"{archive}: no UCF101 videos (<Class>/v_<Class>_gGG_cCC.avi) inside")
    return parents.most_common(1)[0][0]


# --- kaggle credentials -----------------------------------------------------------------------------


def _kaggle_credentials_present() -> bool:
    """Whether kagglehub will find credentials (only checks existence; never reads the values)."""
    env = os.environ
    if (env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY")) or env.get("KAGGLE_API_TOKEN"):
        return True
    home = Path.home()
    config = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"
    candidates = [home / ".kaggle" / "kaggle.json", home / ".kaggle" / "access_token", config / "kaggle.json", config / "access_token"]
    if env.get("KAGGLE_CONFIG_DIR"):
        candidates.append(Path(env["KAGGLE_CONFIG_DIR"]) / "kaggle.json")
    return any(p.is_file() for p in candidates)


def _redact(text: str) -> str:
    """``text`` with any Kaggle key from the environment or kaggle.json replaced by ***."""
    secrets = [os.environ.get("KAGGLE_KEY"), os.environ.get("KAGGLE_API_TOKEN")]
    for path in (Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle") / "kaggle.json",):
        try:
            secrets.append(json.loads(path.read_text()).get("key"))
        except (OSError, ValueError, AttributeError):
            pass
    for secret in secrets:
        if isinstance(secret, str) and secret:
            text = text.replace(secret, "***")
    return text


# --- files ------------------------------------------------------------------------------------------


def _link(src: Path, dst: Path) -> None:
    src = Path(src).resolve()  # the real file behind a symlink (kaggle source root): os.link would link the symlink
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not supported
        shutil.copy2(src, dst)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
