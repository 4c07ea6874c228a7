"""``dasedge model ...``: PhaseNet-DAS training, export, pseudo-labels, fine-tuning, evaluation.

Sub-commands (training ones need the ``train`` extra, i.e. torch):

* ``train --out DIR --minutes 60 --variant edge|full [--labels truth|teacher --pseudo-dir D]``
* ``export CKPT --out model.onnx``
* ``pseudo-label --out DIR --seeds 500000:500100 [--teacher phasenet|MODEL.onnx]``
* ``filter-pseudo DIR... --out DIR --model MODEL.onnx`` (S pseudo-label filter)
* ``finetune DATA... --base MODEL.onnx|CKPT --out DIR [--minutes 5]``
* ``info MODEL.onnx``
"""

from __future__ import annotations

import argparse
import json
import sys


def _seeds(text: str) -> range:
    a, b = text.split(":")
    return range(int(a), int(b))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)

    p = sub.add_parser("train", help="train PhaseNet-DAS on CPU (resumable, bounded wall time)")
    p.add_argument("--out", required=True, help="run folder (checkpoint last.pt, train.log, summary.json)")
    p.add_argument("--minutes", type=float, default=60.0, help="wall-time budget of this stage")
    p.add_argument("--variant", choices=["edge", "full", "tiny"], default="edge")
    p.add_argument("--labels", choices=["truth", "teacher"], default="truth",
                   help="truth: simulator arrivals; teacher: pseudo-labels from --pseudo-dir")
    p.add_argument("--pseudo-dir", nargs="+", help="folder(s) of pseudo-labelled records (*.npz)")
    p.add_argument("--truth-fraction", type=float, default=0.0,
                   help="with --labels teacher: fraction of examples from simulator-truth scenes (keeps P)")
    p.add_argument("--time-stretch-p", type=float, default=0.0,
                   help="probability of time resampling by U(0.8, 1.25) per example")
    p.add_argument("--overlap-p", type=float, default=0.0,
                   help="probability that a truth example is two events with origins 1-5 s apart")
    p.add_argument("--snapshot-every", type=int, default=None,
                   help="also keep the weights every N steps (OUT/stepNNNNN.pt) for validation-based selection")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--nt", type=int, default=2048)
    p.add_argument("--nx", type=int, default=256)
    p.add_argument("--total-steps", type=int, default=2000, help="length of the cosine schedule")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--seed0", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--noise-dir", default=None, help="folder of real noise files (DASDAE samples)")
    p.add_argument("--init-from", default=None, help="checkpoint to start from (fine-tuning)")
    p.add_argument("--schedule-minutes", type=float, default=None,
                   help="run warm-up+cosine over this much total training wall time (stops when spent)")

    p = sub.add_parser("export", help="checkpoint -> ONNX (opset 17), verified against PyTorch")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True)

    p = sub.add_parser("pseudo-label", help="teacher -> GaMMA -> filtered labels on synthetic scenes")
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=_seeds, default=range(500000, 500100), help="A:B (training range only)")
    p.add_argument("--teacher", default="phasenet", help="'phasenet' (original, channel by channel) or a PhaseNet-DAS .onnx")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--mix", choices=["stage3"], default=None,
                   help="focus the scenes (stage3: high SNR, near/shallow short S-P, 0-5 dB; seed %% 4 picks)")

    p = sub.add_parser("filter-pseudo", help="drop pseudo-labels whose S the student or the vp/vs fit contradicts")
    p.add_argument("dirs", nargs="+", help="folders of pseudo-labelled records (*.npz)")
    p.add_argument("--out", required=True, help="folder for the kept records + filter.jsonl")
    p.add_argument("--model", required=True, help="student ONNX that judges the S labels")
    p.add_argument("--max-offset-s", type=float, default=0.3, help="student S vs label disagreement that rejects (s)")

    p = sub.add_parser("finetune", help="fine-tune on your own recordings (teacher -> GaMMA -> student)")
    p.add_argument("data", nargs="+", help="DAS files (any format dasedge.io reads) or .npy [nt, nx] at 100 Hz")
    p.add_argument("--base", required=True, help="start model: a training checkpoint (.pt) or an exported .onnx")
    p.add_argument("--out", required=True)
    p.add_argument("--teacher", default="base", help="'base' (the current model), 'phasenet', or an .onnx path")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--nt", type=int, default=2048)
    p.add_argument("--nx", type=int, default=256)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--min-channels", type=int, default=10, help="minimum channels with both P and S per event")
    p.add_argument("--threads", type=int, default=1)

    p = sub.add_parser("info", help="print an ONNX model's metadata")
    p.add_argument("model")


def run(args: argparse.Namespace) -> int:
    cmd = args.model_command
    if cmd == "info":
        from pipelines.seismic.onnx_model import PhaseNetDAS

        m = PhaseNetDAS(args.model)
        print(json.dumps({"path": str(m.path), **m.metadata}, indent=2, default=str))
        return 0
    if cmd == "pseudo-label":
        from pipelines.seismic.training import pseudo_labels as pl

        picker = pl.teacher_picker(args.threshold) if args.teacher == "phasenet" else pl.model_picker(args.teacher, args.threshold)
        tot = pl.build_synthetic_set(args.out, args.seeds, picker, mix=args.mix)
        tot = {k: v for k, v in tot.items() if not isinstance(v, list)}
        print(json.dumps(tot))
        return 0
    if cmd == "filter-pseudo":
        from pipelines.seismic.training.pseudo_filter import SFilterSettings, filter_pseudo_set

        tot = filter_pseudo_set(args.dirs, args.out, args.model, SFilterSettings(max_offset_s=args.max_offset_s))
        print(json.dumps(tot))
        return 0
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        print("dasedge model train/export/finetune need PyTorch (pip install 'dasedge[train]')", file=sys.stderr)
        return 2
    if cmd == "train":
        from pipelines.seismic.training.train import train

        summary = train(
            args.out, minutes=args.minutes, variant=args.variant, labels=args.labels, pseudo_dir=args.pseudo_dir,
            batch=args.batch, nt=args.nt, nx=args.nx, lr=args.lr, weight_decay=args.weight_decay, warmup=args.warmup,
            total_steps=args.total_steps, max_steps=args.max_steps, seed0=args.seed0, threads=args.threads,
            noise_dir=args.noise_dir, init_from=args.init_from, schedule_minutes=args.schedule_minutes,
            truth_fraction=args.truth_fraction, stretch_p=args.time_stretch_p, snapshot_every=args.snapshot_every,
            overlap_p=args.overlap_p,
        )
        print(json.dumps(summary))
        return 0
    if cmd == "export":
        from pipelines.seismic.training.export import export_checkpoint

        info = export_checkpoint(args.checkpoint, args.out)
        print(json.dumps({k: v for k, v in info.items() if k != "meta"}))
        return 0
    if cmd == "finetune":
        from pipelines.seismic.training.finetune import finetune

        info = finetune(
            args.data, base=args.base, out=args.out, teacher=args.teacher, minutes=args.minutes, steps=args.steps,
            nt=args.nt, nx=args.nx, threshold=args.threshold, lr=args.lr, min_channels=args.min_channels,
            threads=args.threads,
        )
        print(json.dumps(info, default=str))
        return 0
    return 2
