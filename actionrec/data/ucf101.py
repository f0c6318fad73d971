"""UCF101 naming, class index, the official train/test split rule, and the lists for a set of videos.

Layout every data source produces (the official one)::

    <root>/<Class>/v_<Class>_gGG_cCC.<ext>
    <root>/ucfTrainTestlist/classInd.txt             "1 ApplyEyeMakeup" ...
    <root>/ucfTrainTestlist/trainlist0k.txt          "<Class>/<file> <label>"
    <root>/ucfTrainTestlist/testlist0k.txt           "<Class>/<file>"
    <root>/ucfTrainTestlist/classKinds.txt           "<Class> <kind>" (optional, not official)

``classKinds.txt`` groups the classes into kinds that are scored apart (the synthetic set's
motion and appearance classes); datasets without it (UCF101) are scored as a whole.

Labels always come from classInd and the *folder* name, never from the file name: the
official lists contain ``HandstandPushups/v_HandStandPushups_g01_c01.avi``.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from actionrec.errors import DataError, ParamError

LISTS_DIR = "ucfTrainTestlist"
KINDS_FILE = "classKinds.txt"
SPLITS = (1, 2, 3)
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v")
_NAME_RE = re.compile(r"^v_(?P<cls>.+)_g(?P<group>\d+)_c(?P<clip>\d+)\.[A-Za-z0-9]+$")


def official_lists_dir() -> Path:
    """The official UCF101 split lists shipped with the package."""
    return Path(str(resources.files("actionrec") / "resources" / LISTS_DIR))


@dataclass(frozen=True)
class Video:
    path: str  # relative to the dataset root, "<Class>/<file>"
    class_name: str
    label: int  # 0-based
    group: int
    clip: int
    split: str  # "train" | "test"


def parse_video_name(filename: str) -> tuple[str, int, int]:
    """``v_ApplyEyeMakeup_g08_c01.avi`` -> ("ApplyEyeMakeup", 8, 1)."""
    match = _NAME_RE.match(Path(filename).name)
    if not match:
        raise DataError(f"{filename}: not a UCF101 video name (expected v_<Class>_gGG_cCC.<ext>)")
    return match["cls"], int(match["group"]), int(match["clip"])


def test_groups(split: int) -> range:
    """Official rule: split k tests on groups 7k-6 .. 7k (same actor/background never on both sides)."""
    if split not in SPLITS:
        raise ParamError("data.split", split, "one of 1, 2, 3")
    return range(7 * split - 6, 7 * split + 1)


def _read_lines(path: Path) -> list[str]:
    # The official files use CRLF; splitlines() handles both.
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def read_class_index(lists_dir: Path) -> list[str]:
    """Class names ordered by their 1-based index in classInd.txt."""
    path = Path(lists_dir) / "classInd.txt"
    if not path.is_file():
        raise DataError(f"{path}: class index not found")
    entries = {}
    for line_no, line in enumerate(_read_lines(path), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(f"{path}:{line_no}: expected '<index> <ClassName>', got {line!r}")
        entries[int(parts[0])] = parts[1]
    if sorted(entries) != list(range(1, len(entries) + 1)):
        raise DataError(f"{path}: class indices must run 1..{len(entries)} without gaps")
    return [entries[i] for i in sorted(entries)]


def read_split_list(lists_dir: Path, kind: str, split: int) -> list[str]:
    """Relative video paths of ``trainlist0k``/``testlist0k`` (labels in the train list are ignored)."""
    test_groups(split)  # validates split
    path = Path(lists_dir) / f"{kind}list0{split}.txt"
    if not path.is_file():
        raise DataError(f"{path}: split list not found")
    return [line.split()[0] for line in _read_lines(path)]


def read_class_kinds(lists_dir: Path, classes: list[str]) -> dict[str, str] | None:
    """The kind of each of ``classes`` from ``classKinds.txt``, in their order; None without the file."""
    path = Path(lists_dir) / KINDS_FILE
    if not path.is_file():
        return None
    kinds: dict[str, str] = {}
    for line_no, line in enumerate(_read_lines(path), 1):
        parts = line.split()
        if len(parts) != 2:
            raise DataError(f"{path}:{line_no}: expected '<ClassName> <kind>', got {line!r}")
        if parts[0] in kinds:
            raise DataError(f"{path}:{line_no}: class {parts[0]!r} is listed twice")
        kinds[parts[0]] = parts[1]
    missing = [name for name in classes if name not in kinds]
    if missing:
        raise DataError(f"{path}: no kind for class(es) {', '.join(missing)} of classInd.txt")
    return {name: kinds[name] for name in classes}


def write_class_kinds(lists_dir: Path, kinds: dict[str, str] | None) -> None:
    if kinds:
        (Path(lists_dir) / KINDS_FILE).write_text("".join(f"{name} {kind}\r\n" for name, kind in kinds.items()))


def write_split_lists(lists_dir: Path, classes: list[str], splits: dict, kinds: dict[str, str] | None = None) -> None:
    """classInd 1..K in the order of ``classes`` (and classKinds, given ``kinds``), and for each split
    ``{k: (train, test)}`` its lists, train entries labelled by their folder, in the official CRLF form."""
    lists_dir = Path(lists_dir)
    lists_dir.mkdir(parents=True, exist_ok=True)
    label = {name: i for i, name in enumerate(classes, 1)}
    (lists_dir / "classInd.txt").write_text("".join(f"{i} {name}\r\n" for name, i in label.items()))
    write_class_kinds(lists_dir, kinds)
    for split, (train, test) in splits.items():
        (lists_dir / f"trainlist0{split}.txt").write_text("".join(f"{r} {label[r.split('/')[0]]}\r\n" for r in train))
        (lists_dir / f"testlist0{split}.txt").write_text("".join(f"{r}\r\n" for r in test))


def write_lists(root: Path, classes: list[str], videos: list[str], kinds: dict[str, str] | None = None) -> None:
    """Write ``<root>/ucfTrainTestlist/``: classInd (and classKinds, given ``kinds``) and all three
    train/test lists for ``videos`` (relative paths) by the group rule."""
    splits = {}
    for split in SPLITS:
        held_out = test_groups(split)
        ordered = sorted(videos)
        splits[split] = (
            [rel for rel in ordered if parse_video_name(rel)[1] not in held_out],
            [rel for rel in ordered if parse_video_name(rel)[1] in held_out],
        )
    write_split_lists(Path(root) / LISTS_DIR, classes, splits, kinds)


def find_videos(root: Path) -> list[str]:
    """Relative paths ``<Class>/<file>`` of every video file one level below ``root``."""
    root = Path(root)
    return sorted(
        f"{p.parent.name}/{p.name}"
        for p in root.glob("*/*")
        if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS and p.parent.name != LISTS_DIR
    )


def index_dataset(root: Path, split: int) -> list[Video]:
    """Every video listed in split ``split`` of the dataset at ``root``, with labels from classInd.

    Videos listed but missing on disk are an error naming them (a silently shrunk test set
    would make accuracies incomparable); files on disk that no list mentions are ignored.
    """
    root = Path(root)
    lists_dir = root / LISTS_DIR
    classes = read_class_index(lists_dir)
    label_of = {name: i for i, name in enumerate(classes)}
    videos: list[Video] = []
    missing: list[str] = []
    for kind in ("train", "test"):
        for rel in read_split_list(lists_dir, kind, split):
            class_name = rel.split("/")[0]
            if class_name not in label_of:
                raise DataError(f"{lists_dir}/{kind}list0{split}.txt: {rel}: class {class_name!r} is not in classInd.txt")
            if not (root / rel).exists():
                missing.append(rel)
                continue
            _, group, clip = parse_video_name(rel)
            videos.append(Video(rel, class_name, label_of[class_name], group, clip, kind))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataError(f"{root}: {len(missing)} videos in the split lists are missing on disk: {shown}")
    return videos


def select_videos(
    videos: list[str], classes: list[str], wanted: list[str] | None, fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """Apply ``data.classes`` and ``data.fraction``: returns (classes kept, videos kept).

    The fraction is taken per class (stratified, at least one video each) and is deterministic
    under ``seed``: the same videos for the same seed, whatever other classes are selected.
    """
    if wanted:
        unknown = sorted(set(wanted) - set(classes))
        if unknown:
            raise ParamError("data.classes", unknown, f"names from classInd.txt, e.g. {classes[:5]}")
        classes = [c for c in classes if c in set(wanted)]
    if not 0 < fraction <= 1:
        raise ParamError("data.fraction", fraction, "a number in (0, 1]")
    by_class: dict[str, list[str]] = defaultdict(list)
    for rel in videos:
        by_class[rel.split("/")[0]].append(rel)
    kept: list[str] = []
    for name in classes:
        members = sorted(by_class.get(name, []))
        if fraction < 1:
            members = sorted(random.Random(f"{seed}-{name}").sample(members, max(1, round(len(members) * fraction))))
        kept.extend(members)
    return classes, kept


def derive_lists(videos: list[str], out: Path) -> tuple[Path, str, list[dict]]:
    """Lists for ``videos`` (``<Class>/<file>``): the official ones when every class is a UCF101 class,
    else the group rule. Returns (lists dir, "official" | "group rule", videos skipped as unlisted)."""
    if not videos:
        raise DataError("no UCF101-named videos (<Class>/v_<Class>_gGG_cCC.<ext>) found")
    official_dir = official_lists_dir()
    official = read_class_index(official_dir)
    present = {rel.split("/")[0] for rel in videos}
    if not present <= set(official):
        classes = sorted(present)
        write_lists(out, classes, videos)
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
            entries = [on_disk.get(key(e), e) for e in read_split_list(official_dir, kind, split) if e.split("/")[0] in present]
            used.update(entries)
            pair.append(entries)
        splits[split] = tuple(pair)
    write_split_lists(out / LISTS_DIR, [c for c in official if c in present], splits)
    unlisted = [{"path": rel, "reason": "not in the official split lists"} for rel in videos if rel not in used]
    return out / LISTS_DIR, "official", unlisted
