#!/usr/bin/env python3
"""Checks the README and the DocC catalogues against the code (`make docs` runs it first).

1. Every ```swift block of README.md and of Sources/*/Docs.docc/*.md is compiled code: its lines
   appear, in order and together, in a file the build compiles: a snippet (Snippets/, built by
   `swift build`; lines between `// snippet.hide` and `// snippet.show` do not count), an example
   (examples/, Integrations/*/Sources/) or a test (Tests/). Leading and trailing blanks of each line
   and blank lines are ignored, so a block may be indented differently from its source.
2. Every link of README.md is a relative path to a file or directory of the repository.

Exits 1 with one line per problem, 0 when there is none.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

DOCUMENTS = [ROOT / "README.md"] + sorted(ROOT.glob("Sources/*/Docs.docc/**/*.md"))
COMPILED = (
    sorted(ROOT.glob("Snippets/**/*.swift"))
    + sorted(ROOT.glob("examples/**/*.swift"))
    + sorted(ROOT.glob("Integrations/*/Sources/**/*.swift"))
    + sorted(ROOT.glob("Tests/**/*.swift"))
)

FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def normalised(lines):
    """The lines without their surrounding blanks, blank lines left out."""
    return [line.strip() for line in lines if line.strip()]


def visible_lines(path):
    """A source file's lines, less a snippet's hidden regions."""
    shown, hidden = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        marker = line.strip()
        if marker == "// snippet.hide":
            hidden = True
        elif marker == "// snippet.show":
            hidden = False
        elif not hidden:
            shown.append(line)
    return normalised(shown)


def swift_blocks(path):
    """(line number, lines) of each ```swift block of a Markdown file."""
    blocks, current, start, language = [], None, 0, None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if match and current is None:
            current, start, language = [], number, match.group(2)
        elif match and current is not None and match.group(2) == "":
            if language == "swift":
                blocks.append((start, current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def contains(haystack, needle):
    width = len(needle)
    return any(haystack[index:index + width] == needle for index in range(len(haystack) - width + 1))


def main():
    problems = []
    sources = {path: visible_lines(path) for path in COMPILED}
    checked = 0
    for document in DOCUMENTS:
        relative = document.relative_to(ROOT)
        for line, block in swift_blocks(document):
            checked += 1
            wanted = normalised(block)
            if not wanted:
                problems.append(f"{relative}:{line}: an empty swift block")
            elif not any(contains(lines, wanted) for lines in sources.values()):
                problems.append(
                    f"{relative}:{line}: this swift block is in no compiled file; put the same code in "
                    "a snippet under Snippets/ (or an example or test) so that the build compiles it")
    readme = ROOT / "README.md"
    for number, text in enumerate(readme.read_text(encoding="utf-8").splitlines(), 1):
        for target in LINK.findall(text):
            path = target.split("#", 1)[0]
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("/"):
                problems.append(f"README.md:{number}: the link {target} leaves the repository; link a file in it")
            elif path and not (ROOT / path).exists():
                problems.append(f"README.md:{number}: the link {target} names no file of the repository")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"check_docs: {checked} swift blocks in {len(DOCUMENTS)} documents, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
