#!/usr/bin/env python3
"""Checks the documentation: scripts/test runs it (`python3 tests/support/check_docs.py`).

* Links: every relative link in README.md, docs/*.md and the other pages below reaches a file
  that exists, and its `#anchor` a heading of that file (GitHub's anchors).
* Commands: every ```sh block in README.md and docs/*.md follows a marker on the line before it:
  `<!-- needs an AWS account -->`, `<!-- run by PATH -->` (PATH a file of the project that names
  the page, so the test reading the block from it cannot be a claim), or
  `<!-- not run: REASON -->` (a local command no test runs yet; the reason says why).

Exits 1 with one line per problem.
"""

import glob
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PAGES = ["README.md", *sorted(glob.glob("docs/*.md", root_dir=ROOT))]
ALSO_LINKED = ["ARCHITECTURE.md", "SECURITY.md", "events/README.md", "http-provider/README.md"]
# README.md opens with the two commands the project's standards require it to start with, as they
# are: `.ci/run` runs `scripts/test`, and tests/it/binary.rs starts with nothing configured the binary
# `cargo run` builds.
OPENING = "cargo run            # run the gateway"
MARKER = re.compile(r"<!-- (needs an AWS account|run by (\S+)|not run: .+) -->$")

failures = []


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def prose(text):
    """The text outside fenced blocks, line by line (None for a line inside a block)."""
    inside = False
    for line in text.split("\n"):
        if line.startswith("```"):
            inside = not inside
            yield None
        else:
            yield None if inside else line


def slug(heading):
    """GitHub's anchor for a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    seen = {}
    found = set()
    for line in prose(read(path)):
        m = line and re.match(r"#{1,6} (.+)", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def check_links(page):
    for number, line in enumerate(prose(read(page)), 1):
        if not line:
            continue
        line = re.sub(r"`[^`]*`", "", line)
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            where = f"{page}:{number}: {target}"
            if not os.path.exists(os.path.join(ROOT, resolved)):
                failures.append(f"{where}: no file {resolved}")
            elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                failures.append(f"{where}: {resolved} has no heading with the anchor #{anchor}")


def check_commands(page):
    lines = read(page).split("\n")
    inside = False
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            if not inside and line.strip() in ("```sh", "```bash", "```shell"):
                before = next((l for l in reversed(lines[: number - 1]) if l.strip()), "")
                marker = MARKER.match(before.strip())
                where = f"{page}:{number}"
                opening = page == "README.md" and lines[number].startswith(OPENING)
                if opening:
                    pass
                elif not marker:
                    failures.append(
                        f"{where}: a sh block without a marker before it (<!-- needs an AWS account -->, "
                        "<!-- run by tests/it/FILE.rs -->, or <!-- not run: REASON -->)"
                    )
                elif marker.group(2):
                    runner = marker.group(2)
                    if not os.path.isfile(os.path.join(ROOT, runner)):
                        failures.append(f"{where}: run by {runner}, which does not exist")
                    elif page not in read(runner):
                        failures.append(f"{where}: run by {runner}, which does not name {page}")
            inside = not inside


for page in PAGES + ALSO_LINKED:
    check_links(page)
for page in PAGES:
    check_commands(page)

if failures:
    for failure in failures:
        print(failure)
    sys.exit(1)
