"""The whole pipeline on synthetic videos with random I3D weights saved under the public key names:
shapes and counts per preset, RGB/flow alignment with a direct computation, video = its frames,
resume, manifest, layouts the readers open, bad inputs, the commands and spot_video."""
from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from extract_cases import IMAGE, N_FRAMES, clip, nets, one_torch_thread, small, weights  # noqa: F401 (fixtures)
from PIL import Image

import mcwes
from mcwes import Config, MCWES
from mcwes.cli import main
from mcwes.data import SpottingDataset, open_features
from mcwes.extract import PRESETS, extract, extract_video, open_frames, spot_video
from mcwes.extract import run as run_module
from mcwes.extract import synthetic as S
from mcwes.extract.flow import flow_to_i3d


@pytest.fixture(scope="module")
def runs(clip, nets):  # noqa: F811
    """casme2 on the .mp4 and on its frames (batches of 2 windows: the stream crosses chunk
    boundaries), and lgsnet's stride-2 windows on the frames (float flow, batches of 3)."""
    rgb, flow = nets
    return {
        "mp4": extract_video(clip["mp4"], small("casme2", batch_size=2), rgb, flow, progress=False),
        "folder": extract_video(clip["folder"], small("casme2", batch_size=2), rgb, flow, progress=False),
        "lgsnet": extract_video(clip["folder"], small("lgsnet", batch_size=3, flow_jpeg=False), rgb, flow,
                                progress=False),
    }


def test_shapes_and_counts(runs):
    f = N_FRAMES - 1
    r = runs["mp4"]
    assert r.features.shape == ((f - 8) // 8 + 1, 2048) and r.features.dtype == np.float32
    assert r.n_frames == N_FRAMES and r.frame_cnt == f and r.fps == pytest.approx(30.0)
    assert r.source_index.tolist() == list(range(N_FRAMES)) and r.flow_backend == "opencv"
    assert np.isfinite(r.features).all() and r.features.std() > 0
    assert runs["lgsnet"].features.shape == ((f - 8) // 2 + 1, 2048)
    assert set(r.seconds) == {"decode", "crop", "flow", "resize", "i3d"}
    assert PRESETS["casme3"] == PRESETS["casme2"] and (PRESETS["samm_lv"].window, PRESETS["samm_lv"].stride) == (32, 32)


def test_video_file_and_its_frames_give_identical_features(runs):
    np.testing.assert_array_equal(runs["mp4"].features, runs["folder"].features)


def test_overlapping_windows_match_the_non_overlapping_ones(runs):
    # lgsnet window i starts at frame 2i: windows 0, 4, 8 are casme2's windows 0, 1, 2
    np.testing.assert_allclose(runs["lgsnet"].features[[0, 4, 8]], runs["folder"].features, rtol=1e-4, atol=1e-5)


def test_rgb_and_flow_are_aligned_with_a_direct_computation(runs, clip, nets):  # noqa: F811
    rgb_net, flow_net = nets
    frames = clip["decoded"]
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    i = 2  # the last window: frames 16 … 23, flow 16→17 … 23→24
    rgb = np.stack([np.asarray(Image.fromarray(frames[k]).resize((IMAGE, IMAGE), Image.LANCZOS)) for k in range(16, 24)])
    x = torch.from_numpy(rgb).permute(3, 0, 1, 2)[None].float() * (2 / 255) - 1
    fl = np.stack([flow_to_i3d(tvl1.calc(gray[k], gray[k + 1], None).transpose(2, 0, 1), 15.0, IMAGE, False)
                   for k in range(16, 24)])
    y = torch.from_numpy(fl).permute(1, 0, 2, 3)[None]
    with torch.no_grad():
        want = np.concatenate([rgb_net.features(x)[0].numpy(), flow_net.features(y)[0].numpy()])
    np.testing.assert_allclose(runs["folder"].features[i], want, rtol=1e-4, atol=1e-5)


def _tiny(folder, n, seed, size=24):  # type: ignore[no-untyped-def]
    return S.write_frame_folder(S.synthetic_video(n, size, seed=seed).frames, folder, pattern="img{}.jpg")


def test_resume_manifest_and_cli(tmp_path, weights, monkeypatch, capsys):  # noqa: F811
    root = tmp_path / "videos"
    _tiny(root / "a", 10, 1)
    _tiny(root / "b", 10, 2)
    out = tmp_path / "feats"
    opts = small("casme2")
    real = run_module.extract_video
    seen = []

    def interrupted(path, *a, **k):  # type: ignore[no-untyped-def]
        seen.append(path.name)
        if path.name == "b":
            raise KeyboardInterrupt
        return real(path, *a, **k)

    monkeypatch.setattr(run_module, "extract_video", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract(root, out, opts, rgb_weights=weights["rgb"], flow_weights=weights["flow"], progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["a.npy", "manifest.json"]
    first = (out / "a.npy").stat().st_mtime_ns
    seen.clear()
    monkeypatch.setattr(run_module, "extract_video", lambda path, *a, **k: (seen.append(path.name), real(path, *a, **k))[1])
    rc = main(["extract", str(root), "--out", str(out), "--image-size", str(IMAGE), "--flow-backend", "opencv",
               "--rgb-weights", str(weights["rgb"]), "--flow-weights", str(weights["flow"])])
    assert rc == 0 and seen == ["b"] and (out / "a.npy").stat().st_mtime_ns == first
    err = capsys.readouterr().err
    assert "\r" not in err and "b: done: 10 frames, 9 flow pairs, 1 windows" in err
    m = json.loads((out / "manifest.json").read_text())
    assert sorted(m["videos"]) == ["a", "b"] and m["videos"]["b"]["T"] == 1 and m["videos"]["b"]["n_frames"] == 10
    assert m["settings"]["window"] == 8 and m["settings"]["flow_bound"] == 15.0 and m["settings"]["tvl1"]["lambda_"] == 0.15
    assert "batch_size" not in m["settings"]
    for k in ("mcwes", "torch", "opencv", "pyav", "pillow"):
        assert m["versions"][k]
    assert m["weights"]["rgb"]["sha256"] == hashlib.sha256(weights["rgb"].read_bytes()).hexdigest()
    store = open_features(out)
    assert sorted(store) == ["a", "b"] and store["b"].shape == (1, 2048)
    # other settings into the same folder: refused (before any work)
    with pytest.raises(ValueError, match=r"holds features made with other settings \['stride', 'window'\].*--overwrite"):
        extract(root, out, small("casme2", window=4, stride=4), rgb_weights=weights["rgb"],
                flow_weights=weights["flow"], progress=False)


def test_npz_subject_tree_reads_back_with_the_full_frame_count(tmp_path, weights):  # noqa: F811
    _tiny(tmp_path / "in" / "s15" / "15_0101disgustingteeth", 11, 3)
    out = tmp_path / "out"
    extract(tmp_path / "in", out, small("casme2", layout="npz"), rgb_weights=weights["rgb"],
            flow_weights=weights["flow"], progress=False)
    with np.load(out / "s15" / "15_0101disgustingteeth-rgb.npz") as z:
        assert z["feature"].shape == (1, 1, 1024) and int(z["frame_cnt"]) == 10  # frames − 1, as the authors'
        assert str(z["video_name"]) == "15_0101disgustingteeth"
    store = open_features(out)
    assert list(store) == ["s15_0101"] and store["s15_0101"].shape == (1, 2048)
    assert store.frame_count("s15_0101") == 11
    gt = pd.DataFrame({"video": ["s15_0101"], "subject": ["s15"], "onset": [4], "offset": [10], "type": ["MaE"]})
    ds = SpottingDataset(store, gt, preset="casme2")
    assert ds.n_frames("s15_0101") == 11 and not ds.issues
    assert ds[0].intervals.tolist() == [[4, 10]]  # ends on the last frame: not clipped


def test_bad_inputs(tmp_path, nets, weights, monkeypatch):  # noqa: F811
    rgb, flow = nets
    one = _tiny(tmp_path / "one", 1, 0)
    with pytest.raises(ValueError, match=r"one: 1 frame give F = 0 flow/RGB frames, fewer than one window of 8; "
                                         r"need at least 9 frames"):
        extract_video(one, small(), rgb, flow, progress=False)
    few = _tiny(tmp_path / "few", 8, 0)
    with pytest.raises(ValueError, match=r"8 frames give F = 7"):
        extract_video(few, small(), rgb, flow, progress=False)
    with pytest.raises(ValueError, match=r"crop box \(x=10, y=0, w=20, h=20\) does not fit in 24x24 frames"):
        extract_video(few, small(crop=(10, 0, 20, 20)), rgb, flow, progress=False)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"cannot open .*empty\.mp4 as a video"):
        extract_video(empty, small(), rgb, flow, progress=False)
    with pytest.raises(ValueError, match=r"expected an RGB I3D \(3 input channels\) and a flow I3D \(2\), got 2 and 3"):
        extract_video(few, small(), flow, rgb, progress=False)
    for var in ("MCWES_I3D_RGB_WEIGHTS", "MCWES_I3D_FLOW_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(FileNotFoundError, match=r"flow_imagenet\.pt.*--flow-weights"):
        extract(few, tmp_path / "o", small(), rgb_weights=weights["rgb"], progress=False)
    rc = main(["extract", str(few), "--out", str(tmp_path / "o"), "--rgb-weights", str(tmp_path / "no.pt"),
               "--flow-weights", str(weights["flow"])])
    assert rc == 1
    with pytest.raises(ValueError, match=r"found no video files .* and no folders of frame images"):
        (tmp_path / "nothing").mkdir()
        (tmp_path / "nothing" / "readme.txt").write_text("x")
        extract(tmp_path / "nothing", tmp_path / "o", small(), rgb_weights=weights["rgb"], flow_weights=weights["flow"])


def test_a_video_that_changes_frame_size_mid_stream_is_an_error(tmp_path, nets, weights, capsys):  # noqa: F811
    """A stream may change resolution mid-way (two H.264 streams concatenated, MJPEG of mixed sizes):
    one crop and one flow field need one size, so this is an error naming both sizes and the frame,
    not features of a mis-cropped tail; `extract` stops with it and writes no features for the video."""
    rgb, flow = nets
    first = S.synthetic_video(12, 32, seed=4).frames  # sizes of different macroblock counts: FFmpeg's H.264
    second = S.synthetic_video(12, 48, seed=5).frames  # decoder keeps the first size when only the cropping changes
    parts = [S.write_video(first, tmp_path / "a.h264"), S.write_video(second, tmp_path / "b.h264")]
    video = tmp_path / "resized.h264"
    video.write_bytes(b"".join(p.read_bytes() for p in parts))
    assert [f.shape for f in open_frames(parts[0])][-1] == (32, 32, 3)
    with pytest.raises(ValueError, match=r"resized\.h264: frames differ in size: frame 0 is 32x32 but frame 12 is 48x48"):
        list(open_frames(video))
    with pytest.raises(ValueError, match=r"frame 0 is 32x32 but frame 12 is 48x48"):
        extract_video(video, small(), rgb, flow)
    assert "resized.h264: failed after: " in capsys.readouterr().err  # not "done"
    mjpeg = tmp_path / "mixed.mjpeg"  # a raw MJPEG stream: each frame its own JPEG, of its own size
    with mjpeg.open("wb") as f:
        for frame in [*first[:3], *second[:2]]:
            Image.fromarray(frame).save(f, format="JPEG", quality=95)
    with pytest.raises(ValueError, match=r"mixed\.mjpeg: frames differ in size: frame 0 is 32x32 but frame 3 is 48x48"):
        extract(mjpeg, tmp_path / "out", small(), rgb_weights=weights["rgb"], flow_weights=weights["flow"],
                progress=False)
    assert not list((tmp_path / "out").glob("*.npy"))


def test_samm_lv_windows_of_32(tmp_path, nets):  # noqa: F811
    rgb, flow = nets
    folder = _tiny(tmp_path / "006_1", 34, 6, size=16)
    r = extract_video(folder, small("samm_lv", image_size=16), rgb, flow, progress=False)
    assert r.features.shape == (1, 2048) and r.fps == 200.0  # a frame folder: the preset's frame rate
    with pytest.raises(ValueError, match=r"20 frames give F = 19 .* one window of 32; need at least 33 frames"):
        extract_video(_tiny(tmp_path / "short", 20, 6, size=16), small("samm_lv", image_size=16), rgb, flow,
                      progress=False)


def test_crop_box_and_resampling(tmp_path, nets):  # noqa: F811
    rgb, flow = nets
    v = S.synthetic_video(19, 30, seed=4)
    folder = S.write_frame_folder(v.frames, tmp_path / "v", pattern="{}.png", first=0)
    cropped = S.write_frame_folder(v.frames[:, 2:26, 3:27], tmp_path / "c", pattern="{}.png", first=0)
    a = extract_video(folder, small(crop=(3, 2, 24, 24), frame_steps=(1, 2)), rgb, flow, progress=False)
    b = extract_video(cropped, small(frame_steps=(1, 2)), rgb, flow, progress=False)
    np.testing.assert_array_equal(a.features, b.features)
    assert a.box == (3, 2, 24, 24) and a.source_index.tolist() == [0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18]
    assert a.n_source_frames == 19 and a.fps == pytest.approx(20.0) and a.features.shape == (1, 2048)


def test_spot_video_and_spot_command(tmp_path, weights):  # noqa: F811
    model = MCWES(Config.preset("casme2", model={"feature_dim": 1024}, spot={"score_threshold": 0.0})).eval()
    v = S.synthetic_video(28, 24, seed=5)
    folder = S.write_frame_folder(v.frames, tmp_path / "s15" / "15_0502clip", pattern="img{}.jpg")
    found, r = spot_video(folder, model, rgb_weights=weights["rgb"], flow_weights=weights["flow"], image_size=IMAGE,
                          flow_backend="opencv", frame_steps=(1, 2))
    assert r.features.shape == (2, 2048) and r.n_frames == 19
    kept = set(r.source_index.tolist())
    assert len(found) > 0
    for p in found:
        assert p.video == "15_0502clip" and p.onset in kept and p.onset <= p.offset <= 27
    ck = mcwes.save_checkpoint(tmp_path / "ck.pt", model, model.config)
    csv = tmp_path / "preds.csv"
    rc = main(["spot", str(folder), "--checkpoint", str(ck), "--out", str(csv), "--image-size", str(IMAGE),
               "--flow-backend", "opencv", "--frame-steps", "1,2", "--rgb-weights", str(weights["rgb"]),
               "--flow-weights", str(weights["flow"])])
    assert rc == 0
    table = pd.read_csv(csv)
    assert sorted(map(tuple, table[["onset", "offset"]].to_numpy())) == sorted((p.onset, p.offset) for p in found)


def test_flow_runs_in_bounded_pieces_whatever_the_window_group(tmp_path, nets, monkeypatch):  # noqa: F811
    """Memory does not grow with the window group: flow is computed FLOW_PAIRS pairs at a time even
    when a group of windows spans hundreds of frames (samm_lv: 16 windows of 32), and the pieces'
    boundaries do not change the features."""
    from mcwes.extract import pipeline

    rgb, flow = nets
    folder = _tiny(tmp_path / "long", 75, 7, size=16)
    opts = small("samm_lv", image_size=16, batch_size=16)
    want = extract_video(folder, opts, rgb, flow, progress=False)
    real = pipeline.make_flow_fn
    sizes: list[int] = []

    def recording(*a, **k):  # type: ignore[no-untyped-def]
        fn = real(*a, **k)
        return lambda prev, nxt: (sizes.append(len(prev)), fn(prev, nxt))[1]

    monkeypatch.setattr(pipeline, "make_flow_fn", recording)
    monkeypatch.setattr(pipeline, "FLOW_PAIRS", 5)
    got = extract_video(folder, opts, rgb, flow, progress=False)
    assert max(sizes) <= 5 and sum(sizes) == 74 and got.features.shape == (2, 2048)
    np.testing.assert_array_equal(got.features, want.features)


def test_stride_longer_than_the_window_skips_frames_correctly(clip, nets, monkeypatch):  # noqa: F811
    from mcwes.extract import pipeline

    rgb, flow = nets
    monkeypatch.setattr(pipeline, "FLOW_PAIRS", 3)  # pieces shorter than the gap between windows
    sparse = extract_video(clip["folder"], small(window=4, stride=6, batch_size=1), rgb, flow, progress=False)
    dense = extract_video(clip["folder"], small(window=4, stride=2, batch_size=4), rgb, flow, progress=False)
    assert sparse.features.shape == ((N_FRAMES - 1 - 4) // 6 + 1, 2048)  # windows at frames 0, 6, 12, 18
    np.testing.assert_allclose(sparse.features, dense.features[[0, 3, 6, 9]], rtol=1e-4, atol=1e-5)


def test_fast_i3d_is_recorded_and_does_not_block_a_resume(tmp_path, weights):  # noqa: F811
    _tiny(tmp_path / "in" / "a", 10, 1)
    out = tmp_path / "out"
    kw = {"rgb_weights": weights["rgb"], "flow_weights": weights["flow"], "progress": False}
    m = extract(tmp_path / "in", out, small(fast_i3d=False), **kw)
    assert m["execution"]["fast_i3d"] is False and "fast_i3d" not in m["settings"]
    slow = np.load(out / "a.npy")
    _tiny(tmp_path / "in" / "b", 10, 2)
    m = extract(tmp_path / "in", out, small(), **kw)  # fast_i3d=True (the default) resumes the same folder
    assert m["execution"]["fast_i3d"] is True and sorted(m["videos"]) == ["a", "b"]
    m = extract(tmp_path / "in", tmp_path / "out2", small(), **kw)
    np.testing.assert_allclose(np.load(tmp_path / "out2" / "a.npy"), slow, rtol=1e-4,
                               atol=1e-4 * float(np.abs(slow).max()))
    assert json.loads((tmp_path / "out2" / "manifest.json").read_text())["execution"]["fast_i3d"] is True
    from mcwes.commands.extract import options_from_args
    from mcwes.cli import build_parser

    args = build_parser().parse_args(["extract", "x", "--out", "o", "--no-fast-i3d"])
    assert options_from_args(args).fast_i3d is False
    assert options_from_args(build_parser().parse_args(["extract", "x", "--out", "o"])).fast_i3d is True
    with pytest.raises(ValueError, match=r"expected fast_i3d to be True or False, got 'yes'"):
        small(fast_i3d="yes")
