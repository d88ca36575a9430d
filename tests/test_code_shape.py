"""The app's functions stay short and its code says each thing once (issue 17, section 5).

Both limits cover the app's packages, not `tests/`, `bench/` or the migrations.

**Function length: 50 lines at most.** A function counts from its ``def`` line to its
last line, as ``ast`` gives them (``end_lineno - lineno + 1``): its decorators do not
count, its docstring and comments do. A ``mount()`` is counted without the route handlers
it defines; each of those is a function of its own, held to the same limit.

**Duplicated lines: 8 pairs at most.** Two places are a duplicated pair when they share a
run of six or more lines of the same shape: the same tokens once the names are renamed
consistently (``a = f(a)`` has the shape of ``b = g(b)``, not of ``a = f(b)``) and any
string or number stands for any other. Blank lines, comments, docstrings, import
statements, lines of lone punctuation and the signatures of Dramatiq's middleware hooks
(Dramatiq's API imposes them) are passed over. A run must be at least half lines that do
something (a keyword, a call, an operator): a run of declarations and data (dataclass
fields, constants, a dict's entries, a call's arguments) is alike by nature. A run that
stands in more than eight places is an idiom, not a copy. Each pair of files (or a file
with itself) counts once, however many runs they share.

The issue measures with the `duplicates` command (`duplicates --most 200`), which a fresh
clone on CI does not have, so the check is written here instead; pylint's `symilar` was
the library at hand, but it finds only copies identical to the letter, and most copies
here differ in their names. On the tree this test was written on, it listed the same
code-bearing pairs as `duplicates` did, and left out the runs of dataclass fields and
keyword arguments that `duplicates` also counts. It reads Python only: the templates'
repeated markup is left to review.
"""

from __future__ import annotations

import ast
import io
import itertools
import keyword
import tokenize
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import dramatiq

ROOT = Path(__file__).resolve().parents[1]
APP_PACKAGES = (
    "config",
    "models",
    "spotify",
    "spotify_demo",
    "jobs",
    "sync",
    "ops",
    "actors",
    "web",
    "cli",
)
MAX_FUNCTION_LINES = 50
MAX_DUPLICATED_PAIRS = 8
MIN_RUN = 6
MAX_PLACES = 8
HOOKS = frozenset(
    name for name in dir(dramatiq.Middleware) if name.startswith(("before_", "after_"))
)
# What a line that only names or holds values is made of, besides names: `x: int | None = 0`,
# `"key": self.value,`, `"text",`.
VALUES = frozenset([*".,:=()[]{}|", "S", "0", "None", "True", "False"])

Function = ast.FunctionDef | ast.AsyncFunctionDef
Line = tuple[int, tuple[str, ...]]  # a line's number and its tokens as shapes


def app_modules() -> list[Path]:
    """Every Python file of the app's packages, migrations left out."""
    return [
        path
        for package in APP_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.relative_to(ROOT).parts
    ]


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# Function length


def functions(tree: ast.AST) -> Iterator[Function]:
    return (node for node in ast.walk(tree) if isinstance(node, Function))


def own_lines(function: Function) -> int:
    """The function's lines, less those of the route handlers a ``mount()`` defines."""
    lines = function.end_lineno - function.lineno + 1
    if function.name == "mount":
        for handler in function.body:
            if isinstance(handler, Function):
                first = min([handler.lineno] + [d.lineno for d in handler.decorator_list])
                lines -= handler.end_lineno - first + 1
    return lines


def long_functions(paths: Iterable[Path]) -> list[str]:
    """``file:line name: N lines`` for each function over the limit."""
    return [
        f"{shown(path)}:{function.lineno} {function.name}: {own_lines(function)} lines"
        for path in paths
        for function in functions(ast.parse(path.read_text(), str(path)))
        if own_lines(function) > MAX_FUNCTION_LINES
    ]


# Duplicated lines


def passed_over(tree: ast.AST) -> set[int]:
    """The lines of docstrings, imports, and the signatures of Dramatiq's hooks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) or is_docstring(node):
            lines.update(range(node.lineno, node.end_lineno + 1))
        elif isinstance(node, Function) and node.name in HOOKS:
            lines.update(range(node.lineno, node.body[0].lineno))
    return lines


def is_docstring(node: ast.AST) -> bool:
    """A lone string statement: a docstring, or prose standing where a comment could."""
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def token_shape(token: tokenize.TokenInfo) -> str | None:
    """A token as a shape reads it; a name keeps its text (marked ``$``) to be numbered."""
    if token.type == tokenize.NAME:
        return token.string if keyword.iskeyword(token.string) else f"${token.string}"
    if token.type == tokenize.STRING:
        return "S"
    if token.type == tokenize.NUMBER:
        return "0"
    if token.type == tokenize.OP:
        return token.string
    return None  # comments, line ends, indents


def line_shapes(path: Path) -> list[Line]:
    """The file's lines that count, with their tokens as shapes."""
    source = path.read_text()
    skip = passed_over(ast.parse(source, str(path)))
    shapes: dict[int, list[str]] = defaultdict(list)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        shape = token_shape(token)
        if shape is not None and token.start[0] not in skip:
            shapes[token.start[0]].append(shape)
    return [
        (number, tuple(words))
        for number, words in sorted(shapes.items())
        if any(word[0].isalnum() or word[0] == "$" for word in words)  # not lone punctuation
    ]


def acts(words: tuple[str, ...]) -> bool:
    """Whether a line does something: a keyword, a call, or an operator."""
    for before, word in itertools.pairwise(("", *words)):
        if word == "(" and (before.startswith("$") or before in (")", "]")):
            return True
        if not word.startswith("$") and word not in VALUES:
            return True
    return False


def run_shape(run: list[Line]) -> tuple[str, ...]:
    """The run's lines with each name numbered by its first use in the run."""
    numbers: dict[str, str] = {}
    return tuple(
        " ".join(
            numbers.setdefault(word, f"N{len(numbers)}") if word[0] == "$" else word
            for word in words
        )
        for _, words in run
    )


def duplicated_pairs(paths: Iterable[Path]) -> list[str]:
    """``a:line ~ b:line`` for each pair of files that share a run, at its first run."""
    places: dict[tuple[str, ...], list[tuple[str, int, int]]] = defaultdict(list)
    for path in paths:
        lines = line_shapes(path)
        for start in range(len(lines) - MIN_RUN + 1):
            run = lines[start : start + MIN_RUN]
            if sum(acts(words) for _, words in run) >= MIN_RUN / 2:
                places[run_shape(run)].append((shown(path), start, run[0][0]))
    pairs: dict[tuple[str, str], str] = {}
    for where in places.values():
        if len(where) > MAX_PLACES:
            continue
        for (a, a_start, a_line), (b, b_start, b_line) in itertools.combinations(where, 2):
            if a == b and abs(a_start - b_start) < MIN_RUN:
                continue  # a run overlapping itself, as in a list of like lines
            pairs.setdefault((a, b), f"{a}:{a_line} ~ {b}:{b_line}")
    return sorted(pairs.values())


# The limits


def test_no_function_of_the_app_is_longer_than_fifty_lines():
    assert long_functions(app_modules()) == []


def test_the_app_has_at_most_eight_duplicated_pairs():
    pairs = duplicated_pairs(app_modules())
    assert len(pairs) <= MAX_DUPLICATED_PAIRS, "\n".join(pairs)


# The checks themselves, on code written for them


SIX_LINES = """
def {name}({arg}):
    total = 0
    for {item} in {arg}:
        if {item}.ok:
            total += {item}.size
    return total
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_copy_with_its_names_changed_is_a_duplicated_pair(tmp_path):
    a = write(tmp_path, "a.py", SIX_LINES.format(name="sizes", arg="files", item="f"))
    b = write(tmp_path, "b.py", SIX_LINES.format(name="weights", arg="boxes", item="box"))

    assert duplicated_pairs([a, b]) == [f"{a}:2 ~ {b}:2"]


def test_a_copy_whose_names_no_longer_match_up_is_not_a_pair(tmp_path):
    a = write(tmp_path, "a.py", SIX_LINES.format(name="sizes", arg="files", item="f"))
    changed = SIX_LINES.format(name="weights", arg="boxes", item="box")
    b = write(tmp_path, "b.py", changed.replace("total += box.size", "total += f.size"))

    assert duplicated_pairs([a, b]) == []


def test_five_like_lines_are_not_a_pair(tmp_path):
    five = SIX_LINES.replace("    total = 0\n", "")
    a = write(tmp_path, "a.py", five.format(name="sizes", arg="files", item="f"))
    b = write(tmp_path, "b.py", five.format(name="weights", arg="boxes", item="box"))

    assert duplicated_pairs([a, b]) == []


def test_lists_of_fields_and_values_are_not_pairs(tmp_path):
    fields = "".join(f"    {name}: int = 0\n" for name in "abcdefgh")
    a = write(tmp_path, "a.py", f"class A:\n{fields}")
    b = write(tmp_path, "b.py", f"class B:\n{fields.replace('int', 'str')}")

    assert duplicated_pairs([a, b]) == []


def test_a_long_handler_in_a_mount_counts_and_its_mount_does_not(tmp_path):
    body = "".join(f"        x{i} = {i}\n" for i in range(50))
    path = write(
        tmp_path,
        "routes.py",
        f'def mount(app):\n    @app.get("/")\n    def page():\n{body}    return app\n',
    )

    assert long_functions([path]) == [f"{path}:3 page: 51 lines"]
