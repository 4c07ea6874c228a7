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
"""


def main() -> None:
    results = ROOT / "bench" / "results"
    files = {p.stem: p for p in results.glob("*.md")}
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
