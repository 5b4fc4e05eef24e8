"""Benchmark hostile DOCX files: time and peak memory, bounded loader vs python-docx (not a test).

Builds, in a temporary folder, the two files of the adversarial pass: ``empty-paras.docx`` (five
million empty paragraphs, ~80 kB) and ``many-runs.docx`` (two million one-letter runs), plus an
ordinary 200-paragraph report as a control. Each is read in a fresh process by
``index.loaders.load_bytes`` (streamed, bounded) and, as the baseline measured in the same run, by
python-docx's ``Document`` (the DOM the loader used before). Prints seconds, peak RSS and outcome.

    python bench/docx_bomb.py [--skip-baseline]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.docx_fixtures import docx_with_body  # noqa: E402

CHILD = r"""
import resource, sys, time
from pathlib import Path
data = Path(sys.argv[2]).read_bytes()
t0 = time.perf_counter()
try:
    if sys.argv[1] == "loader":
        from index.loaders import load_bytes
        outcome = f"{len(load_bytes(Path(sys.argv[2]).name, data).text):,} chars"
    else:
        import io
        from docx import Document
        doc = Document(io.BytesIO(data))
        outcome = f"{sum(len(p.text) for p in doc.paragraphs):,} chars"
except Exception as exc:
    outcome = f"refused: {str(exc)[:90]}"
secs = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{secs:.2f}\t{peak:.0f}\t{outcome}")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-baseline", action="store_true", help="skip python-docx (slow)")
    args = parser.parse_args()
    sentence = "<w:p><w:r><w:t>The warehouse in Lyon shipped crates in March.</w:t></w:r></w:p>"
    files = {
        "report.docx": docx_with_body(sentence * 200),
        "empty-paras.docx": docx_with_body("<w:p/>" * 5_000_000),
        "many-runs.docx": docx_with_body(
            "<w:p>" + "<w:r><w:t>x</w:t></w:r>" * 2_000_000 + "</w:p>"
        ),
    }
    ways = ["loader"] if args.skip_baseline else ["loader", "python-docx"]
    print(f"{'file':18} {'size':>9} {'reader':12} {'seconds':>8} {'peak MB':>8}  outcome")
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            path = Path(tmp) / name
            path.write_bytes(data)
            for way in ways:
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, way, str(path)],
                    capture_output=True, text=True, cwd=ROOT, check=True,
                ).stdout.strip()  # fmt: skip
                secs, peak, outcome = out.split("\t")
                print(f"{name:18} {len(data):9,} {way:12} {secs:>8} {peak:>8}  {outcome}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
