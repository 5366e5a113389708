"""The console's files: its libraries are npm's published files, pinned, and its vocabulary is the API's.

No platform needed: these read the files the analytics service serves under ``/console/static``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
from typing import Any, get_args

import pytest

from services.analytics.api import schemas
from services.analytics.console import vendor
from services.analytics.console.router import STATIC_DIR

CONSOLE_JS = (STATIC_DIR / "console.js").read_text()
INDEX = (STATIC_DIR / "index.html").read_text()


def test_every_vendored_file_is_the_registry_file_the_lock_pins() -> None:
    packages = vendor.load_lock()
    assert packages
    for package in packages:
        assert package["tarball"].startswith(f"https://registry.npmjs.org/{package['name']}/-/")
        assert package["tarball"].endswith(f"-{package['version']}.tgz")
        assert package["integrity"].startswith("sha512-")
        for spec in package["files"].values():
            assert vendor.sha256((vendor.CONSOLE_DIR / spec["to"]).read_bytes()) == spec["sha256"], spec["to"]


def test_nothing_under_vendor_is_unpinned_and_the_page_loads_only_our_files() -> None:
    pinned = {spec["to"] for p in vendor.load_lock() for spec in p["files"].values()}
    on_disk = {str(path.relative_to(vendor.CONSOLE_DIR)) for path in (STATIC_DIR / "vendor").iterdir()}
    assert on_disk == pinned, "a file in static/vendor is not in vendor.lock.json (hand-written or unpinned?)"
    scripts = re.findall(r'<script src="([^"]+)"', INDEX) + re.findall(r'<link rel="stylesheet" href="([^"]+)"', INDEX)
    assert scripts, "index.html loads no script"
    for src in scripts:
        assert src.startswith("/console/static/"), f"{src}: the console loads nothing from another origin"
        assert (STATIC_DIR / src.removeprefix("/console/static/")).is_file(), src
    assert {f"/console/static/{p.removeprefix('static/')}" for p in pinned if p.endswith(".js")} <= set(scripts)


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _package(tarball: bytes, content_hash: str) -> dict[str, Any]:
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    return {"name": "lib", "version": "1.0.0", "integrity": integrity,
            "files": {"package/dist/lib.js": {"to": "static/vendor/lib-1.0.0.js", "sha256": content_hash}}}


def test_the_vendor_tool_takes_files_only_from_a_tarball_matching_the_registry_integrity() -> None:
    content = b"console.log('lib');\n"
    tarball = _tarball({"package/dist/lib.js": content})
    package = _package(tarball, vendor.sha256(content))
    assert vendor.extract(tarball, package) == {"static/vendor/lib-1.0.0.js": content}

    tampered = _tarball({"package/dist/lib.js": b"console.log('evil');\n"})
    with pytest.raises(ValueError, match="integrity"):
        vendor.extract(tampered, package)
    with pytest.raises(ValueError, match="sha256"):
        vendor.extract(tarball, _package(tarball, "0" * 64))


def _js_list(name: str) -> list[str]:
    match = re.search(rf"const {name} = \[([^\]]*)\]", CONSOLE_JS)
    assert match, name
    return re.findall(r'"([a-z_]+)"', match.group(1))


def test_the_search_filters_offer_exactly_what_the_analytics_api_accepts() -> None:
    assert _js_list("SEGMENTS") == list(get_args(schemas.SegmentName))
    assert _js_list("STAGES") == list(get_args(schemas.StageName))
    assert _js_list("BANDS") == list(get_args(schemas.BandName))
