"""The container image (Dockerfile) installs the CJK font at the version scripts/fetch_font.sh pins for development
and tests, on the Debian release that has it: the documents are printed with the same font everywhere."""

from __future__ import annotations

import re

from tests.serverproc import ROOT


def test_the_image_font_is_the_pinned_one() -> None:
    docker = "\n".join(line for line in (ROOT / "Dockerfile").read_text().splitlines()
                       if not line.lstrip().startswith("#"))
    script = (ROOT / "scripts" / "fetch_font.sh").read_text()
    pinned = re.search(r"^VERSION=(\S+)$", script, re.M)
    package = re.search(r"^PACKAGE=(\S+)$", script, re.M)
    assert pinned is not None and package is not None
    installed = re.findall(rf"\b{re.escape(package.group(1))}(=\S+)?", docker)
    assert installed == [f"={pinned.group(1)}"], installed  # installed once, at exactly that version
    base = re.search(r"^FROM (\S+)", docker, re.M)
    assert base is not None and base.group(1).endswith("-bookworm"), base  # the release of that version
