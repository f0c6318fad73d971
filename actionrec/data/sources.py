"""The ``download`` stage: get the dataset chosen by ``params.yaml: data`` into UCF101 layout.

Every source first yields a *source root* (``<Class>/<video>`` files) and a lists directory
(``classInd.txt`` + train/test lists); then :func:`materialize` applies ``data.classes`` and
``data.fraction`` and writes the destination. Downloads and extractions stay in ``cache_dir``
so that changing the selection never downloads again.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from tqdm import tqdm

from actionrec.config import Data, cores
from actionrec.data import kaggle, synthetic, ucf101
from actionrec.data.archives import extract_cached
from actionrec.data.downloads import download
from actionrec.data.ucf101 import LISTS_DIR, SPLITS
from actionrec.errors import DataError, ParamError
from actionrec.io import remove

MAX_REPORTED = 100  # skipped files listed in the report (the count is always complete)


def prepare_dataset(data: Data, dest: Path, *, seed: int, cache_dir: Path) -> dict:
    """Write the dataset selected by ``data`` (the ``data:`` params) to ``dest``; return a JSON-able report."""
    source = data.source
    build = {"synthetic": _synthetic_root, "ucf101": _ucf101_root, "kaggle": _kaggle_root, "folder": _folder_root}[source]
    dest, cache_dir = Path(dest), Path(cache_dir)
    tmp = dest.with_name(dest.name + ".tmp")
    work = dest.with_name(dest.name + ".work.tmp")  # scratch (generated videos, derived lists); *.tmp is git-ignored
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove(tmp)
    remove(work)
    try:
        work.mkdir()
        src_root, lists_dir, info = build(data, work, seed=seed, cache_dir=cache_dir)
        report = materialize(src_root, tmp, classes=data.classes, fraction=data.fraction, seed=seed, lists_dir=lists_dir)
    except BaseException:
        remove(tmp)
        raise
    finally:
        remove(work)
    remove(dest)
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
    kinds = ucf101.read_class_kinds(lists_dir, all_classes)
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
    ucf101.write_split_lists(dest / LISTS_DIR, kept_classes, splits, kinds and {name: kinds[name] for name in kept_classes})
    return {
        "classes": len(kept_classes),
        "class_names": kept_classes,
        "videos": len(kept),
        "splits": {str(s): {"train": len(tr), "test": len(te)} for s, (tr, te) in splits.items()},
        "fraction": fraction,
        "listed_absent": len(absent),
        "listed_absent_examples": absent[:5],
    }


def _required(section, name: str, keys: str):
    if section is None:
        raise ParamError(f"data.{name}", None, f"a mapping with {keys} (required by source: {name})")
    return section


# --- sources: each returns (source root, lists dir, report info) --------------------------------


def _synthetic_root(data: Data, work: Path, *, seed: int, cache_dir: Path):
    s = data.synthetic
    root = work / "synthetic"
    with tqdm(total=len(synthetic.CLASSES) * s.groups * s.clips_per_group, desc="synthetic videos", unit="video") as bar:
        synthetic.generate(
            root,
            groups=s.groups,
            clips_per_group=s.clips_per_group,
            frames=tuple(s.frames),
            size=tuple(s.size),
            fps=s.fps,
            seed=seed,
            workers=cores(s.workers),
            progress=lambda done: bar.update(done - bar.n),
        )
    return root, None, {}


def _folder_root(data: Data, work: Path, *, seed: int, cache_dir: Path):
    path = data.path
    if not path or not Path(path).is_dir():
        raise ParamError("data.path", path, "an existing directory in UCF101 layout (required by source: folder)")
    root = Path(path)
    videos, skipped = _scan_folder(root)
    if (root / LISTS_DIR).is_dir():
        listed = {rel for kind in ("train", "test") for s in SPLITS for rel in _try_read_list(root / LISTS_DIR, kind, s)}
        skipped += [{"path": rel, "reason": "not in the split lists"} for rel in videos if rel not in listed]
        return root, root / LISTS_DIR, {"lists": "own", "skipped": skipped}
    lists_dir, kind, unlisted = ucf101.derive_lists(videos, work / "lists")
    return root, lists_dir, {"lists": kind, "skipped": skipped + unlisted}


def _kaggle_root(data: Data, work: Path, *, seed: int, cache_dir: Path):
    handle = _required(data.kaggle, "kaggle", "handle").handle
    try:
        import kagglehub
    except ImportError:
        raise DataError("source: kaggle needs the kagglehub package: pip install kagglehub") from None
    if not kaggle.credentials_present():
        raise DataError(
            "source: kaggle: no Kaggle credentials found. Set KAGGLE_USERNAME and KAGGLE_KEY in the environment, "
            "or put kaggle.json (from kaggle.com > Settings > API > Create New Token) in ~/.kaggle/ "
            "(or $KAGGLE_CONFIG_DIR, or ~/.config/kaggle/)"
        )
    try:
        mirror = Path(kagglehub.dataset_download(handle))
    except Exception as e:  # kagglehub raises many types; its message could echo a credential
        raise DataError(f"source: kaggle: downloading {handle!r} failed: {kaggle.redact(f'{type(e).__name__}: {e}')}") from None

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
    lists_dir, kind, unlisted = ucf101.derive_lists(sorted(seen.values()), work / "lists")
    return root, lists_dir, {"handle": handle, "lists": kind, "skipped": skipped + unlisted}


def _ucf101_root(data: Data, work: Path, *, seed: int, cache_dir: Path):
    cfg = _required(data.ucf101, "ucf101", "video_url and splits_url")
    urls = {"video": cfg.video_url, "splits": cfg.splits_url}
    md5s = {"video": cfg.video_md5 and cfg.video_md5.lower(), "splits": cfg.splits_md5 and cfg.splits_md5.lower()}
    base = Path(cache_dir) / "ucf101"
    archives = {kind: base / (PurePosixPath(urlparse(url).path).name or f"{kind}.archive") for kind, url in urls.items()}
    for kind in ("splits", "video"):  # the small one first: an offline machine fails in seconds
        if not archives[kind].is_file():
            download(urls[kind], archives[kind], hint=_manual_download_hint(urls, archives))
    extracted = {kind: extract_cached(archives[kind], md5s[kind]) for kind in archives}
    classinds = sorted(extracted["splits"].rglob("classInd.txt"))
    if not classinds:
        raise DataError(f"{archives['splits']}: no classInd.txt inside (is it the split-lists archive {urls['splits']}?)")
    return (
        _video_root(extracted["video"], archives["video"]),
        classinds[0].parent,
        {"archives": {kind: str(path) for kind, path in archives.items()}},
    )


# --- lists for a folder without its own ------------------------------------------------------------


def _manual_download_hint(urls: dict, archives: dict) -> str:
    return (
        f"Without network access, download {urls['video']} and {urls['splits']} yourself and put them at "
        f"{archives['video']} and {archives['splits']} (they are then used without downloading), "
        "or extract UCF101 yourself and use `source: folder` with `data.path` pointing at it."
    )


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


# --- the videos inside an extracted archive -----------------------------------------------------


def _video_root(extracted: Path, archive: Path) -> Path:
    """The folder that holds the class folders (``UCF101/`` in the official rar), wherever it is."""
    parents = Counter(p.parent.parent for p in extracted.rglob("*") if p.is_file() and not _skip_reason(p.name))
    if not parents:
        raise DataError(f"{archive}: no UCF101 videos (<Class>/v_<Class>_gGG_cCC.avi) inside")
    return parents.most_common(1)[0][0]


# --- files ------------------------------------------------------------------------------------------


def _link(src: Path, dst: Path) -> None:
    src = Path(src).resolve()  # the real file behind a symlink (kaggle source root): os.link would link the symlink
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not supported
        shutil.copy2(src, dst)
