"""Naming, labels and the official split rule, checked against the real official lists."""

import pytest

from actionrec.data import ucf101
from actionrec.errors import DataError, ParamError

OFFICIAL = ucf101.official_lists_dir()


def test_official_lists_use_crlf_and_are_read_cleanly():
    assert b"\r\n" in (OFFICIAL / "classInd.txt").read_bytes()
    classes = ucf101.read_class_index(OFFICIAL)
    assert len(classes) == 101 and classes[0] == "ApplyEyeMakeup" and classes[-1] == "YoYo"
    assert all("\r" not in name for name in classes)


@pytest.mark.parametrize("split,train,test", [(1, 9537, 3783), (2, 9586, 3734), (3, 9624, 3696)])
def test_official_split_sizes(split, train, test):
    assert len(ucf101.read_split_list(OFFICIAL, "train", split)) == train
    assert len(ucf101.read_split_list(OFFICIAL, "test", split)) == test


@pytest.mark.parametrize("split", ucf101.SPLITS)
def test_official_lists_follow_the_group_rule(split):
    held_out = set(ucf101.test_groups(split))
    train_groups = {ucf101.parse_video_name(p)[1] for p in ucf101.read_split_list(OFFICIAL, "train", split)}
    test_groups = {ucf101.parse_video_name(p)[1] for p in ucf101.read_split_list(OFFICIAL, "test", split)}
    assert test_groups == held_out
    assert not train_groups & test_groups


def test_handstand_case_quirk_takes_label_from_folder():
    classes = ucf101.read_class_index(OFFICIAL)
    entries = [p for p in ucf101.read_split_list(OFFICIAL, "train", 1) if "andstandPushups" in p or "andStandPushups" in p]
    assert entries and all(p.startswith("HandstandPushups/v_HandStandPushups_") for p in entries)
    assert "HandstandPushups" in classes and "HandStandPushups" not in classes
    # the file name's spelling differs from the class: the folder is what maps to classInd
    assert ucf101.parse_video_name(entries[0])[0] == "HandStandPushups"


def test_parse_video_name():
    assert ucf101.parse_video_name("v_ApplyEyeMakeup_g08_c01.avi") == ("ApplyEyeMakeup", 8, 1)
    assert ucf101.parse_video_name("Class/v_Yo_Yo_g25_c07.mp4") == ("Yo_Yo", 25, 7)
    with pytest.raises(DataError, match="notes.txt"):
        ucf101.parse_video_name("notes.txt")


def test_test_groups_and_bad_split():
    assert list(ucf101.test_groups(1)) == [1, 2, 3, 4, 5, 6, 7]
    assert list(ucf101.test_groups(3)) == list(range(15, 22))
    with pytest.raises(ParamError, match="data.split"):
        ucf101.test_groups(4)


def test_write_lists_and_index_dataset(small_dataset):
    videos = ucf101.index_dataset(small_dataset, 2)
    assert {v.class_name for v in videos} == {"Alpha", "Beta", "Gamma"}
    assert {v.label for v in videos if v.class_name == "Beta"} == {1}
    test = {v.group for v in videos if v.split == "test"}
    train = {v.group for v in videos if v.split == "train"}
    assert test == {8} and train == set(range(1, 8))
    assert (small_dataset / "ucfTrainTestlist" / "trainlist02.txt").read_bytes().endswith(b"\r\n")


def test_index_dataset_names_missing_videos(small_dataset):
    (small_dataset / "Beta" / "v_Beta_g03_c01.avi").unlink()
    with pytest.raises(DataError, match="v_Beta_g03_c01.avi"):
        ucf101.index_dataset(small_dataset, 1)


def test_select_videos_is_stratified_and_deterministic():
    videos = [f"{c}/v_{c}_g{g:02d}_c01.avi" for c in ("A", "B") for g in range(1, 21)]
    classes, kept = ucf101.select_videos(videos, ["A", "B"], None, 0.25, seed=1)
    assert classes == ["A", "B"]
    assert sum(p.startswith("A/") for p in kept) == 5 and sum(p.startswith("B/") for p in kept) == 5
    assert kept == ucf101.select_videos(videos, ["A", "B"], None, 0.25, seed=1)[1]
    assert kept != ucf101.select_videos(videos, ["A", "B"], None, 0.25, seed=2)[1]
    # a class's sample does not depend on which other classes are selected
    only_a = ucf101.select_videos(videos, ["A", "B"], ["A"], 0.25, seed=1)[1]
    assert only_a == [p for p in kept if p.startswith("A/")]


@pytest.mark.parametrize(
    "wanted,fraction,key", [(["Nope"], 1.0, "data.classes"), (None, 0.0, "data.fraction"), (None, 1.5, "data.fraction")]
)
def test_select_videos_bad_params(wanted, fraction, key):
    with pytest.raises(ParamError, match=key):
        ucf101.select_videos(["A/v_A_g01_c01.avi"], ["A"], wanted, fraction, seed=0)


def test_class_kinds_are_read_in_class_order_and_bad_files_are_named(tmp_path):
    assert ucf101.read_class_kinds(OFFICIAL, ucf101.read_class_index(OFFICIAL)) is None  # UCF101: scored as a whole
    ucf101.write_class_kinds(tmp_path, {"Beta": "motion", "Alpha": "appearance"})
    assert b"\r\n" in (tmp_path / ucf101.KINDS_FILE).read_bytes()  # like the official lists
    assert ucf101.read_class_kinds(tmp_path, ["Alpha", "Beta"]) == {"Alpha": "appearance", "Beta": "motion"}
    with pytest.raises(DataError, match=r"classKinds.txt: no kind for class\(es\) Gamma of classInd.txt"):
        ucf101.read_class_kinds(tmp_path, ["Alpha", "Beta", "Gamma"])
    (tmp_path / ucf101.KINDS_FILE).write_text("Alpha appearance\nBeta\n")
    with pytest.raises(DataError, match=r"classKinds.txt:2: expected '<ClassName> <kind>', got 'Beta'"):
        ucf101.read_class_kinds(tmp_path, ["Alpha", "Beta"])
    (tmp_path / ucf101.KINDS_FILE).write_text("Alpha appearance\nAlpha motion\n")
    with pytest.raises(DataError, match=r"classKinds.txt:2: class 'Alpha' is listed twice"):
        ucf101.read_class_kinds(tmp_path, ["Alpha"])
