"""Check the built sdist and wheel: ``python3 .ci/check_dist.py DIST_DIR``.

* The sdist holds every file git tracks (but the CI's own files), so that its tests
  run unpacked, and nothing else but the metadata setuptools writes: no build output.
* The wheel holds the package, ``py.typed`` and the licence, and no tests or scripts.
* Both declare the MIT licence and carry its text.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_SHIPPED = {".gitignore"}
GENERATED = {"PKG-INFO", "setup.cfg"}  # setup.cfg: setuptools rewrites it (tag_build...)


def main(dist: Path) -> int:
    problems: list[str] = []
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")

    tracked = set(
        subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    )
    with tarfile.open(sdist) as archive:
        names = {m.name.split("/", 1)[1] for m in archive.getmembers() if m.isfile()}
        top = archive.getmembers()[0].name.split("/", 1)[0]
        pkg_info = archive.extractfile(f"{top}/PKG-INFO")
        assert pkg_info is not None
        sdist_metadata = pkg_info.read().decode("utf-8")
    names = {n for n in names if not n.startswith("greenclient.egg-info/")}
    missing = tracked - NOT_SHIPPED - names
    extra = names - tracked - GENERATED
    problems += [f"sdist lacks {name}" for name in sorted(missing)]
    problems += [f"sdist holds {name}, which git does not track" for name in sorted(extra)]

    with zipfile.ZipFile(wheel) as archive:
        wheel_names = set(archive.namelist())
        (metadata_name,) = [n for n in wheel_names if n.endswith(".dist-info/METADATA")]
        wheel_metadata = archive.read(metadata_name).decode("utf-8")
    for needed in ("greenclient/__init__.py", "greenclient/py.typed"):
        if needed not in wheel_names:
            problems.append(f"wheel lacks {needed}")
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel_names):
        problems.append("wheel lacks the LICENSE file")
    shipped_by_mistake = [n for n in wheel_names if n.startswith(("tests/", "scripts/"))]
    problems += [f"wheel holds {name}" for name in sorted(shipped_by_mistake)]
    for where, metadata in (("sdist", sdist_metadata), ("wheel", wheel_metadata)):
        if "License-Expression: MIT" not in metadata.splitlines():
            problems.append(f"{where} metadata does not declare License-Expression: MIT")
        if "License-File: LICENSE" not in metadata.splitlines():
            problems.append(f"{where} metadata names no License-File")

    for problem in problems:
        print("check_dist:", problem, file=sys.stderr)
    if not problems:
        print(f"check_dist: {sdist.name} ({len(names)} files) and {wheel.name} are complete")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
