"""Build the frozen Debtags snapshot shipped in ``src/palt/builtin/`` from Debian's package index.

Steps (see ``docs/data/debtags.md`` and ``specs/data.md``):

1. ``apt-get update`` into a private lists folder (``Dir::State::Lists``, ``Dir::Cache`` and an
   empty ``Dir::State::status`` under ``--work``) with ``Acquire::Languages=en`` so the
   ``Translation-en`` index (long descriptions) is fetched. A config file with ``#clear`` lines
   switches off the system's update hooks. The system apt state is not touched.
2. ``apt-cache dumpavail`` on that folder: one record per package, with its ``Tag:`` field.
3. ``Translation-en`` read with ``/usr/lib/apt/apt-helper cat-file`` (handles lz4/gz/xz/plain),
   joined on ``Description-md5``.
4. Keep packages with tags; drop the give-away facets (:data:`DROPPED`); keep packages that still
   have a tag; write ``debtags.jsonl.gz`` sorted by package name with a fixed gzip header
   (mtime 0, no file name), so equal input gives byte-identical output, and ``debtags.json``
   (source release, build date, row count, sha256, facet filter).

Run as root (apt-get update needs it)::

    python scripts/build_debtags_snapshot.py --work /tmp/debtags-build
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "src" / "palt" / "builtin"
APT_HELPER = "/usr/lib/apt/apt-helper"
DROPPED_PREFIXES = (
    "role::",
    "implemented-in::",
    "devel::lang",
    "special::",
    "suite::",
    "made-of::",
)
NOHOOKS = "#clear APT::Update::Post-Invoke-Success;\n#clear APT::Update::Post-Invoke;\n"
_VERSION_OR_ARCH = re.compile(r"\s*(\(.*?\)|\[.*?\]|<.*?>)")


def apt_options(work: Path) -> list[str]:
    """Options that point apt at a private state under ``work``."""
    return [
        "-o",
        f"Dir::State::Lists={work / 'lists'}",
        "-o",
        f"Dir::Cache={work / 'cache'}",
        "-o",
        f"Dir::State::status={work / 'status'}",
    ]


def fetch_index(work: Path) -> None:
    """``apt-get update`` into ``work/lists`` with English translations and no update hooks."""
    (work / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (work / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (work / "status").touch()
    conf = work / "nohooks.conf"
    conf.write_text(NOHOOKS)
    cmd = ["apt-get", "update", "-c", str(conf), *apt_options(work), "-o", "Acquire::Languages=en"]
    subprocess.run(cmd, check=True)


def records(text: str) -> Iterator[dict[str, str]]:
    """Deb822 records: blank-line separated; continuation lines start with a space."""
    for block in text.split("\n\n"):
        rec: dict[str, str] = {}
        key = None
        for line in block.split("\n"):
            if not line:
                continue
            if line[0] in " \t":
                if key is None:
                    raise ValueError(f"continuation line before any field: {line!r}")
                rec[key] += "\n" + line
            else:
                key, _, value = line.partition(":")
                rec[key] = value.strip()
        if rec:
            yield rec


def long_description(field: str) -> tuple[str, str]:
    """(short, long) from a Debian description field; ``' .'`` lines become blank lines."""
    first, _, rest = field.partition("\n")
    lines = []
    for line in rest.split("\n") if rest else []:
        body = line[1:]
        lines.append("" if body.strip() == "." else body.rstrip())
    return first.strip(), "\n".join(lines).strip("\n")


def depends_names(field: str) -> list[str]:
    """Package names in a ``Depends`` field (versions, arch qualifiers and alternatives removed)."""
    names: list[str] = []
    for group in field.replace("\n", " ").split(","):
        for alt in group.split("|"):
            name = _VERSION_OR_ARCH.sub("", alt).strip().split(":")[0]
            if name and name not in names:
                names.append(name)
    return names


def kept_tag(tag: str) -> bool:
    """False for the facets that give the answer away (and for ``*TODO*`` placeholders)."""
    return not tag.startswith(DROPPED_PREFIXES) and "TODO" not in tag


def read_translations(lists: Path) -> dict[str, str]:
    """Description-md5 → English description, from every ``Translation-en`` index in ``lists``."""
    out: dict[str, str] = {}
    files = sorted(lists.glob("*_i18n_Translation-en*"))
    if not files:
        raise FileNotFoundError(f"{lists}: no Translation-en index; run with Acquire::Languages=en")
    for f in files:
        text = subprocess.run(
            [APT_HELPER, "cat-file", str(f)], check=True, capture_output=True, text=True
        ).stdout
        for rec in records(text):
            if "Description-md5" in rec and "Description-en" in rec:
                out[rec["Description-md5"]] = rec["Description-en"]
    return out


def release_info(lists: Path) -> list[dict[str, str]]:
    """Origin, suite, codename, version and date of every fetched release file."""
    out = []
    for f in sorted(lists.glob("*_InRelease")) + sorted(lists.glob("*_Release")):
        head = f.read_text(errors="replace").split("\n\n")
        rec = next(records(head[1] if head[0].startswith("-----BEGIN") else head[0]))
        keep = ("Origin", "Suite", "Codename", "Version", "Date")
        out.append({"file": f.name, **{k.lower(): rec[k] for k in keep if k in rec}})
    return out


def build_rows(packages: str, translations: dict[str, str]) -> tuple[list[dict], dict[str, int]]:
    """Snapshot rows (sorted by package) and counts for the manifest."""
    rows = []
    counts = {"packages": 0, "tagged": 0, "tagged_after_filter": 0, "missing_translation": 0}
    for rec in records(packages):
        counts["packages"] += 1
        tags = [t.strip() for t in rec.get("Tag", "").replace("\n", " ").split(",") if t.strip()]
        if not tags:
            continue
        counts["tagged"] += 1
        tags = sorted({t for t in tags if kept_tag(t)})
        if not tags:
            continue
        counts["tagged_after_filter"] += 1
        desc = translations.get(rec.get("Description-md5", ""), rec.get("Description", ""))
        if not desc:
            counts["missing_translation"] += 1
        short, long = long_description(desc)
        rows.append(
            {
                "package": rec["Package"],
                "section": rec.get("Section", ""),
                "short": short,
                "long": long,
                "depends": depends_names(rec.get("Depends", "")),
                "tags": tags,
            }
        )
    rows.sort(key=lambda r: r["package"])
    return rows, counts


def deterministic_gzip(rows: list[dict]) -> bytes:
    """JSON lines, gzip level 9 with mtime 0 and no file name in the header."""
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buf, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="private apt state folder")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="where to write the snapshot")
    ap.add_argument("--no-update", action="store_true", help="reuse lists already in --work")
    args = ap.parse_args(argv)
    work = args.work.resolve()
    if not args.no_update:
        fetch_index(work)
    packages = subprocess.run(
        ["apt-cache", *apt_options(work), "dumpavail"], check=True, capture_output=True, text=True
    ).stdout
    rows, counts = build_rows(packages, read_translations(work / "lists"))
    data = deterministic_gzip(rows)
    tags = sorted({t for r in rows for t in r["tags"]})
    manifest = {
        "format": "palt.debtags-snapshot",
        "version": 1,
        "file": "debtags.jsonl.gz",
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "rows": len(rows),
        "distinct_tags": len(tags),
        "counts": counts,
        "facet_filter": {"dropped_prefixes": list(DROPPED_PREFIXES), "dropped_containing": "TODO"},
        "fields": ["package", "section", "short", "long", "depends", "tags"],
        "source": {
            "index": "Debian Packages (apt-cache dumpavail) + Translation-en, joined on Description-md5",
            "releases": release_info(work / "lists"),
        },
        "built": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "builder": "scripts/build_debtags_snapshot.py",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "debtags.jsonl.gz").write_bytes(data)
    (args.out / "debtags.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: manifest[k] for k in ("rows", "bytes", "distinct_tags", "counts")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
