"""The documentation stays inside the repository and true to the service.

A clone must be able to follow every link; no file may point at documents
that only existed outside the repository; user-facing text must not talk
about how the project is organised internally; and docs/api.md, the HTTP
contract, must list exactly the routes the service serves (its OpenAPI
document and its URL map), keeping what is planned apart from what is built.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradatlas.service.api import create_app

from tests.support import ROOT

API_DOC = ROOT / "docs" / "api.md"
NOT_SERVED_HEADING = re.compile(r"^## Next version of the contract \(not served yet\)$", re.MULTILINE)
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
# Folders that are never part of the repository even when git is not there to say so.
UNTRACKED_DIRS = {".git", ".venv", "node_modules", "build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache",
                  ".mypy_cache", ".gradatlas", "gradatlas.egg-info"}

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCED_CODE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")

# Documents that lived outside the repository; inside it they are docs/api.md,
# docs/design.md and docs/science.md (lower case, so these never match them).
OUTSIDE_DOCUMENT = re.compile(r"shared/|\b(?:DESIGN|SCIENCE|API)\.md\b")
# Words about the project's internal organisation (issues, merges), not about GradAtlas.
INTERNAL_WORDS = re.compile(
    r"\bissues? \d+|\bthe [\w-]+ issue\b|\b(?:other|another) issues?\b|\bissue \d+'s\b"
    r"|\b(?:is|are|gets|get|once|until)\b[^.\n]{0,40}\bmerged\b|\bthis branch\b",
    re.IGNORECASE,
)


def repository_files() -> list[Path]:
    """Tracked files plus new ones git would track (not the ignored ones)."""
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                                capture_output=True, check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an unpacked sdist): walk the tree
        return [p for p in ROOT.rglob("*") if p.is_file() and not UNTRACKED_DIRS & set(p.relative_to(ROOT).parts)]
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def text_files() -> Iterator[tuple[Path, str]]:
    """Every repository text file but this test (it names what it forbids) and
    vendored minified scripts (not ours to word)."""
    for path in repository_files():
        if path == Path(__file__).resolve() or path.name.endswith(".min.js"):
            continue
        try:
            yield path, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # a picture, not text
            continue


def markdown_files() -> list[Path]:
    return [path for path in repository_files() if path.suffix == ".md"]


def relative_links(markdown: str) -> list[str]:
    """Link targets outside code, without anchors; web, mail and in-page links left out."""
    prose = INLINE_CODE.sub("", FENCED_CODE.sub("", markdown))
    targets = LINK.findall(prose) + REFERENCE_DEFINITION.findall(prose)
    found = []
    for target in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            continue
        found.append(target.split("#", 1)[0].split("?", 1)[0])
    return found


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in relative_links(path.read_text(encoding="utf-8")):
        resolved = (path.parent / target).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(target)
    return broken


def test_the_link_finder_sees_links_and_skips_code_and_the_web():
    text = ("[a](docs/api.md#routes) ![b](pic.png) [c](https://x.org/y.md) [d](#here)\n"
            "`[e](inline.md)`\n```\n[f](fenced.md)\n```\n[g]: ../outside.md\n")
    assert relative_links(text) == ["docs/api.md", "pic.png", "../outside.md"]


def test_every_relative_link_of_every_markdown_file_resolves_inside_the_repository():
    files = markdown_files()
    assert ROOT / "README.md" in files and API_DOC in files
    broken = {str(path.relative_to(ROOT)): links for path in files if (links := broken_links(path))}
    assert broken == {}


def test_no_file_points_at_documents_outside_the_repository():
    offenders = [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)}"
                 for path, text in text_files() for match in OUTSIDE_DOCUMENT.finditer(text)]
    assert offenders == []


def test_no_text_talks_about_issues_or_merges():
    offenders = [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)}"
                 for path, text in text_files() for match in INTERNAL_WORDS.finditer(text)]
    assert offenders == []


def test_the_forbidden_patterns_catch_what_they_are_for():
    for text in ("see ../shared/API.md", "DESIGN.md, step 5", "(SCIENCE.md)"):
        assert OUTSIDE_DOCUMENT.search(text), text
    assert not OUTSIDE_DOCUMENT.search("see docs/api.md, docs/design.md and docs/science.md")
    for text in ("Targets (issue 7)", "the history issue", "issue 4's", "until the sweeps API is merged",
                 "routes added by other issues", "not in this branch yet"):
        assert INTERNAL_WORDS.search(text), text
    assert not INTERNAL_WORDS.search("a page_token this service issued; merged under the fields above")


# --- docs/api.md against what the service serves ----------------------------------------

ROUTE_ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`", re.MULTILINE)
V1_ROUTE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/api/v1/[^\s`|),]*)")


def normalised(path: str) -> str:
    """`/api/v1/experiments/{experiment_id}?x=1` → `/api/v1/experiments/{}`."""
    return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0]).rstrip(".")


def api_doc_sections() -> tuple[str, str]:
    """(served, not served yet): the contract split at its 'next version' heading."""
    text = API_DOC.read_text(encoding="utf-8")
    parts = NOT_SERVED_HEADING.split(text)
    assert len(parts) == 2, "docs/api.md must have exactly one '## Next version of the contract (not served yet)'"
    return parts[0], parts[1]


def table_routes(section: str) -> set[tuple[str, str]]:
    return {(method, normalised(path)) for method, path in ROUTE_ROW.findall(section)}


def mentioned_v1_routes(section: str) -> set[tuple[str, str]]:
    return {(method, normalised(path)) for method, path in V1_ROUTE.findall(section)}


@pytest.fixture
def app(settings, store):  # type: ignore[no-untyped-def]
    return create_app(settings, store=store, enqueue=lambda _id, _queue: None)


@pytest.fixture
def openapi_routes(app: Any) -> set[tuple[str, str]]:
    document = app.test_client().get("/api/openapi.json").get_json()
    return {(method.upper(), normalised(path))
            for path, operations in document["paths"].items() for method in operations if method in HTTP_METHODS}


def test_the_route_parsers_read_one_route_per_row_and_normalise_parameters():
    section = ("| `GET /api/v1/experiments/{id}/profile` | … |\n| `POST /api/v1/tokens` | a `DELETE /x` |\n"
               "see `GET /api/v1/compare?ids=a,b`.\n")
    assert table_routes(section) == {("GET", "/api/v1/experiments/{}/profile"), ("POST", "/api/v1/tokens")}
    assert mentioned_v1_routes(section) == {("GET", "/api/v1/experiments/{}/profile"), ("POST", "/api/v1/tokens"),
                                            ("GET", "/api/v1/compare")}


def test_every_openapi_operation_is_in_the_route_table_of_api_md(openapi_routes):
    served, _ = api_doc_sections()
    assert openapi_routes, "the OpenAPI document lists no operation"
    assert openapi_routes - table_routes(served) == set()


def test_every_served_v1_route_that_api_md_names_is_in_openapi(openapi_routes):
    served, _ = api_doc_sections()
    named = mentioned_v1_routes(served)
    assert named
    assert named - openapi_routes == set()


def test_every_route_of_the_table_is_routed_by_the_app(app):
    """Also the routes OpenAPI leaves out (/metrics, /api/docs, …)."""
    served, _ = api_doc_sections()
    from werkzeug.exceptions import HTTPException

    adapter = app.url_map.bind("localhost")
    unrouted = []
    for method, path in table_routes(served):
        try:
            adapter.match(path.replace("{}", "some-id"), method=method)
        except HTTPException as refused:  # NotFound or MethodNotAllowed
            unrouted.append(f"{method} {path}: {refused.code}")
    assert unrouted == []


def test_the_routes_marked_not_served_are_not_served(openapi_routes):
    """A planned route (one the served part does not document) must not exist yet."""
    served, not_served = api_doc_sections()
    planned = mentioned_v1_routes(not_served) - table_routes(served)
    assert ("POST", "/api/v1/runs") in planned
    assert planned & openapi_routes == set(), "a route is served now: move it into the served part of docs/api.md"
