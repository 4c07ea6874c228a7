"""CPU training of PhaseNet-DAS (bounded wall time, resumable).

``dasedge model train --out runs/x --minutes 60 --variant edge --labels truth``

* AdamW (lr 1e-3, weight decay 0.1), linear warm-up from ×0.01 then cosine
  decay over ``--total-steps``; soft-label cross-entropy with channel mask.
* Examples are generated on the fly from deterministic seeds
  (``seed = seed0 + step * batch + i``, all below :data:`scenes.EVAL_SEED0`),
  so a resumed run sees exactly the examples it would have seen.
* A checkpoint (model, optimiser, scheduler, torch RNG, step, config, wall
  time) is written to ``OUT/last.pt`` every ``--ckpt-every`` steps and at the
  end; a run in the same ``OUT`` resumes from it. Each run is bounded by
  ``--minutes`` so training can proceed in stages.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from pipelines.seismic.training import scenes
from pipelines.seismic.training.dataset import PseudoLabelSet, truth_example
from pipelines.seismic.training.model import VARIANTS, ModelConfig, build, n_parameters, soft_cross_entropy

log = logging.getLogger("dasedge.model.train")

#: Seeds ``VALIDATION_SEED0 <= seed < scenes.EVAL_SEED0`` are kept for checkpoint selection
#: (``bench/eval_model.py --split validation``); training never reaches them.
VALIDATION_SEED0 = 900_000


def lr_lambda(step: int, warmup: int, total: int) -> float:
    """Linear warm-up from 0.01 to 1 over ``warmup`` steps, then cosine to 0 at ``total``."""
    if step < warmup:
        return 0.01 + 0.99 * step / max(1, warmup)
    prog = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1 + math.cos(math.pi * prog))


def load_state(path: str | Path) -> dict:
    """Model weights from a training checkpoint (``.pt``) or a ``.weights.npz`` saved next to an ONNX export."""
    path = Path(path)
    if path.suffix == ".onnx":
        path = path.with_suffix(".weights.npz")
    if path.name.endswith(".npz"):
        with np.load(path) as z:
            return {k: torch.from_numpy(z[k].copy()) for k in z.files if not k.startswith("__")}
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def use_truth(seed: int, source, truth_fraction: float) -> bool:
    """Whether example ``seed`` comes from the simulator truth (else from the pseudo-label ``source``)."""
    if source is None:
        return True
    if truth_fraction <= 0:
        return False
    return bool(np.random.default_rng(seed + 17_000_000).random() < truth_fraction)


def make_batch(source, step: int, batch: int, nt: int, nx: int, seed0: int, bank,
               truth_fraction: float = 0.0, stretch_p: float = 0.0, overlap_p: float = 0.0):
    """One batch; example ``i`` uses seed ``seed0 + step * batch + i`` (deterministic, resumable)."""
    xs, ts, ms = [], [], []
    for i in range(batch):
        seed = seed0 + step * batch + i
        if seed >= VALIDATION_SEED0:
            raise ValueError("training seeds ran into the validation/evaluation range")
        if use_truth(seed, source, truth_fraction):
            ex = truth_example(seed, nt, nx, bank, stretch_p=stretch_p, overlap_p=overlap_p)
        else:
            ex = source.example(seed, nt, nx, bank)
        xs.append(ex.x)
        ts.append(ex.target)
        ms.append(ex.mask)
    return (
        torch.from_numpy(np.stack(xs)[:, None]),
        torch.from_numpy(np.stack(ts)),
        torch.from_numpy(np.stack(ms)),
    )


def train(
    out: str | Path,
    *,
    minutes: float = 60.0,
    variant: str | ModelConfig = "edge",
    labels: str = "truth",
    pseudo_dir: str | Path | None = None,
    batch: int = 2,
    nt: int = 2048,
    nx: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    warmup: int = 200,
    total_steps: int = 4000,
    max_steps: int | None = None,
    seed0: int = 0,
    threads: int = 1,
    ckpt_every: int = 100,
    log_every: int = 20,
    noise_dir: str | Path | None = None,
    init_from: str | Path | None = None,
    schedule_minutes: float | None = None,
    truth_fraction: float = 0.0,
    stretch_p: float = 0.0,
    snapshot_every: int | None = None,
    overlap_p: float = 0.0,
) -> dict:
    """Train (or resume) a model in ``out``; returns a summary dict (also written to ``out/summary.json``).

    With ``schedule_minutes`` the warm-up + cosine schedule runs over *training
    wall time* (total across resumed stages) instead of steps, and training
    stops when that much wall time has been spent: on a shared CPU the number
    of steps that fit is unknown in advance, and this guarantees the learning
    rate has annealed when the budget ends.

    ``pseudo_dir`` may be a list of folders. ``truth_fraction`` mixes simulator-truth
    examples into pseudo-label training (per example, from the seed); ``stretch_p`` is the
    probability of time resampling U(0.8, 1.25) (:func:`dataset.time_stretch`);
    ``overlap_p`` is the probability that a truth example is an overlapping pair
    (:func:`dataset.truth_example`); ``snapshot_every`` also keeps the model weights at every such step as ``OUT/step%05d.pt``
    for checkpoint selection on the validation seeds.
    """
    torch.set_num_threads(threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "last.pt"
    cfg = variant if isinstance(variant, ModelConfig) else VARIANTS[variant]
    variant = variant if isinstance(variant, str) else "custom"
    torch.manual_seed(seed0)  # initial weights are a function of seed0
    net = build(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_lambda(s, warmup, total_steps))
    step, wall_s, losses = 0, 0.0, []
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["torch_rng"])
        step, wall_s, losses = ck["step"], ck["wall_s"], ck.get("losses", [])
        log.warning("resumed %s at step %d (%.1f min trained so far)", ckpt_path, step, wall_s / 60)
    elif init_from is not None:
        net.load_state_dict(load_state(init_from))
        log.warning("initialised from %s", init_from)
    source = None
    if labels != "truth":
        if pseudo_dir is None:
            raise ValueError("--labels teacher needs --pseudo-dir (see `dasedge model pseudo-label`)")
        source = PseudoLabelSet(pseudo_dir, stretch_p=stretch_p)
    bank = None
    if noise_dir is not None and Path(noise_dir).is_dir():
        from pipelines.seismic.training.noise import load_noise_bank

        bank = load_noise_bank(noise_dir) or None
    meta = {
        "variant": variant,
        "config": cfg.to_dict(),
        "n_parameters": n_parameters(net),
        "labels": labels,
        "batch": batch,
        "patch": [nt, nx],
        "lr": lr,
        "weight_decay": weight_decay,
        "warmup": warmup,
        "total_steps": total_steps,
        "seed0": seed0,
        "threads": threads,
        "real_noise": bank is not None,
        "pseudo_dirs": [str(d) for d in ([pseudo_dir] if isinstance(pseudo_dir, (str, Path)) else (pseudo_dir or []))],
        "truth_fraction": truth_fraction,
        "time_stretch_p": stretch_p,
        "overlap_p": overlap_p,
        "init_from": str(init_from) if init_from is not None else None,
    }

    def save() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(
            {
                "model": net.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "wall_s": wall_s,
                "losses": losses,
                "meta": meta,
            },
            tmp,
        )
        tmp.replace(ckpt_path)

    net.train()
    t_start = time.monotonic()
    deadline = t_start + minutes * 60
    t_last = t_start
    run_loss = []
    t_log, n_log = t_start, 0
    last_step = max_steps if max_steps is not None else total_steps
    if schedule_minutes is not None:
        last_step = max_steps if max_steps is not None else 10**9
        budget_s = schedule_minutes * 60.0
        warm_s = budget_s * warmup / max(1, total_steps)  # warm-up as the same fraction of the budget
        meta["schedule_minutes"] = schedule_minutes

    def set_time_lr() -> None:
        prog = wall_s / budget_s
        if wall_s < warm_s:
            f = 0.01 + 0.99 * wall_s / warm_s
        else:
            f = 0.5 * (1 + math.cos(math.pi * min(1.0, (wall_s - warm_s) / max(1e-9, budget_s - warm_s))))
        for g in opt.param_groups:
            g["lr"] = lr * f
        return prog
    with open(out / "train.log", "a") as flog:
        while step < last_step and time.monotonic() < deadline:
            if schedule_minutes is not None:
                if wall_s >= budget_s:
                    break
                set_time_lr()
            x, tgt, m = make_batch(source, step, batch, nt, nx, seed0, bank, truth_fraction, stretch_p, overlap_p)
            loss = soft_cross_entropy(net(x), tgt, m)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if schedule_minutes is None:
                sched.step()
            step += 1
            n_log += 1
            run_loss.append(loss.item())
            now = time.monotonic()
            wall_s += now - t_last
            t_last = now
            if step % log_every == 0 or step == last_step:
                mean = float(np.mean(run_loss))
                losses.append([step, mean])
                run_loss = []
                line = (
                    f"step {step}/{last_step if last_step < 10**9 else '-'} loss {mean:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                    f"wall {wall_s / 60:.1f} min ({(now - t_log) / n_log:.2f} s/step)"
                )
                t_log, n_log = now, 0
                print(line, flush=True)
                flog.write(line + "\n")
                flog.flush()
            if step % ckpt_every == 0:
                save()
            if snapshot_every and step % snapshot_every == 0:
                torch.save({"model": net.state_dict(), "step": step, "wall_s": wall_s, "meta": meta}, out / f"step{step:05d}.pt")
        save()
    summary = {**meta, "step": step, "wall_minutes": round(wall_s / 60, 2), "final_loss": losses[-1][1] if losses else None}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
