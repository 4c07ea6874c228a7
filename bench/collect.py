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

## Goals at a glance (2026-11-25, 2 shared cores, AMD EPYC, load 5-14 from parallel work)

| issue | goal | measured | status |
|---|---|---|---|
| 2 | streaming runtime >= 80 % of a bare kafka-python consumer | 1.08 (wall, one run; earlier runs 0.54 / 0.61 under heavier load); CPU per GB 1.33x | met in the last run, noisy |
| 2 | reader throughput vs plain h5py | full read 0.5-1.0x of h5py read + scale; windows 3.5-6.4x faster than full read | reported |
| 3 | F1 >= 0.98, count error <= 1 %, speed MAE <= 1.5 km/h, class >= 95 % (default highway) | CI scenes: F1 1.00, count 0, MAE 0.14, class 100 %; grid (other seeds): F1 0.933, precision 1.00, MAE 0.02-0.24, class 100 % | speed/class met; F1/count missed on the grid (cars hidden behind trucks) |
| 3 | >= 200x real time, one core (800 ch x 1 kHz) | 271x (CPU time), 392 MB per worker | met |
| 3 | vehicle reported <= 5 s after leaving the section | median 2.1 s, max 5.2 s (replay, no Kafka) | median met, max just missed |
| 4 | teacher port P F1 >= 0.95, S F1 >= 0.94 | P 0.961 (+0.006 +- 0.034 s), S 0.943 (+0.012 +- 0.075 s) | met |
| 4 | student beats teacher; P, S F1 >= 0.95 at 10 dB | edge model P 0.990 vs teacher 0.944, S 0.948 vs 0.725 | P met, S 0.002 short; loses at 20 dB |
| 5 | picking end-to-end >= 85 % of bare onnxruntime | 67 % (shipped model), 94 % (random-weight paper net) | missed |
| 5 | 5,000 ch at 100 Hz >= 4x real time on 2 cores | 2.2x, 1.4 GB peak | missed |
| 5 | association >= 10x faster than gmma at >= F1 | 92x faster, F1 1.00 vs 0.92 | met |
| 5 | first alert <= 6 s after the first P | median 3.1 s, max 4.0 s | met |
| 5 | event F1 >= 0.95 at >= 5 dB | oracle picks 1.00 at all SNR; shipped model 1.00 at 5 dB, 0.73-0.83 elsewhere | missed with the shipped model |
| 6 | API p99 on a year of 15-min stats + 100k vehicles | 0.5-1.7 s p99 at concurrency 8 under load (see API section) | reported |
| 7 | kill -9 / broker restart / poison / 10,000 malformed inputs | 0 lost, 0 duplicated; 10,410 malformed inputs rejected with reasons | met (one xfail: a seismic event can stay `new` after a kill) |
| 7 | 30-min soak at 2x real time | 5-7 min soaks at 100-500 channels, lag bounded, RSS flat | 30-min soak not run |
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
