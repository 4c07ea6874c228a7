"""Fine-tune PhaseNet-DAS on the user's own fiber (teacher -> GaMMA -> student).

``dasedge model finetune DATA... --base models/phasenet_das/phasenet_das_edge.onnx --out DIR``

1. read every recording (``dasedge.io.read``; ``.npy`` arrays are taken as
   ``[nt, nx]`` at 100 Hz with 10 m channels), resample to 100 Hz with an
   anti-alias filter, place the channels on a straight line at their
   along-fiber distance;
2. pseudo-label each recording: the teacher (the base model itself, the
   original PhaseNet channel by channel, or any ONNX model) picks with
   probability > 0.5, GaMMA associates, the paper's filters keep channels
   with both phases (:mod:`.pseudo_labels`);
3. continue training the base weights on the pseudo-labelled patches
   (AdamW, short warm-up + cosine, soft cross-entropy with channel mask);
4. export ``DIR/phasenet_das_finetuned.onnx`` (+ ``.weights.npz``, ``SHA256SUMS``
   and a model card ``README.md``). Point the service at it with
   ``DASEDGE_SEISMIC_MODEL=DIR/phasenet_das_finetuned.onnx``.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from pipelines.seismic.training.dataset import save_pseudo
from pipelines.seismic.training.noise import to_100hz
from pipelines.seismic.training.pseudo_labels import GammaSettings, model_picker, pseudo_label, teacher_picker


def load_record(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(data [nt, nx] at 100 Hz, x_km, y_km)`` of one recording."""
    path = Path(path)
    if path.suffix == ".npy":
        data = np.load(path).astype(np.float32)
        dist_m = np.arange(data.shape[1]) * 10.0
    else:
        from dasedge.io import read  # type: ignore[attr-defined]

        blk = read(path)
        data = to_100hz(np.asarray(blk.data, dtype=np.float64), blk.fs).astype(np.float32)
        dist_m = np.asarray(blk.distance_m, dtype=np.float64)
    x_km = (dist_m - dist_m[0]) / 1000.0
    return data, x_km, np.zeros_like(x_km)


def finetune(
    data: Sequence[str | Path],
    *,
    base: str | Path,
    out: str | Path,
    teacher: str = "base",
    minutes: float = 10.0,
    steps: int = 200,
    nt: int = 2048,
    nx: int = 256,
    threshold: float = 0.5,
    lr: float = 3e-4,
    min_channels: int = 10,
    threads: int = 1,
    gamma: GammaSettings | None = None,
) -> dict:
    """Run the whole fine-tuning recipe; returns a summary (also in ``DIR/finetune.json``)."""
    import torch

    from pipelines.seismic.training.export import export_checkpoint, export_onnx, load_weights_config, sha256
    from pipelines.seismic.training.model import ModelConfig, PhaseNetDAS
    from pipelines.seismic.training.train import load_state, train

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = Path(base)
    # base weights and config
    if base.suffix == ".pt":
        ck = torch.load(base, map_location="cpu", weights_only=False)
        cfg = ModelConfig(**ck["meta"]["config"])
    else:
        cfg = load_weights_config(base.with_suffix(".weights.npz"))
    state = load_state(base)
    net = PhaseNetDAS(cfg)
    net.load_state_dict(state)
    init = out / "init.pt"
    torch.save({"model": net.state_dict(), "meta": {"config": cfg.to_dict()}}, init)
    # teacher
    if teacher == "phasenet":
        picker = teacher_picker(threshold)
    else:
        t_path = base if (teacher == "base" and base.suffix == ".onnx") else None
        if teacher == "base" and t_path is None:
            t_path = export_onnx(net.eval(), out / "base_teacher.onnx")
        picker = model_picker(str(t_path if teacher == "base" else teacher), threshold)
    settings = gamma or GammaSettings(min_p_frac=0.0, min_p_abs=min_channels)
    pdir = out / "pseudo"
    pdir.mkdir(exist_ok=True)
    stats = []
    for i, path in enumerate(data):
        d, x_km, y_km = load_record(path)
        pl = pseudo_label(d, x_km, y_km, picker, settings)
        stats.append({"file": str(path), "nt": d.shape[0], "nx": d.shape[1], "teacher_picks": pl.n_teacher,
                      "associated_picks": pl.n_associated, "events": len(pl.events), "labelled_channels": int(pl.mask.sum())})
        if pl.events:
            save_pseudo(pdir / f"rec{i:05d}.npz", d, pl.p_idx, pl.s_idx, pl.mask)
    if not any(s["events"] for s in stats):
        raise RuntimeError("no event survived teacher -> GaMMA -> filters; nothing to fine-tune on")
    run = out / "run"
    summary = train(
        run, minutes=minutes, variant=cfg, labels="teacher", pseudo_dir=pdir, batch=2, nt=nt, nx=nx, lr=lr,
        warmup=max(1, steps // 10), total_steps=steps, threads=threads, ckpt_every=max(10, steps // 4),
        log_every=max(1, steps // 10), init_from=init,
    )
    onnx_path = out / "phasenet_das_finetuned.onnx"
    info = export_checkpoint(run / "last.pt", onnx_path, {"finetuned_from": str(base), "teacher": teacher})
    (out / "SHA256SUMS").write_text(f"{info['sha256']}  {onnx_path.name}\n"
                                    f"{sha256(onnx_path.with_suffix('.weights.npz'))}  {onnx_path.with_suffix('.weights.npz').name}\n")
    result = {"onnx": str(onnx_path), "bytes": info["bytes"], "sha256": info["sha256"], "max_abs_diff": info["max_abs_diff"],
              "records": stats, "train": summary}
    (out / "finetune.json").write_text(json.dumps(result, indent=2, default=str))
    _card(out / "README.md", result, base, teacher)
    return result


def _card(path: Path, r: dict, base: Path, teacher: str) -> None:
    n_t = sum(s["teacher_picks"] for s in r["records"])
    n_a = sum(s["associated_picks"] for s in r["records"])
    lines = [
        "# PhaseNet-DAS fine-tuned on a user fiber",
        "",
        f"- created: {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- base model: `{base}`; teacher: `{teacher}`",
        f"- file: `{Path(r['onnx']).name}`, {r['bytes']} bytes, sha256 `{r['sha256']}`",
        f"- ONNX vs PyTorch max abs diff: {r['max_abs_diff']:.2e}",
        f"- recordings: {len(r['records'])}; events kept: {sum(s['events'] for s in r['records'])}; "
        f"teacher picks associated by GaMMA: {n_a}/{n_t}",
        f"- training: {r['train']['step']} steps, {r['train']['wall_minutes']} min, final loss {r['train']['final_loss']}",
        "",
        "Input: strain rate at 100 Hz, channels near 8-10 m (as the base model). Use with",
        f"`DASEDGE_SEISMIC_MODEL={r['onnx']}`. Pseudo-labels are only as good as the teacher and GaMMA;",
        "check picks on a few events before relying on this model.",
        "",
        "| file | nt | nx | teacher picks | associated | events | labelled channels |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {s['file']} | {s['nt']} | {s['nx']} | {s['teacher_picks']} | {s['associated_picks']} | {s['events']} | {s['labelled_channels']} |"
              for s in r["records"]]
    path.write_text("\n".join(lines) + "\n")
