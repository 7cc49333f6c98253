"""End-to-end ``mcwes.spot``: latency and throughput for 1, 10 and 64 CAS(ME)^2-sized videos
(T = 368 snippets, D = 1024), against the same model with plain-PyTorch layers and the pure-Python
reference post-processing, and the share of spot's time spent in post-processing.

    python benchmarks/bench_spot.py [--quick] [--threads N] [--device cuda]

Correctness first: the two paths give the same proposals (same frames; scores within float32 noise)
on the smallest batch. The weights are random (a trained model has the same cost). Timing: the two
paths alternate call by call on three rotating input sets (median of 7 rounds, 11 without --quick, 3
for 64 videos), so load bursts on a shared machine hit both alike.
"""
from __future__ import annotations


import numpy as np
import torch

import mcwes
from mcwes import Config, MCWES, reference
from mcwes.losses import suppressed_tcam, video_logits
from mcwes.proposals import CLASSES, Proposal, duration_label, snippets_to_frames

from _common import alternating_medians, describe, machine, median_seconds, parser, print_table, set_threads, write_rows

T, D = 368, 1024


def plain_spot(model: MCWES, videos: list[np.ndarray], config: Config) -> list[list[Proposal]]:
    """The same pipeline with plain-PyTorch layers (model.kernels = False) and, per video, the
    pure-Python reference post-processing."""
    s, g, fps = config.spot, config.data.snippet_frames, config.data.fps
    x = torch.from_numpy(np.stack(videos)).to(next(model.parameters()).device)
    with torch.inference_mode():
        out = model(x)
        s_hat = suppressed_tcam(out.S, out.A)
        p = torch.softmax(video_logits(s_hat, out.lengths, config.train.h, kernels=False), dim=1)
    results = []
    for b in range(len(videos)):
        _, start, end, label, score = reference.spot_postprocess(
            out.A[b : b + 1].cpu(), s_hat[b : b + 1, :, :2].cpu(), p[b : b + 1, :2].cpu(), [T],
            m_values=s.m_values(), psi=s.psi, varsigma=s.varsigma, nms_threshold=s.nms_threshold,
            score_threshold=s.score_threshold)
        onset, offset = snippets_to_frames(np.asarray(start), np.asarray(end), g, T * g)
        results.append([Proposal(f"video{b}", int(o), int(e), float(sc), str(duration_label(o, e, fps)),
                                 CLASSES[int(lb)]) for o, e, sc, lb in zip(onset, offset, score, label)])
    return results


def postprocess_seconds(model: MCWES, x: torch.Tensor, config: Config, min_run_time: float, device: str) -> float:
    """Time of the post-processing step alone (the fused kernel), on the model's outputs."""
    s = config.spot
    with torch.inference_mode():
        out = model(x)
        s_hat = suppressed_tcam(out.S, out.A)
        p = torch.softmax(video_logits(s_hat, out.lengths, config.train.h), dim=1)
        args = (out.A, s_hat[..., :2].contiguous(), p[:, :2].contiguous(), out.lengths)
        return median_seconds(lambda: mcwes.ops.spot_postprocess(
            *args, m_values=s.m_values(), psi=s.psi, varsigma=s.varsigma, nms_threshold=s.nms_threshold,
            score_threshold=s.score_threshold), min_run_time, device)


def main() -> None:
    p = parser("spot", threads=None)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--min-run-time", type=float, default=1.0, help="blocked timing of the post-processing step alone")
    args = p.parse_args()
    set_threads(args.threads)
    print(describe(args.device))
    config = Config.preset("casme2", model={"feature_dim": D})
    torch.manual_seed(0)
    model = MCWES(config).to(args.device).eval()
    plain = MCWES(config, kernels=False).to(args.device).eval()
    plain.load_state_dict(model.state_dict())
    rng = np.random.default_rng(0)

    small = [rng.standard_normal((T, 2 * D)).astype(np.float32) for _ in range(2)]
    ours, theirs = mcwes.spot(small, model), plain_spot(plain, small, config)
    for a, b in zip(ours, theirs):
        assert [(q.onset, q.offset, q.model_label) for q in a] == [(q.onset, q.offset, q.model_label) for q in b]
        np.testing.assert_allclose([q.score for q in a], [q.score for q in b], rtol=1e-3, atol=1e-4)

    rows, meta = [], machine(args.device)
    for B in [1, 10] if args.quick else [1, 10, 64]:
        sets = [[rng.standard_normal((T, 2 * D)).astype(np.float32) for _ in range(B)] for _ in range(3)]
        x = torch.from_numpy(np.stack(sets[0])).to(args.device)
        rounds = 3 if B > 10 else 7 if args.quick else 11
        t = alternating_medians({"mcwes": lambda i: mcwes.spot(sets[i], model),
                                 "plain": lambda i: plain_spot(plain, sets[i], config)}, len(sets), rounds, args.device)
        t_ours, t_plain = t["mcwes"], t["plain"]
        t_post = postprocess_seconds(model, x, config, 0.2, args.device)
        rows.append({"op": "spot", "device": args.device, "B": B, "T": T, "D": D, "mcwes_ms": t_ours * 1e3,
                     "plain_ms": t_plain * 1e3, "speedup": t_plain / t_ours, "videos_per_s": B / t_ours,
                     "plain_videos_per_s": B / t_plain, "postprocess_ms": t_post * 1e3,
                     "postprocess_share_pct": 100 * t_post / t_ours})
    write_rows(args.out, [{**r, **meta} for r in rows])
    print(f"mcwes.spot on {meta['device']} ({meta['threads']} threads, torch {meta['torch']}), T={T}, D={D}")
    print_table(rows, ["B", "mcwes_ms", "plain_ms", "speedup", "videos_per_s", "plain_videos_per_s", "postprocess_ms",
                       "postprocess_share_pct"])


if __name__ == "__main__":
    main()
