"""Frames: folders (numeric order, gaps), videos, frame-step resampling, the face box; bad inputs."""
from __future__ import annotations

import builtins
import subprocess
import sys
import types

import numpy as np
import pytest
from extract_cases import clip  # noqa: F401 (fixture)
from PIL import Image

from mcwes.extract import ExtractOptions, open_frames
from mcwes.extract import synthetic as S
from mcwes.extract.face import detect_face_box
from mcwes.extract.pipeline import _kept_count


def _numbered(n: int, rng, h: int = 6, w: int = 8) -> np.ndarray:
    return rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_folder_is_sorted_numerically_and_gaps_are_filled_and_reported(tmp_path, caplog):
    rng = np.random.default_rng(0)
    frames = _numbered(12, rng)
    S.write_frame_folder(frames, tmp_path, pattern="img_{}.png", first=1, skip=(4, 5, 9))
    src = open_frames(tmp_path)
    assert src.kind == "folder" and src.n_frames == 12 and src.first_number == 1
    # img_5, img_6 missing: both copies of img_4; img_10 missing: a copy of img_9
    assert src.gaps == [(5, 4), (6, 4), (10, 9)]
    assert "3 missing frame numbers" in caplog.text
    got = np.stack(list(src))
    want = frames.copy()
    want[4] = want[5] = frames[3]
    want[9] = frames[8]
    np.testing.assert_array_equal(got, want)


def test_frame_steps_cycle(tmp_path):
    rng = np.random.default_rng(1)
    S.write_frame_folder(_numbered(45, rng, 2, 2), tmp_path, pattern="{}.png", first=0)
    idx = [i for i, _ in open_frames(tmp_path).frames((6, 7, 7))]
    assert idx == [0, 6, 13, 20, 26, 33, 40]  # 200 fps → 30 fps: 3 frames per 20
    for n in range(1, 46):  # the progress total, computed without reading the frames
        assert _kept_count(n, (6, 7, 7)) == sum(i < n for i in idx)
    assert [i for i, _ in open_frames(tmp_path).frames(None)] == list(range(45))
    with pytest.raises(ValueError, match=r"expected frame_steps to be positive integers"):
        list(open_frames(tmp_path).frames((6, 0)))


def test_video_decodes_the_written_frames(clip):  # noqa: F811
    src = open_frames(clip["mp4"])
    assert src.kind == "video" and src.fps == pytest.approx(30.0)
    decoded = clip["decoded"]
    assert decoded.shape == clip["video"].frames.shape
    # lossy H.264, but close to what was written
    assert np.abs(decoded.astype(float) - clip["video"].frames).mean() < 8.0


def test_synthetic_frames_stream_the_same_video(tmp_path):
    want = S.synthetic_video(12, (20, 24), seed=1).frames
    np.testing.assert_array_equal(np.stack(list(S.synthetic_frames(12, (20, 24), seed=1))), want)
    mp4 = S.write_video(S.synthetic_frames(12, (20, 24), seed=1), tmp_path / "s.mp4")  # frames one at a time
    assert len(list(open_frames(mp4))) == 12
    with pytest.raises(ValueError, match=r"expected at least one frame for .*none\.mp4, got none"):
        S.write_video(iter([]), tmp_path / "none.mp4")


def test_synthetic_movement_is_local_and_timed():
    v = S.synthetic_video(30, 48, drift=0.0, blinks=[], seed=0)
    m = v.movements[0]
    diff = np.abs(v.frames.astype(float) - v.frames[0]).mean(axis=(1, 2, 3))
    assert diff[: m.onset + 1].max() == 0 and diff[m.offset:].max() == 0
    assert diff[(m.onset + m.offset) // 2] > 0.5


def test_bad_inputs_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_frames(tmp_path / "missing.mp4")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ValueError, match=r"cannot open .*broken\.mp4 as a video"):
        open_frames(bad)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"found no images \(entries: \['notes\.txt'\]\)"):
        open_frames(tmp_path / "empty")
    sizes = tmp_path / "sizes"
    sizes.mkdir()
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(sizes / "1.png")
    Image.fromarray(np.zeros((6, 10, 3), np.uint8)).save(sizes / "2.png")
    with pytest.raises(ValueError, match=r"frames differ in size: 1\.png is 8x6 but 2\.png is 10x6"):
        list(open_frames(sizes))
    names = tmp_path / "names"
    names.mkdir()
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(names / "face.png")
    with pytest.raises(ValueError, match=r"expected numbered frame images .*got face\.png"):
        open_frames(names)


def test_crop_option_is_checked():
    assert ExtractOptions(crop=(1, 2, 30, 30)).crop == (1, 2, 30, 30)
    for bad in ["face", (1, 2, 3), (0, 0, 1, 10), (-1, 0, 5, 5)]:
        with pytest.raises(ValueError, match="expected crop to be"):
            ExtractOptions(crop=bad)
    with pytest.raises(ValueError, match=r"expected flow_backend to be one of"):
        ExtractOptions(flow_backend="farneback")
    with pytest.raises(TypeError, match=r"unknown extraction options \['windw'\]"):
        ExtractOptions.preset("casme2", windw=4)
    with pytest.raises(ValueError, match=r"expected preset to be one of"):
        ExtractOptions.preset("ck+")


def test_detect_without_dlib_says_how_to_install(monkeypatch):
    real = builtins.__import__

    def no_dlib(name, *a, **k):  # type: ignore[no-untyped-def]
        if name == "dlib":
            raise ImportError("No module named 'dlib'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_dlib)
    with pytest.raises(ImportError, match=r'crop="detect" needs dlib.*pip install "mcwes\[detect\]"'):
        detect_face_box([np.zeros((8, 8, 3), np.uint8)], "v.mp4", 0.2)


class _Rect:
    def __init__(self, left, top, right, bottom):  # type: ignore[no-untyped-def]
        self.l, self.t, self.r, self.b = left, top, right, bottom

    def left(self): return self.l  # noqa: E704
    def top(self): return self.t  # noqa: E704
    def right(self): return self.r  # noqa: E704
    def bottom(self): return self.b  # noqa: E704
    def width(self): return self.r - self.l  # noqa: E704
    def height(self): return self.b - self.t  # noqa: E704


class _Detector:
    """dlib's detector as ``run`` shows it: (rectangles, scores, sub-detector ids) per image."""

    def __init__(self, per_frame, scores):  # type: ignore[no-untyped-def]
        self.found = iter(per_frame)
        self.scores = iter(scores) if scores is not None else None

    def run(self, image, upsample, threshold):  # type: ignore[no-untyped-def]
        rects = next(self.found)
        # by default the larger rectangle is the surer one
        scores = next(self.scores) if self.scores else [r.width() * r.height() / 1e3 for r in rects]
        return rects, scores, [0] * len(rects)


def _fake_dlib(monkeypatch, per_frame, scores=None):  # type: ignore[no-untyped-def]
    """A stand-in for dlib whose detector returns the given rectangles (and scores), frame after frame."""
    module = types.ModuleType("dlib")
    module.get_frontal_face_detector = lambda: _Detector(per_frame, scores)
    monkeypatch.setitem(sys.modules, "dlib", module)


def test_detected_box_is_the_median_square_grown_and_clipped(monkeypatch):
    frames = [np.zeros((100, 120, 3), np.uint8)] * 3
    small_face = _Rect(0, 0, 4, 4)
    _fake_dlib(monkeypatch, [[_Rect(40, 30, 80, 70), small_face], [], [_Rect(44, 34, 84, 74)]])
    # median of (40,30,80,70) and (44,34,84,74) = (42,32,82,72): side 40 → 48 with margin 0.1, centre (62, 52)
    assert detect_face_box(frames, "v.mp4", 0.1) == (38, 28, 48, 48)
    _fake_dlib(monkeypatch, [[_Rect(90, 60, 118, 98)]])  # near the corner: shifted inside the frame
    x, y, w, h = detect_face_box(frames[:1], "v.mp4", 0.5)
    assert (x, y, w, h) == (44, 24, 76, 76)  # side 38 · 2, centre (104, 79) pushed inside


def test_detect_takes_the_surest_detection_not_the_largest(monkeypatch):
    frames = [np.zeros((100, 120, 3), np.uint8)]
    _fake_dlib(monkeypatch, [[_Rect(10, 10, 90, 90), _Rect(40, 30, 80, 70)]], scores=[[0.1, 1.3]])
    assert detect_face_box(frames, "v.mp4", 0.0) == (40, 30, 40, 40)


def test_detect_no_face_names_the_video(monkeypatch):
    _fake_dlib(monkeypatch, [[], [], []])
    frames = [np.zeros((80, 80, 3), np.uint8)] * 3
    with pytest.raises(ValueError, match=r"no face found in the first 3 frames of s15/noface\.mp4"):
        detect_face_box(frames, "s15/noface.mp4", 0.2)


def test_real_detector_finds_no_face_in_noise():
    pytest.importorskip("dlib")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (80, 80, 3), dtype=np.uint8) for _ in range(3)]
    with pytest.raises(ValueError, match=r"no face found in the first 3 frames of s15/noface\.mp4"):
        detect_face_box(frames, "s15/noface.mp4", 0.2)


def test_import_mcwes_needs_no_video_extra():
    code = ("import sys, mcwes, mcwes.extract; mcwes.extract.ExtractOptions.preset('lgsnet'); "
            "print(sorted(m for m in ('av', 'cv2', 'PIL', 'dlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
