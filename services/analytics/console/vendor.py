"""Fetch the console's front-end libraries from the npm registry, exactly as ``vendor.lock.json`` pins them.

    python -m services.analytics.console.vendor           download, verify, write into static/vendor/
    python -m services.analytics.console.vendor --check   download, verify, compare with what is committed

The console has no build step: the files it serves are committed. This tool is how they got there
and how they are upgraded: each package's tarball is downloaded from the registry, checked against
the ``integrity`` (sha512) the registry publishes for that version, and the listed files are taken
from it unchanged, each checked against its recorded sha256. To upgrade, put the new version, its
tarball URL and integrity (``npm view <name>@<version> dist``) into the lock, run the tool, record
the new sha256 it prints and point ``static/index.html`` at the new file.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

CONSOLE_DIR: Final = Path(__file__).parent
LOCK: Final = CONSOLE_DIR / "vendor.lock.json"


def load_lock(path: Path = LOCK) -> list[dict[str, Any]]:
    """The pinned packages of ``vendor.lock.json``."""
    packages: list[dict[str, Any]] = json.loads(path.read_text())["packages"]
    return packages


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_integrity(data: bytes, integrity: str) -> None:
    """Raise unless ``data`` matches an npm ``sha512-<base64>`` integrity string."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise ValueError(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise ValueError(f"tarball integrity mismatch: expected {integrity}, got sha512-{actual}")


def extract(tarball: bytes, package: dict[str, Any]) -> dict[str, bytes]:
    """The lock's files of one package from its (verified) tarball: target path -> content."""
    verify_integrity(tarball, package["integrity"])
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member, spec in package["files"].items():
            handle = archive.extractfile(member)
            if handle is None:
                raise ValueError(f"{package['name']}@{package['version']}: {member} is not a file")
            content = handle.read()
            if sha256(content) != spec["sha256"]:
                raise ValueError(f"{member}: sha256 {sha256(content)} differs from the lock's {spec['sha256']}")
            found[spec["to"]] = content
    return found


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as answer:
        data: bytes = answer.read()
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.analytics.console.vendor", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    args = parser.parse_args(argv)
    differences = 0
    for package in load_lock():
        files = extract(download(package["tarball"]), package)
        for target, content in files.items():
            path = CONSOLE_DIR / target
            if args.check:
                same = path.is_file() and path.read_bytes() == content
                differences += not same
                print(f"{'ok' if same else 'DIFFERS'}  {target}  ({package['name']}@{package['version']})")
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
                print(f"wrote {target}  sha256 {sha256(content)}  ({package['name']}@{package['version']})")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
