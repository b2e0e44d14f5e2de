"""OpenImages-scale ingestion: rows/s and peak memory of ``read_openimages``.

The script writes label files in the OpenImages V6 human-verified format
(``ImageID,Source,LabelName,Confidence``; 16-hex image ids, ``/m/…`` MIDs, Confidence 1 or 0 and a
few machine-style fractional ones; a trainable list holding half the MIDs), then reads each file
in a fresh interpreter and reports wall and CPU time, rows per CPU second (the machine may be
shared; CPU time is the steadier figure) and the peak resident memory the
read added (the kernel's peak-RSS mark ``VmHWM``, reset just before the read, minus the RSS
at that moment; ``resource.getrusage`` where ``/proc`` is missing). With
``--tracemalloc`` a second read reports the peak of Python + numpy allocations.

Memory should grow with the number of *kept labels* (the sparse result), never with N×C: the
last columns compare the peak with the sparse CSR size and with the dense int8 matrix that is
never built.

Usage::

    python benchmarks/bench_sources.py                       # 1M and 5M rows
    python benchmarks/bench_sources.py --rows 5000000 --tracemalloc
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_openimages(
    folder: Path, rows: int, n_classes: int, labels_per_image: int, seed: int
) -> Path:
    """A label CSV of ``rows`` rows and a trainable list of every second MID."""
    rng = np.random.default_rng(seed)
    mids = np.array([f"/m/0{k:06x}" for k in rng.choice(16**6, n_classes, replace=False)])
    (folder / "classes-trainable.txt").write_text("".join(f"{m}\n" for m in mids[::2]))
    n_images = rows // labels_per_image
    image_ids = np.array([f"{k:016x}" for k in rng.integers(0, 2**63, n_images)])
    # a long tail over classes: Zipf-like class popularity
    weights = 1.0 / np.arange(1, n_classes + 1) ** 0.8
    weights /= weights.sum()
    sources = np.array(["verification", "crowdsource-verification"])
    path = folder / "train-annotations-human-imagelabels.csv"
    with open(path, "w", encoding="utf-8") as f:
        f.write("ImageID,Source,LabelName,Confidence\n")
        chunk = 500_000
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            img = image_ids[np.minimum((start + np.arange(n)) // labels_per_image, n_images - 1)]
            cls = mids[rng.choice(n_classes, n, p=weights)]
            src = sources[(rng.random(n) < 0.3).astype(int)]
            u = rng.random(n)
            conf = np.where(u < 0.55, "1", np.where(u < 0.99, "0", "0.8"))
            lines = [",".join(t) for t in zip(img, src, cls, conf, strict=True)]
            f.write("\n".join(lines) + "\n")
    return path


def read_once(path: Path, trainable: Path, trace: bool) -> dict:
    """Runs inside the child interpreter: one read, its time and memory."""
    import tracemalloc

    from palt.data.sources import read_openimages, read_trainable_classes

    classes = read_trainable_classes(trainable)
    before = _reset_peak_rss()
    if trace:
        tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    labels, inputs = read_openimages(path, classes=classes, conflicts="positive")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    traced = tracemalloc.get_traced_memory()[1] if trace else None
    after = _peak_rss()
    pi, px, ni, nx = labels.csr_arrays()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "rss_kib": after - before,
        "traced_bytes": traced,
        "images": labels.n_samples,
        "classes": labels.n_classes,
        "kept": int(len(px) + len(nx)),
        "csr_bytes": int(pi.nbytes + px.nbytes + ni.nbytes + nx.nbytes),
    }


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` 5); return the current RSS in KiB.

    Elsewhere fall back to ``ru_maxrss`` so far (then the import peak may hide the read's peak).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kib("VmRSS") or 0
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss() -> int:
    return _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(path: Path, trainable: Path, trace: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", str(path), str(trainable)]
    if trace:
        cmd.append("--tracemalloc")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=str, default="1000000,5000000", help="comma-separated sizes")
    parser.add_argument(
        "--classes", type=int, default=19_200, help="MIDs in the file (half trainable)"
    )
    parser.add_argument("--labels-per-image", type=int, default=8)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace allocations (slower)"
    )
    parser.add_argument("--workdir", type=Path, help="keep the generated files here")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(read_once(*args.child, args.tracemalloc)))
        return

    header = (f"{'rows':>10} {'images':>9} {'kept':>10} {'wall s':>7} {'cpu s':>6} "
              f"{'rows/s cpu':>11} {'peak RSS':>9} {'traced':>9} {'CSR':>8} {'dense N×C':>10}")  # fmt: skip
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for rows in (int(r) for r in args.rows.split(",")):
            folder = Path(tmp) / f"rows{rows}"
            folder.mkdir()
            t0 = time.perf_counter()
            path = write_openimages(folder, rows, args.classes, args.labels_per_image, seed=0)
            gen = time.perf_counter() - t0
            r = run_child(path, folder / "classes-trainable.txt", False)
            traced = "-"
            if args.tracemalloc:
                traced = f"{run_child(path, folder / 'classes-trainable.txt', True)['traced_bytes'] / 2**20:.0f} MiB"
            dense = r["images"] * r["classes"]
            print(
                f"{rows:>10,} {r['images']:>9,} {r['kept']:>10,} {r['seconds']:>7.2f} "
                f"{r['cpu']:>6.2f} {rows / r['cpu']:>11,.0f} {r['rss_kib'] / 1024:>5.0f} MiB "
                f"{traced:>9} {r['csr_bytes'] / 2**20:>4.0f} MiB {dense / 2**30:>6.1f} GiB"
            )
            print(f"{'':>10} (generated {path.stat().st_size / 2**20:.0f} MiB CSV in {gen:.1f} s)")
            path.unlink()


if __name__ == "__main__":
    main()
