"""Maintainers: refresh ``vendor/``, the local copies of reveal.js and MathJax that the offline
slide decks and the course site use (``make slides``, ``make site``), from the npm registry.

Only the files the decks and pages load are kept (reveal.js's script, style sheet, white theme
with its WOFF fonts and the speaker-notes plugin; MathJax 3's ``tex-chtml`` bundle and its WOFF
fonts), with each package's licence. ``vendor/SHA256SUMS`` lists every file's hash; a test
checks the copies against it, and ``python tools/vendor_web.py --check`` does the same.

Usage: ``python tools/vendor_web.py`` (needs ``npm`` and the registry; the builds do not).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "vendor"
SUMS = VENDOR / "SHA256SUMS"

# package@version -> (folder under vendor/, the files to keep, as globs inside the package)
PACKAGES = {
    "reveal.js@4.6.1": ("reveal.js", [
        "LICENSE", "dist/reveal.css", "dist/reveal.js", "dist/theme/white.css",
        "dist/theme/fonts/source-sans-pro/LICENSE",
        "dist/theme/fonts/source-sans-pro/source-sans-pro.css",
        "dist/theme/fonts/source-sans-pro/*.woff", "plugin/notes/notes.js",
    ]),
    "mathjax@3.2.2": ("mathjax", [
        "LICENSE", "es5/tex-chtml.js", "es5/output/chtml/fonts/woff-v2/*.woff",
    ]),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files() -> list[Path]:
    """Every vendored file (SHA256SUMS and README.md excepted), sorted."""
    return sorted(p for p in VENDOR.rglob("*")
                  if p.is_file() and p.name not in ("SHA256SUMS", "README.md"))


def check() -> list[str]:
    """What differs between ``vendor/`` and ``SHA256SUMS``: missing, extra or changed files."""
    listed = dict(reversed(line.split("  ", 1)) for line in SUMS.read_text().splitlines())
    present = {p.relative_to(VENDOR).as_posix(): p for p in files()}
    problems = [f"missing: {name}" for name in sorted(listed.keys() - present.keys())]
    problems += [f"not listed: {name}" for name in sorted(present.keys() - listed.keys())]
    problems += [f"changed: {name}" for name in sorted(listed.keys() & present.keys())
                 if sha256(present[name]) != listed[name]]
    return problems


def fetch() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for spec, (folder, patterns) in PACKAGES.items():
            subprocess.run(["npm", "pack", "--silent", spec], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
            archive = next(Path(tmp).glob(f"{spec.split('@')[0].replace('/', '-')}-*.tgz"))
            unpacked = Path(tmp) / folder
            with tarfile.open(archive) as tar:
                tar.extractall(unpacked, filter="data")
            package = unpacked / "package"
            target = VENDOR / folder
            shutil.rmtree(target, ignore_errors=True)
            for pattern in patterns:
                matches = sorted(package.glob(pattern))
                if not matches:
                    raise SystemExit(f"{spec}: nothing matches {pattern}")
                for source in matches:
                    dest = target / source.relative_to(package)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, dest)
            archive.unlink()
    SUMS.write_text("".join(f"{sha256(p)}  {p.relative_to(VENDOR).as_posix()}\n"
                            for p in files()))
    print(f"{len(files())} files in {VENDOR.relative_to(ROOT)}")


def main(argv: list[str]) -> int:
    if "--check" in argv:
        problems = check()
        print("\n".join(problems) or "vendor/ matches SHA256SUMS")
        return 1 if problems else 0
    fetch()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
