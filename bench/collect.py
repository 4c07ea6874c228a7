"""Assemble BENCHMARKS.md from the per-area result files in bench/results/.

Each benchmark or evaluation script writes ``bench/results/<area>.md`` with
its machine and date; this script only concatenates them in a fixed order
under a short header, so the figures stay next to the code that made them.

    .venv/bin/python bench/collect.py
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["streaming", "readers", "traffic", "teacher", "model", "seismic", "api", "cloud", "reliability"]
HEADER = """# dasedge benchmarks and accuracy

Figures measured on this project's machines (2 shared cores, 24 GiB; the CPU model and the date
are given in each section). The machines are shared and noisy, so speed goals are stated as ratios
measured in one run (our stage vs the raw library call). Accuracy is measured against ground truth
(synthetic scenes with known vehicles and arrivals; the 154 labelled NCEDC seismograms) on seeds
that were not used for tuning. Each section is written by the script named in it; regenerate this
file with `python bench/collect.py`.

## Goals at a glance (2026-11-25, 2 shared cores, AMD EPYC; load 5-23 from parallel work, so wall times are pessimistic)

| issue | goal | measured | status |
|---|---|---|---|
| 2 | streaming runtime >= 80 % of a bare kafka-python consumer | 0.93 on a quiet box (5 alternating runs, 15:59); 0.54-1.08 under load earlier; CPU per GB 1.29x | met |
| 2 | reader throughput vs plain h5py | full read 0.5-1.0x of h5py read + scale; windows 3.5-6.4x faster than full read | reported |
| 3 | F1 >= 0.98, count error <= 1 %, speed MAE <= 1.5 km/h, class >= 95 % (default highway) | 10 evaluation seeds 1000-1009 (92 vehicles): F1 0.989, precision 1.000, count -2.2 %, MAE <= 0.41 km/h, class 100 % (seeds 1000-1005: F1 0.980, count -3.8 %); CI seeds F1 1.00 | F1/speed/class met; count missed (2 of 92 missed: cars hidden in a truck's signal at the same speed) |
| 3 | >= 200x real time, one core (800 ch x 1 kHz) | 250x per 60 s window (CPU time, median of 9), streaming worker amortised 240x | met |
| 3 | vehicle reported <= 5 s after leaving the section | through a real Kafka broker at real time: median 2.6-3.3 s, max 3.9-4.6 s (two runs); falls behind when the worker gets < ~0.1 core | met while the worker has CPU |
| 4 | teacher port P F1 >= 0.95, S F1 >= 0.94 | P 0.961 (+0.006 +- 0.034 s), S 0.943 (+0.012 +- 0.075 s) | met |
| 4 | student beats teacher; P, S F1 >= 0.95 at 10 dB | 6 `quake` scenes per bin, per-phase thresholds from validation seeds (P 0.5, S 0.6): mean F1 0.899 vs teacher 0.833 (`train-gen` 0.835 vs 0.694); 10 dB S 0.945 (teacher 0.866), 10 dB P 0.829 (one scene with a flat P moveout at 0.01, others 0.98-1.00; teacher 0.906); stage-4 (S-filtered pseudo-labels) and stage-5 (overlapping-pair truth examples: 2nd-event P recall 0.24 -> 0.36, S precision fell) retrains failed the pre-written ship rule | beats the teacher on average; 10 dB targets missed |
| 5 | picking end-to-end >= 85 % of bare onnxruntime | quiet box: 83 % and 87 % by wall time, 89 % and 91 % by CPU time (two runs); picker's own time 0.21 s per 3 windows | met by CPU time, borderline by wall time |
| 5 | 5,000 ch at 100 Hz >= 4x real time on 2 cores | quiet box: 5.9x and 6.8x wall (6 tiles of 1024 ch), 6.1-6.4x (2 of 2560); 1.4 GB peak | met |
| 5 | association >= 10x faster than gmma at >= F1 | 60-130x faster, F1 equal or better | met |
| 5 | first alert <= 6 s after the first P | median 3.1 s, max 4.0 s | met |
| 5 | event F1 >= 0.95 at >= 5 dB | shipped model, 6 scenes (18 events) per bin, sidecar thresholds: 0.88 / 0.91 / 0.81 at 5 / 10 / 20 dB; separated events 1.00 in every bin, overlapping pairs (3 s apart) 0.70-0.86 (the model gives the second event's P no picks in 9 of 18 scenes); oracle picks 1.00 | met for separated events only; overlapping events need model work |
| 5 | magnitude from DAS amplitudes (site-calibrated relation) | synthetic test seeds, K fitted on other seeds: +0.01 +- 0.39 (default uncalibrated K: -1.03 +- 0.39); relation coefficients unverified against the paper | recipe works; real-fiber accuracy unknown |
| 6 | API p99 on a year of 15-min stats + 100k vehicles | p99 1.0-3.5 s at concurrency 8 at load 23 (ratios to /health 0.21-0.92) | reported |
| 7 | kill -9 x20 / broker restart / poison / 10,000 malformed inputs | traffic and seismic 20 kills: 0 lost, 0 duplicated (seismic after the restart-context fix); broker restart 0/0; 10,410 malformed inputs rejected with reasons | met |
| 7 | 30-min soak at 2x real time | 100 ch, shipped model: keeps up at load ~8, RSS flat (traffic 213 MB, seismic 202 MB); falls behind at load 12-22 and drains after | met at moderate load |
"""


def main() -> None:
    results = ROOT / "bench" / "results"
    files = {p.stem: p for p in results.glob("*.md") if not p.stem.endswith("_head")}  # _head: templates
    names = [n for n in ORDER if n in files] + sorted(set(files) - set(ORDER))
    parts = [HEADER]
    for name in names:
        text = files[name].read_text().strip()
        if not text.startswith("#"):
            text = f"## {name}\n\n{text}"
        else:  # demote the section's own headings by one level
            text = "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
        parts.append(text)
    (ROOT / "BENCHMARKS.md").write_text("\n\n".join(parts) + "\n")
    print(f"BENCHMARKS.md: {len(names)} sections ({', '.join(names)})")


if __name__ == "__main__":
    main()
