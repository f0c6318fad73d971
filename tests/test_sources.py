"""The download stage's sources: folder, ucf101 (against a local HTTP server), kaggle (a fake kagglehub),
synthetic; selection, list handling, safe extraction and atomic replacement. All offline."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import socket
import struct
import sys
import threading
import time
import types
import zipfile
import zlib
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import write_video

from actionrec import config
from actionrec.data import sources, ucf101
from actionrec.data.archives import safe_extract
from actionrec.errors import DataError, ParamError

OFFICIAL = ucf101.official_lists_dir()


def data(source="folder", **kw) -> dict:
    return {"source": source, "path": None, "split": 1, "fraction": 1.0, "classes": None, **kw}


def prepare(data: dict, dest: Path, **kwargs) -> dict:
    """The download stage's call: the ``data`` section checked as params.yaml is, then the dataset written."""
    return sources.prepare_dataset(config.check(config.Data, data, "data"), dest, **kwargs)


def make_tree(root: Path, classes=("Alpha", "Beta", "Gamma"), groups=8, clips=1, ext=".avi", real=False) -> list[str]:
    """UCF101-named files; real ones are tiny MJPG videos, the others a few distinct bytes (nothing here decodes)."""
    videos = []
    for c in classes:
        for g in range(1, groups + 1):
            for k in range(1, clips + 1):
                rel = f"{c}/v_{c}_g{g:02d}_c{k:02d}{ext}"
                if real:
                    write_video(root / rel, 3, size=(32, 24))
                else:
                    (root / rel).parent.mkdir(parents=True, exist_ok=True)
                    (root / rel).write_bytes(rel.encode())
                videos.append(rel)
    return videos


def lists_of(root: Path) -> dict:
    d = root / ucf101.LISTS_DIR
    out = {"classInd": ucf101.read_class_index(d)}
    for s in ucf101.SPLITS:
        out[f"train{s}"] = (d / f"trainlist0{s}.txt").read_text().splitlines()
        out[f"test{s}"] = ucf101.read_split_list(d, "test", s)
    return out


def assert_consistent(root: Path) -> None:
    """Every listed video exists, every video is in each split exactly once, train labels match the folder."""
    lists = lists_of(root)
    label = {c: i for i, c in enumerate(lists["classInd"], 1)}
    on_disk = set(ucf101.find_videos(root))
    for s in ucf101.SPLITS:
        train = [line.split() for line in lists[f"train{s}"]]
        assert all(int(lbl) == label[rel.split("/")[0]] for rel, lbl in train)
        listed = [rel for rel, _ in train] + lists[f"test{s}"]
        assert sorted(listed) == sorted(on_disk)


# --- parameters ----------------------------------------------------------------------------------


def test_unknown_source_names_the_valid_ones(tmp_path):
    with pytest.raises(ParamError, match="data.source") as e:
        prepare(data("ftp"), tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")
    assert "synthetic, ucf101, kaggle, folder" in str(e.value)


@pytest.mark.parametrize("path", [None, "does/not/exist"])
def test_folder_source_needs_a_path(tmp_path, path):
    with pytest.raises(ParamError, match="'data.path'"):
        prepare(data(path=path), tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")


@pytest.mark.parametrize("key,value", [("fraction", 0), ("fraction", 1.5), ("fraction", "half"), ("classes", "Alpha"), ("classes", [])])
def test_selection_params_are_validated(tmp_path, key, value):
    make_tree(tmp_path / "src")
    with pytest.raises(ParamError, match=f"data.{key}"):
        prepare(data(path=str(tmp_path / "src"), **{key: value}), tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")


# --- folder ----------------------------------------------------------------------------------------


def test_folder_with_its_own_lists_keeps_them_and_reports_odd_files(tmp_path):
    src = tmp_path / "src"
    videos = make_tree(src, real=True)
    ucf101.write_lists(src, ["Alpha", "Beta", "Gamma"], videos)
    (src / "Alpha" / "clip.avi").write_bytes(b"x")  # misnamed
    (src / "Alpha" / "notes.txt").write_text("hi")
    (src / "README").write_text("hi")
    (src / "Beta" / "v_Beta_g09_c01.avi").write_bytes(b"")  # well named, zero bytes, but in no list
    report = prepare(data(path=str(src)), tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")

    raw = tmp_path / "raw"
    assert lists_of(raw) == lists_of(src)
    assert (raw / videos[0]).stat().st_ino == (src / videos[0]).stat().st_ino  # hard-linked, not copied
    assert report["source"] == "folder" and report["lists"] == "own"
    assert report["classes"] == 3 and report["videos"] == 24
    assert report["splits"]["1"] == {"train": 3, "test": 21}
    reasons = {s["path"]: s["reason"] for s in report["skipped"]}
    assert set(reasons) == {"Alpha/clip.avi", "Alpha/notes.txt", "README", "Beta/v_Beta_g09_c01.avi"}
    assert "v_<Class>_gGG_cCC" in reasons["Alpha/clip.avi"] and "not in the split lists" in reasons["Beta/v_Beta_g09_c01.avi"]
    assert report["skipped_count"] == 4
    json.dumps(report)


def test_folder_of_ucf101_classes_uses_the_official_lists(tmp_path):
    src = tmp_path / "src"
    files = [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c02.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g15_c01.mp4",  # another container: still the official entry
        "HandstandPushups/v_HandStandPushups_g01_c01.avi",  # the official lists' spelling
        "HandstandPushups/v_HandStandPushups_g09_c01.avi",
        "HandstandPushups/v_HandstandPushups_g16_c01.avi",  # a mirror that "fixed" the spelling
    ]
    for rel in files:
        write_video(src / rel, 3, size=(32, 24))
    (src / "HandstandPushups" / "v_HandStandPushups_g10_c01.avi").write_bytes(b"")  # zero bytes: passes through
    (src / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g99_c01.avi").write_bytes(b"x")  # not in the official lists
    report = prepare(data(path=str(src)), tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")

    raw = tmp_path / "raw"
    assert report["lists"] == "official" and report["classes"] == 2 and report["videos"] == 7
    assert ucf101.read_class_index(raw / ucf101.LISTS_DIR) == ["ApplyEyeMakeup", "HandstandPushups"]
    lists = lists_of(raw)
    assert "HandstandPushups/v_HandStandPushups_g09_c01.avi 2" in lists["train1"]
    assert "HandstandPushups/v_HandStandPushups_g01_c01.avi" in lists["test1"]
    assert "HandstandPushups/v_HandstandPushups_g16_c01.avi" in lists["test3"]
    assert "ApplyEyeMakeup/v_ApplyEyeMakeup_g15_c01.mp4" in lists["test3"]
    assert (raw / "HandstandPushups/v_HandStandPushups_g10_c01.avi").stat().st_size == 0
    assert_consistent(raw)
    official = [e for k in ("train", "test") for e in ucf101.read_split_list(OFFICIAL, k, 1)]
    expected_absent = sum(e.split("/")[0] in ("ApplyEyeMakeup", "HandstandPushups") for e in official) - 7
    assert report["listed_absent"] == expected_absent > 0
    assert report["skipped"] == [{"path": "ApplyEyeMakeup/v_ApplyEyeMakeup_g99_c01.avi", "reason": "not in the official split lists"}]
    assert {v.split for v in ucf101.index_dataset(raw, 1)} == {"train", "test"}


def test_non_ucf101_folder_gets_group_rule_lists(tmp_path):
    src = tmp_path / "src"
    make_tree(src, classes=("Dance", "Jump"), groups=22, clips=2, ext=".mp4")
    report = prepare(data(path=str(src)), tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")
    raw = tmp_path / "raw"
    assert report["lists"] == "group rule" and report["videos"] == 88 and report["skipped"] == []
    assert_consistent(raw)
    for s in ucf101.SPLITS:
        videos = ucf101.index_dataset(raw, s)
        train = {v.group for v in videos if v.split == "train"}
        test = {v.group for v in videos if v.split == "test"}
        assert test == set(ucf101.test_groups(s)) and not train & test


# --- selection -------------------------------------------------------------------------------------


def test_fraction_and_classes_are_stratified_deterministic_and_renumbered(tmp_path):
    src = tmp_path / "src"
    videos = make_tree(src, classes=("Alpha", "Beta", "Gamma"), groups=8, clips=4)
    ucf101.write_lists(src, ["Alpha", "Beta", "Gamma"], videos)
    params = data(path=str(src), fraction=0.25, classes=["Gamma", "Alpha"])
    report = prepare(params, tmp_path / "a", seed=7, cache_dir=tmp_path / "c")
    prepare(params, tmp_path / "b", seed=7, cache_dir=tmp_path / "c")
    prepare(params, tmp_path / "d", seed=8, cache_dir=tmp_path / "c")

    a = lists_of(tmp_path / "a")
    assert a["classInd"] == ["Alpha", "Gamma"]  # original order, renumbered 1..2
    assert report["class_names"] == ["Alpha", "Gamma"] and report["videos"] == 16
    kept = ucf101.find_videos(tmp_path / "a")
    assert sum(v.startswith("Alpha/") for v in kept) == sum(v.startswith("Gamma/") for v in kept) == 8
    assert all(line.endswith(" 2") for line in a["train1"] if line.startswith("Gamma/"))
    assert_consistent(tmp_path / "a")
    assert a == lists_of(tmp_path / "b")
    assert a != lists_of(tmp_path / "d")


def test_unknown_class_and_empty_class(tmp_path):
    src = tmp_path / "src"
    videos = make_tree(src)
    ucf101.write_lists(src, ["Alpha", "Beta", "Gamma", "Delta"], videos)  # Delta has no videos
    with pytest.raises(ParamError, match="data.classes"):
        prepare(data(path=str(src), classes=["Omega"]), tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")
    with pytest.raises(DataError, match="Delta"):
        prepare(data(path=str(src)), tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")
    prepare(data(path=str(src), classes=["Beta"]), tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")
    assert ucf101.read_class_index(tmp_path / "raw" / ucf101.LISTS_DIR) == ["Beta"]


# --- atomicity -------------------------------------------------------------------------------------


def test_failure_mid_way_leaves_the_old_dest_untouched(tmp_path, monkeypatch):
    src = tmp_path / "src"
    make_tree(src)
    raw = tmp_path / "raw"
    (raw / "Old").mkdir(parents=True)
    (raw / "Old" / "marker").write_text("old")
    real_link, calls = sources._link, []

    def failing_link(a, b):
        calls.append(a)
        if len(calls) == 5:
            raise OSError("disk full")
        real_link(a, b)

    monkeypatch.setattr(sources, "_link", failing_link)
    with pytest.raises(OSError, match="disk full"):
        prepare(data(path=str(src)), raw, seed=0, cache_dir=tmp_path / "c")
    assert [p.name for p in raw.iterdir()] == ["Old"] and (raw / "Old" / "marker").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw", "src"]  # no .tmp / .work.tmp left

    monkeypatch.setattr(sources, "_link", real_link)
    (tmp_path / "raw.tmp").mkdir()  # a stale one from a killed run
    prepare(data(path=str(src)), raw, seed=0, cache_dir=tmp_path / "c")
    assert not (raw / "Old").exists() and len(ucf101.find_videos(raw)) == 24
    assert not (tmp_path / "raw.tmp").exists()


# --- ucf101: downloads from a local server ---------------------------------------------------------


class Server:
    """A threaded HTTP server on 127.0.0.1 that serves ``files`` and honours ``Range: bytes=N-``."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.log, self.ignore_range, self.truncate = files, [], False, False
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, self))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"


class _Handler(BaseHTTPRequestHandler):
    def __init__(self, server_state: Server, *args):
        self.state = server_state
        super().__init__(*args)

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = self.state.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        start = int(rng.removeprefix("bytes=").rstrip("-")) if rng and not self.state.ignore_range else 0
        payload = body[start:]
        if self.state.truncate:
            payload = payload[: len(payload) // 2]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(payload)
        self.state.log.append({"path": self.path, "range": rng, "sent": len(payload)})


def closed_port_url(name: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, bytes]:
    """A zip "video archive" (UCF101/<Class>/...) of ~300 kB and the split-lists zip, like the official pair."""
    root = tmp_path_factory.mktemp("ucf")
    videos = make_tree(root, classes=("Alpha", "Beta"), groups=8, clips=1)
    noise = hashlib.sha256(b"x").digest() * 600  # incompressible-ish padding so resumes are visible
    video_zip = zip_bytes({f"UCF101/{rel}": rel.encode() + noise for rel in videos})
    ucf101.write_lists(root, ["Alpha", "Beta"], videos)
    lists = {f"ucfTrainTestlist/{p.name}": p.read_bytes() for p in (root / ucf101.LISTS_DIR).iterdir()}
    return {"videos.zip": video_zip, "splits.zip": zip_bytes(lists)}


def ucf_params(video_url: str, splits_url: str, **kw) -> dict:
    return data("ucf101", ucf101={"video_url": video_url, "splits_url": splits_url, "video_md5": None, "splits_md5": None, **kw})


def test_ucf101_downloads_once_then_uses_the_cache(tmp_path, archives):
    server = Server(archives)
    params = ucf_params(server.url("videos.zip"), server.url("splits.zip"))
    cache = tmp_path / "cache"
    report = prepare(params, tmp_path / "raw", seed=0, cache_dir=cache)
    assert report["videos"] == 16 and report["classes"] == 2
    assert (cache / "ucf101" / "videos.zip").read_bytes() == archives["videos.zip"]
    assert sorted(e["path"] for e in server.log) == ["/splits.zip", "/videos.zip"]
    assert (tmp_path / "raw" / "Alpha" / "v_Alpha_g01_c01.avi").read_bytes().startswith(b"Alpha/v_Alpha_g01_c01.avi")
    assert_consistent(tmp_path / "raw")

    server.log.clear()
    prepare({**params, "fraction": 0.5}, tmp_path / "raw", seed=0, cache_dir=cache)
    assert server.log == []  # a new selection never downloads again
    assert len(ucf101.find_videos(tmp_path / "raw")) == 8


def test_ucf101_resumes_a_partial_download(tmp_path, archives):
    server = Server(archives)
    base = tmp_path / "cache" / "ucf101"
    base.mkdir(parents=True)
    body = archives["videos.zip"]
    (base / "videos.zip.part").write_bytes(body[:100_000])
    prepare(ucf_params(server.url("videos.zip"), server.url("splits.zip")), tmp_path / "raw", seed=0, cache_dir=tmp_path / "cache")
    entry = next(e for e in server.log if e["path"] == "/videos.zip")
    assert entry["range"] == "bytes=100000-" and entry["sent"] == len(body) - 100_000
    assert (base / "videos.zip").read_bytes() == body and not (base / "videos.zip.part").exists()


def test_ucf101_restarts_when_the_server_ignores_the_range(tmp_path, archives):
    server = Server(archives)
    server.ignore_range = True
    base = tmp_path / "cache" / "ucf101"
    base.mkdir(parents=True)
    (base / "videos.zip.part").write_bytes(b"garbage" * 1000)
    prepare(ucf_params(server.url("videos.zip"), server.url("splits.zip")), tmp_path / "raw", seed=0, cache_dir=tmp_path / "cache")
    assert (base / "videos.zip").read_bytes() == archives["videos.zip"]


def test_ucf101_interrupted_download_keeps_the_part_for_resuming(tmp_path, archives):
    server = Server(archives)
    server.truncate = True
    params = ucf_params(server.url("videos.zip"), server.url("splits.zip"))
    with pytest.raises(DataError, match="run again to resume"):
        prepare(params, tmp_path / "raw", seed=0, cache_dir=tmp_path / "cache")
    part = tmp_path / "cache" / "ucf101" / "splits.zip.part"
    assert 0 < part.stat().st_size < len(archives["splits.zip"])
    server.truncate = False
    prepare(params, tmp_path / "raw", seed=0, cache_dir=tmp_path / "cache")
    assert any(e["range"] for e in server.log)


def test_ucf101_md5_is_checked(tmp_path, archives):
    server = Server(archives)
    good = hashlib.md5(archives["splits.zip"]).hexdigest()
    params = ucf_params(server.url("videos.zip"), server.url("splits.zip"), video_md5="0" * 32, splits_md5=good)
    with pytest.raises(DataError, match="MD5"):
        prepare(params, tmp_path / "raw", seed=0, cache_dir=tmp_path / "cache")
    with pytest.raises(ParamError, match="data.ucf101.video_md5"):
        prepare(ucf_params("http://x/a.rar", "http://x/b.zip", video_md5="abc"), tmp_path / "raw", seed=0, cache_dir=tmp_path / "c2")


def test_ucf101_offline_fails_fast_with_instructions(tmp_path):
    video_url, splits_url = closed_port_url("UCF101.rar"), closed_port_url("splits.zip")
    cache = tmp_path / "cache"
    started = time.monotonic()
    with pytest.raises(DataError) as e:
        prepare(ucf_params(video_url, splits_url), tmp_path / "raw", seed=0, cache_dir=cache)
    assert time.monotonic() - started < 5
    message = str(e.value)
    for text in (
        video_url,
        splits_url,
        str(cache / "ucf101" / "UCF101.rar"),
        str(cache / "ucf101" / "splits.zip"),
        "source: folder",
        "data.path",
    ):
        assert text in message


def test_ucf101_uses_pre_placed_archives_without_network(tmp_path, archives):
    base = tmp_path / "cache" / "ucf101"
    base.mkdir(parents=True)
    for name, body in archives.items():
        (base / name).write_bytes(body)
    params = ucf_params(closed_port_url("videos.zip"), closed_port_url("splits.zip"))
    report = prepare(params, tmp_path / "raw", seed=0, cache_dir=tmp_path / "cache")
    assert report["videos"] == 16


def test_corrupt_archive_is_reported(tmp_path, archives):
    body = bytearray(archives["splits.zip"])
    body[60] ^= 0xFF  # inside the first member's data: CRC mismatch
    archive = tmp_path / "splits.zip"
    archive.write_bytes(bytes(body))
    with pytest.raises(DataError, match="splits.zip"):
        safe_extract(archive, tmp_path / "out")


# --- safe extraction -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["../evil.txt", "/ABS/evil.txt", "a/../../evil.txt", "link"])
def test_unsafe_archives_are_refused_before_extracting_anything(tmp_path, bad):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ok.txt", "fine")
        if bad == "link":  # a symlink member pointing outside
            info = zipfile.ZipInfo("link")
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "../../outside")
        else:
            zf.writestr(bad.replace("/ABS", str(tmp_path / "abs")), "evil")
    archive = tmp_path / "a" / "bad.zip"
    archive.parent.mkdir()
    archive.write_bytes(buf.getvalue())
    target = tmp_path / "a" / "out"
    with pytest.raises(DataError, match="refusing") as e:
        safe_extract(archive, target)
    assert "bad.zip" in str(e.value) and (bad.split("/")[-1] if bad != "link" else "'link'") in str(e.value)
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "bad.zip"]


def test_unsafe_split_archive_fails_the_stage_and_keeps_dest(tmp_path, archives):
    base = tmp_path / "cache" / "ucf101"
    base.mkdir(parents=True)
    (base / "videos.zip").write_bytes(archives["videos.zip"])
    (base / "splits.zip").write_bytes(zip_bytes({"../evil.txt": b"x"}))
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "keep").write_text("old")
    with pytest.raises(DataError, match="evil.txt"):
        prepare(
            ucf_params(closed_port_url("videos.zip"), closed_port_url("splits.zip")), tmp_path / "raw", seed=0, cache_dir=tmp_path / "cache"
        )
    assert (tmp_path / "raw" / "keep").read_text() == "old"
    assert not (base / "evil.txt").exists() and not (tmp_path / "cache" / "evil.txt").exists()


# --- rar -------------------------------------------------------------------------------------------
# tests/data/rar/*.rar: sample archives from rarfile 4.5's sdist (test/files/; ISC licence, see the README there).

RAR = Path(__file__).parent / "data" / "rar"
STEST = "".join(f"{i:03d}\n" for i in range(512)).encode()  # rarfile's stest1.txt / stest2.txt
# What each sample holds, with the size and CRC-32 its listing in rarfile's test/files/<name>.exp gives.
RAR_SAMPLES = {
    # RAR 4 (the 2.9 format RAR 3 and 4 write, as UCF101.rar): stest1.txt compressed (-m5), stest2.txt stored
    "seektest.rar": {"stest1.txt": (STEST, 2048, 0xC5B7E6A2), "stest2.txt": (STEST, 2048, 0xC5B7E6A2)},
    "rar3-solid.rar": {"stest1.txt": (STEST, 2048, 0xC5B7E6A2), "stest2.txt": (STEST, 2048, 0xC5B7E6A2)},  # RAR 4, solid
    "rar3-subdirs.rar": {  # RAR 4, stored, nested folders and a Unicode name
        "sub/dir1/file1.txt": (b"file1\n", 6, 0xE229F704),
        "sub/dir2/file2.txt": (b"file2\n", 6, 0xC904A4C7),
        "sub/with space/long fn.txt": (b"long fn\n", 8, 0x71B7247D),
        "sub/\xfc\u0235\u0129\xf6\u1e0b\xe8/file.txt": (b"file\n", 5, 0x2FEC89C1),
    },
    "rar5-crc.rar": {"stest1.txt": (STEST, 2048, 0xC5B7E6A2), "stest2.txt": (STEST, 2048, 0xC5B7E6A2)},  # RAR 5
}


@pytest.fixture(params=["unar", "bsdtar"])
def rar_tool(request, monkeypatch) -> str:
    """Extract with this tool alone (the other one is hidden); skipped where it is not installed."""
    pytest.importorskip("rarfile")
    which = shutil.which
    if not which(request.param):
        pytest.skip(f"{request.param} is not installed (make setup installs it)")
    monkeypatch.setattr(shutil, "which", lambda name, *a, **kw: which(name, *a, **kw) if name == request.param else None)
    return request.param


def rar4_bytes(members: dict[str, bytes | tuple[str, str]]) -> bytes:
    """A RAR 4 archive (2.9 format) of stored members, written after RAR's technote.txt: no free tool writes RAR
    and rarfile's samples name no member ``../x``. A ``("link", target)`` member is a Unix symlink."""

    def block(kind: int, flags: int, fields: bytes, data: bytes = b"") -> bytes:
        head = struct.pack("<BHH", kind, flags, 7 + len(fields)) + fields
        return struct.pack("<H", zlib.crc32(head) & 0xFFFF) + head + data

    out = b"Rar!\x1a\x07\x00" + block(0x73, 0, bytes(6))  # marker, archive header
    for name, content in members.items():
        mode = 0o100644
        if isinstance(content, tuple):  # a symlink's data is its target
            mode, content = 0o120777, content[1].encode()
        raw = name.replace("/", "\\").encode()  # RAR's separator
        # packed and unpacked size, host Unix, CRC-32, DOS time 2025-01-01, version 2.0, method stored, name size, mode
        fields = struct.pack("<IIBIIBBHI", len(content), len(content), 3, zlib.crc32(content), 0x5A210000, 20, 0x30, len(raw), mode)
        out += block(0x74, 0x8000, fields + raw, content)
    return out + block(0x7B, 0x4000, b"")  # end of archive


@pytest.mark.parametrize("name", sorted(RAR_SAMPLES))
def test_real_rar_archives_extract_intact(tmp_path, rar_tool, name):
    target = tmp_path / "out"
    if rar_tool == "bsdtar" and name == "rar3-solid.rar":  # libarchive has no solid RAR 4 decoder
        with pytest.raises(DataError, match="solid RAR 4") as e:
            safe_extract(RAR / name, target)
        assert "apt-get install unar" in str(e.value) and not target.exists()
        return
    safe_extract(RAR / name, target)
    files = {p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert files == {member: content for member, (content, _, _) in RAR_SAMPLES[name].items()}
    assert all((len(content), zlib.crc32(content)) == (size, crc) for content, size, crc in RAR_SAMPLES[name].values())
    if name == "rar3-subdirs.rar":
        assert (target / "sub" / "empty").is_dir()


def test_corrupt_rar_member_is_reported(tmp_path, rar_tool):
    body = (RAR / "seektest.rar").read_bytes()
    at = body.index(STEST) + 1000  # inside stest2.txt, stored: bsdtar checks no CRC there, so we do
    archive = tmp_path / "seektest.rar"
    archive.write_bytes(body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1 :])
    with pytest.raises(DataError, match="stest2.txt") as e:
        safe_extract(archive, tmp_path / "out")
    assert str(archive) in str(e.value) and rar_tool in str(e.value)


@pytest.mark.parametrize(("name", "member"), [("rar3-symlink-unix.rar", "random_link"), ("rar5-evil-symlink-traversal.rar", "up")])
def test_real_rar_with_a_link_outside_is_refused(tmp_path, name, member):
    """random_link -> ../random123 (RAR 4); up -> .. followed by up/pwned.txt (RAR 5)."""
    pytest.importorskip("rarfile")
    target = tmp_path / "out"
    with pytest.raises(DataError, match="refusing") as e:
        safe_extract(RAR / name, target)
    assert name in str(e.value) and repr(member) in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_hand_written_rar_extracts_like_a_real_one(tmp_path, rar_tool):
    """The writer's archives do extract, links included: the refusals below are the check's, not a bad archive."""
    archive = tmp_path / "good.rar"
    archive.write_bytes(rar4_bytes({"top/ok.txt": b"fine", "top/sub/two.txt": b"two" * 100, "top/link": ("link", "sub/two.txt")}))
    safe_extract(archive, tmp_path / "out")
    top = tmp_path / "out" / "top"
    assert (top / "ok.txt").read_bytes() == b"fine" and (top / "sub" / "two.txt").read_bytes() == b"two" * 100
    assert (top / "link").is_symlink() and (top / "link").read_bytes() == b"two" * 100


@pytest.mark.parametrize("bad", ["../evil.txt", "/ABS/evil.txt", "a/../../evil.txt", "link", "chain", "through"])
def test_unsafe_rar_archives_are_refused_before_extracting_anything(tmp_path, bad):
    pytest.importorskip("rarfile")
    members: dict = {"ok.txt": b"fine"}
    if bad == "link":
        members["link"] = ("link", "../../outside")
    elif bad == "chain":  # each link stays inside on paper, but t = a/b/s/.. is the folder above the target
        members |= {"a/b/s": ("link", "../.."), "t": ("link", "a/b/s/..")}
    elif bad == "through":  # the same, a file written through the link
        members |= {"a/b/s": ("link", "../.."), "a/b/s/../x": b"evil"}
    else:
        members[bad.replace("/ABS", str(tmp_path / "abs"))] = b"evil"
    archive = tmp_path / "a" / "bad.rar"
    archive.parent.mkdir()
    archive.write_bytes(rar4_bytes(members))
    target = tmp_path / "a" / "out"
    with pytest.raises(DataError, match="refusing") as e:
        safe_extract(archive, target)
    assert "bad.rar" in str(e.value) and {"link": "'link'", "chain": "'t'", "through": "'a/b/s/../x'"}.get(bad, bad.split("/")[-1]) in str(
        e.value
    )
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "bad.rar"]


def test_ucf101_from_a_rar_like_the_official_one(tmp_path, archives, rar_tool):
    """UCF101.rar holds UCF-101/<Class>/<video>: here as a RAR 4 archive, pre-placed, through the whole source."""
    videos = make_tree(tmp_path / "tree", classes=("Alpha", "Beta"), groups=8)
    base = tmp_path / "cache" / "ucf101"
    base.mkdir(parents=True)
    (base / "UCF101.rar").write_bytes(rar4_bytes({f"UCF-101/{rel}": rel.encode() for rel in videos}))
    (base / "splits.zip").write_bytes(archives["splits.zip"])
    params = ucf_params(closed_port_url("UCF101.rar"), closed_port_url("splits.zip"))
    report = prepare(params, tmp_path / "raw", seed=0, cache_dir=tmp_path / "cache")
    assert report["videos"] == 16
    assert (tmp_path / "raw" / "Beta" / "v_Beta_g08_c01.avi").read_bytes() == b"Beta/v_Beta_g08_c01.avi"
    assert_consistent(tmp_path / "raw")


def test_rar_without_rarfile_explains_the_alternatives(tmp_path, monkeypatch):
    archive = tmp_path / "UCF101.rar"
    archive.write_bytes(b"Rar!\x1a\x07\x01\x00" + b"\0" * 64)
    monkeypatch.setitem(sys.modules, "rarfile", None)  # import fails
    with pytest.raises(DataError, match="pip install rarfile") as e:
        safe_extract(archive, tmp_path / "out")
    assert "unar" in str(e.value) and "make setup" in str(e.value) and "source: folder" in str(e.value)


def test_rar_on_a_machine_without_the_tools_says_how_to_install_them(tmp_path, monkeypatch):
    pytest.importorskip("rarfile")
    monkeypatch.setenv("PATH", str(tmp_path))  # a fresh machine: no unar, no bsdtar (nor unrar, nor 7z)
    with pytest.raises(DataError) as e:
        safe_extract(RAR / "seektest.rar", tmp_path / "out")
    for text in ("seektest.rar", "apt-get install unar libarchive-tools", "make setup", "source: folder"):
        assert text in str(e.value)
    assert not (tmp_path / "out").exists()


# --- kaggle ----------------------------------------------------------------------------------------

KEY = "0123456789abcdef-very-secret-key"


@pytest.fixture
def kaggle_env(tmp_path, monkeypatch):
    """No real credentials anywhere; fake ones in the environment."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("KAGGLE_CONFIG_DIR", "XDG_CONFIG_HOME", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    return monkeypatch


def fake_kagglehub(monkeypatch, download) -> list:
    calls = []

    def dataset_download(handle):
        calls.append(handle)
        return download(handle)

    monkeypatch.setitem(sys.modules, "kagglehub", types.SimpleNamespace(dataset_download=dataset_download))
    return calls


def all_text(root: Path) -> str:
    return "".join(p.read_bytes().decode(errors="replace") for p in root.rglob("*") if p.is_file())


def test_kaggle_mirror_with_its_own_layout(tmp_path, kaggle_env, capsys):
    mirror = tmp_path / "mirror"
    for part, groups in (("train", range(1, 7)), ("val", range(7, 9)), ("test", range(9, 11))):
        for g in groups:
            for cls, name in (("ApplyEyeMakeup", "ApplyEyeMakeup"), ("HandstandPushups", "HandStandPushups")):
                rel = f"{part}/{cls}/v_{name}_g{g:02d}_c01.avi"
                (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
                (mirror / rel).write_bytes(rel.encode())
    (mirror / "train.csv").write_text("clip,label\n")
    (mirror / "val" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.avi").write_bytes(b"dup")
    calls = fake_kagglehub(kaggle_env, lambda handle: str(mirror))
    params = data("kaggle", kaggle={"handle": "someone/ucf101"})
    report = prepare(params, tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")

    raw = tmp_path / "raw"
    assert calls == ["someone/ucf101"]
    assert report["lists"] == "official" and report["videos"] == 20 and report["classes"] == 2
    assert "HandstandPushups/v_HandStandPushups_g01_c01.avi" in lists_of(raw)["test1"]
    assert (
        raw / "HandstandPushups/v_HandStandPushups_g01_c01.avi"
    ).read_bytes() == b"train/HandstandPushups/v_HandStandPushups_g01_c01.avi"
    assert not (raw / "HandstandPushups/v_HandStandPushups_g01_c01.avi").is_symlink()
    assert_consistent(raw)
    skipped = {s["path"]: s["reason"] for s in report["skipped"]}
    assert "train.csv" in skipped and "duplicate" in skipped["val/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"]
    text = json.dumps(report) + all_text(raw) + "".join(capsys.readouterr())
    assert KEY not in text


def test_kaggle_non_ucf101_classes_use_the_group_rule(tmp_path, kaggle_env):
    mirror = tmp_path / "mirror"
    make_tree(mirror / "data", classes=("Dance", "Jump"), groups=8)
    fake_kagglehub(kaggle_env, lambda handle: mirror)
    report = prepare(data("kaggle", kaggle={"handle": "a/b"}), tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")
    assert report["lists"] == "group rule" and report["videos"] == 16
    assert_consistent(tmp_path / "raw")


def test_kaggle_errors_never_leak_the_key(tmp_path, kaggle_env, capsys):
    def fail(handle):
        raise RuntimeError(f"401 Unauthorized for someone:{KEY}")

    fake_kagglehub(kaggle_env, fail)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "keep").write_text("old")
    with pytest.raises(DataError, match="401 Unauthorized") as e:
        prepare(data("kaggle", kaggle={"handle": "a/b"}), tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")
    assert KEY not in str(e.value) and e.value.__cause__ is None and e.value.__suppress_context__
    assert KEY not in all_text(tmp_path) + "".join(capsys.readouterr())
    assert (tmp_path / "raw" / "keep").read_text() == "old"


def test_kaggle_without_credentials_or_package(tmp_path, kaggle_env):
    kaggle_env.delenv("KAGGLE_KEY")
    fake_kagglehub(kaggle_env, lambda handle: pytest.fail("must not download without credentials"))
    params = data("kaggle", kaggle={"handle": "a/b"})
    with pytest.raises(DataError, match="KAGGLE_USERNAME") as e:
        prepare(params, tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")
    assert "kaggle.json" in str(e.value)
    kaggle_env.setitem(sys.modules, "kagglehub", None)
    with pytest.raises(DataError, match="pip install kagglehub"):
        prepare(params, tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")


def test_kaggle_json_counts_as_credentials(tmp_path, kaggle_env):
    kaggle_env.delenv("KAGGLE_KEY")
    (tmp_path / "home" / ".kaggle").mkdir(parents=True)
    (tmp_path / "home" / ".kaggle" / "kaggle.json").write_text(json.dumps({"username": "u", "key": KEY}))
    fake_kagglehub(kaggle_env, lambda handle: (_ for _ in ()).throw(RuntimeError(f"bad key {KEY}")))
    with pytest.raises(DataError) as e:
        prepare(data("kaggle", kaggle={"handle": "a/b"}), tmp_path / "raw", seed=0, cache_dir=tmp_path / "c")
    assert "bad key ***" in str(e.value)


# --- synthetic -------------------------------------------------------------------------------------


def test_synthetic_source(tmp_path):
    synthetic = pytest.importorskip("actionrec.data.synthetic")
    params = data("synthetic", fraction=0.5, synthetic={"groups": 8, "clips_per_group": 1, "frames": [3, 4], "size": [32, 32], "fps": 25})
    report = prepare(params, tmp_path / "raw", seed=1, cache_dir=tmp_path / "c")
    assert report["classes"] == len(synthetic.CLASSES) and report["videos"] == 4 * len(synthetic.CLASSES)
    assert_consistent(tmp_path / "raw")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]  # the scratch dir is gone
    lists = tmp_path / "raw" / ucf101.LISTS_DIR
    assert ucf101.read_class_kinds(lists, list(synthetic.CLASSES)) == synthetic.CLASSES  # motion / appearance, for scoring
    picked = {**params, "classes": ["Triangle", "Rising"]}
    prepare(picked, tmp_path / "two", seed=1, cache_dir=tmp_path / "c")
    lists = tmp_path / "two" / ucf101.LISTS_DIR
    assert ucf101.read_class_kinds(lists, ucf101.read_class_index(lists)) == {"Rising": "motion", "Triangle": "appearance"}
    assert (lists / ucf101.KINDS_FILE).read_text().splitlines() == ["Rising motion", "Triangle appearance"]
    with pytest.raises(ParamError, match="data.synthetic.colour"):
        prepare({**params, "synthetic": {"colour": 1}}, tmp_path / "raw", seed=1, cache_dir=tmp_path / "c")
