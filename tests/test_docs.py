"""The docs stay true: their spec examples load, the commands they name exist, their links lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from etl_lib.cli.main import build_parser
from etl_lib.spec.load import parse_spec
from etl_lib.spec.schema import check_spec

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
# `etl-lib NAME`, also as .venv/bin/etl-lib; not `etl-lib --version`, not the stack etl-lib-platform-dev.
COMMAND = re.compile(r"(?<![\w.-])etl-lib ([a-z][a-z-]*)")


def spec_examples(text: str) -> list[str]:
    """Every ```yaml block that is a whole spec (starts with ``dataset:``), as printed."""
    return [b for b in re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M) if b.startswith("dataset:")]


def unknown_commands(text: str) -> set[str]:
    """The ``etl-lib`` subcommands ``text`` names that the CLI does not have."""
    known = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    return set(COMMAND.findall(text)) - known


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: link text kept, lower case, punctuation but - and _ dropped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a page's headings (outside code blocks); repeats get -1, -2 as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", FENCE.sub("", text), re.M):
        slug = github_slug(heading)
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def has_anchor(file: Path, anchor: str) -> bool:
    """Whether ``file`` is a Markdown page with a heading whose anchor is ``anchor``."""
    return file.suffix == ".md" and anchor in anchors(file.read_text(encoding="utf-8"))


def broken_links(page: Path, text: str) -> list[str]:
    """Relative links of ``page`` (outside code) to a missing file, or to a heading the target lacks."""
    prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))
    broken = []
    for target in LINK.findall(prose):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (anchor and not has_anchor(file, anchor)):
            broken.append(target)
    return broken


def test_docs_spec_examples_are_valid_specs(spark) -> None:
    examples = [
        (f"{page.relative_to(REPO)} example {n}", block)
        for page in PAGES[1:]
        for n, block in enumerate(spec_examples(page.read_text(encoding="utf-8")), 1)
    ]
    assert any(name.startswith("docs/spec.md") for name, _ in examples), "docs/spec.md shows no full spec"
    for name, block in examples:
        spec = parse_spec(yaml.safe_load(block), name)
        check_spec(spark, spec, name)


def test_docs_name_only_real_commands() -> None:
    named = {page.name: COMMAND.findall(page.read_text(encoding="utf-8")) for page in PAGES}
    assert named["README.md"] and named["cli.md"], "the pages that list the commands name none"
    unknown = {page.name: unknown_commands(page.read_text(encoding="utf-8")) for page in PAGES}
    assert not any(unknown.values()), unknown


def test_docs_relative_links_lead_somewhere() -> None:
    broken = {page.name: broken_links(page, page.read_text(encoding="utf-8")) for page in PAGES}
    assert not any(broken.values()), broken


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# A title: with `code`\n## Again\n## Again\n```\n# not a heading\n```\n")
    page = tmp_path / "page.md"
    text = (
        "[ok](other.md#a-title-with-code) [ok](other.md#again-1) [gone](missing.md) [bad](other.md#nope)\n"
        "[code](other.md#not-a-heading) [self](#nowhere) [web](https://example.com/#x) `[skipped](gone.md)`\n"
        "```\n[in a block](gone.md)\n.venv/bin/etl-lib frobnicate\n```\n"
        "`etl-lib run`, `etl-lib --version`, etl-lib-platform-dev, `etl-lib runz`\n"
    )
    page.write_text(text)
    assert broken_links(page, text) == ["missing.md", "other.md#nope", "other.md#not-a-heading", "#nowhere"]
    assert unknown_commands(text) == {"frobnicate", "runz"}
    assert github_slug("Glue 5.1's versions") == "glue-51s-versions"
    assert spec_examples("```yaml\ndataset: x\n```\n```yaml\ncolumns: []\n```\n") == ["dataset: x\n"]
