"""Benchmark the loaders: extraction speed per file kind, with a bare-parse baseline (not a test).

For every file of a folder (default: ``../shared/eval/docs_dev/sources``), times
``index.loaders.load_bytes`` (best of ``--repeat``) and, as a baseline measured in the same run,
the bare library parse a loader cannot avoid: BeautifulSoup's ``html.parser`` tree for HTML,
pypdfium2's per-page ``get_text_range`` for PDF. Prints chars/s and pages/s per kind and the
ratio to the baseline. Run it from an older checkout (``PYTHONPATH=<worktree>``) for "before".

    python bench/loaders.py [--sources DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path


def _best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _bare(path: Path, data: bytes) -> None:
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        from bs4 import BeautifulSoup

        BeautifulSoup(data.decode("utf-8", "replace"), "html.parser").get_text()
    elif suffix == ".pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(data)
        for page in pdf:
            page.get_textpage().get_text_range()
        pdf.close()


def main() -> int:
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sources", type=Path, default=here.parent / "shared/eval/docs_dev/sources"
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from index.loaders import load_bytes

    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0.0])
    print(f"{'file':28} {'chars':>8} {'pages':>5} {'load s':>8} {'bare s':>8} {'ratio':>6}")
    for path in sorted(args.sources.iterdir()):
        if not path.is_file():
            continue
        data = path.read_bytes()
        src = load_bytes(path.name, data)
        pages = len(src.pages)
        load = _best(lambda d=data, p=path: load_bytes(p.name, d), args.repeat)
        bare = _best(lambda d=data, p=path: _bare(p, d), args.repeat)
        row = totals[src.kind]
        for i, v in enumerate((len(src.text), pages, load, bare, len(data))):
            row[i] += v
        ratio = f"{load / bare:5.1f}x" if bare > 1e-4 else "  n/a"
        print(f"{path.name:28} {len(src.text):8d} {pages:5d} {load:8.3f} {bare:8.3f} {ratio:>6}")
    print()
    print(f"{'kind':6} {'chars/s':>10} {'pages/s':>8} {'MB/s in':>8} {'load/bare':>9}")
    for kind, (chars, pages, load, bare, size) in sorted(totals.items()):
        per_page = f"{pages / load:8.1f}" if pages else f"{'-':>8}"
        ratio = f"{load / bare:8.1f}x" if bare > 1e-4 else f"{'n/a':>9}"
        print(f"{kind:6} {chars / load:10.0f} {per_page} {size / load / 1e6:8.2f} {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
