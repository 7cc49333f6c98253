"""crop="detect" with dlib's real HOG detector on a real photograph (scikit-image's astronaut, Eileen
Collins): the box covers her face, not the mission patch on her suit that the detector also fires
on; a texture without a face is an error naming the video."""
from __future__ import annotations

import numpy as np
import pytest
from extract_cases import nets, one_torch_thread, small, weights  # noqa: F401 (fixtures)

from mcwes.extract import extract_video
from mcwes.extract import synthetic as S
from mcwes.extract.face import detect_face_box

dlib = pytest.importorskip("dlib")
skimage_data = pytest.importorskip("skimage.data")

# Landmarks of the face in astronaut() (512 × 512), read off the image: eyes, mouth, top of the
# forehead, chin; and the centre of the mission patch (a face-like pattern the detector also scores).
EYES = [(205, 105), (245, 105)]
MOUTH = (222, 145)
FOREHEAD, CHIN = (222, 70), (222, 180)
PATCH = (170, 380)


def _inside(point, box) -> bool:  # type: ignore[no-untyped-def]
    x, y, w, h = box
    return x <= point[0] < x + w and y <= point[1] < y + h


def _astronaut_clip(n: int = 10) -> np.ndarray:
    """The photo as a short video: a slow head drift of one pixel every other frame."""
    img = skimage_data.astronaut()
    return np.stack([np.roll(img, (i // 2, i // 2), axis=(0, 1)) for i in range(n)])


def test_the_detector_sees_the_patch_too():
    # the reason the best-scoring detection is taken, not the largest: the patch is as large as the face
    found, scores, _ = dlib.get_frontal_face_detector().run(skimage_data.astronaut(), 1, 0.0)
    centres = [((r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2) for r in found]
    assert len(found) >= 2 and any(abs(cx - PATCH[0]) < 30 and abs(cy - PATCH[1]) < 30 for cx, cy in centres)


def test_detected_box_covers_the_face():
    frames = list(_astronaut_clip(3))
    box = detect_face_box(frames, "astronaut.mp4", 0.2)
    x, y, w, h = box
    assert w == h and 90 <= w <= 200
    for p in [*EYES, MOUTH, FOREHEAD, CHIN]:
        assert _inside(p, box), f"{p} outside {box}"
    assert not _inside(PATCH, box)


def test_detect_crop_through_the_pipeline(tmp_path, nets):  # noqa: F811
    rgb, flow = nets
    folder = S.write_frame_folder(_astronaut_clip(10), tmp_path / "astronaut", pattern="{}.png")
    r = extract_video(folder, small(crop="detect", detect_frames=3), rgb, flow, progress=False)
    assert r.box is not None and r.features.shape == (1, 2048) and np.isfinite(r.features).all()
    for p in [*EYES, MOUTH]:
        assert _inside(p, r.box)


def test_a_texture_without_a_face_is_an_error_naming_the_video(tmp_path, nets):  # noqa: F811
    rgb, flow = nets
    brick = np.repeat(skimage_data.brick()[..., None], 3, axis=2)
    folder = S.write_frame_folder(np.stack([brick] * 10), tmp_path / "s15" / "wall", pattern="img{}.png")
    with pytest.raises(ValueError, match=r"no face found in the first 3 frames of .*s15/wall; pass crop=\"none\""):
        extract_video(folder, small(crop="detect", detect_frames=3), rgb, flow, progress=False)
