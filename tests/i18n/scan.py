"""Which string literals a person would read, and whether each is marked for translation.

A literal *counts* (is words a person meets) when, with HTML tags removed, it holds a
word of two letters or more and either a space or a capital letter at its start
("Connected", "Press any key"); single lower-case tokens ("connected", "text/plain") are
keys and ids. A counted literal is *fine* when it is:

- a docstring, or inside a call to ``_``, ``N_``, ``ngettext`` or ``pgettext``;
- an argument of a logging call (``_log.info(…)``; logs are for developers, never PHI),
  of ``raise`` (developer errors), or of a call that takes no words (``setStyleSheet``,
  ``setObjectName``, ``setProperty``, ``QKeySequence``, ``connect``, ``getattr``…);
- a dict key, a subscript, a comparison or ``case`` operand, or a default of ``os.environ``;
- a Qt style sheet or a format spec (``"color: #fff; font-size: 12pt"``);

and, whatever its shape, a literal given to a Qt call that shows it (``TEXT_SETTERS``:
``setSuffix(" min")``, ``setSpecialValueText("never")``) counts too.
- on a line ending ``# i18n: not words`` (a reason should follow it).

f-strings with words are flagged too: write ``_("… {name} …").format(name=…)`` instead.

Run ``python -m tests.i18n.scan`` to list what is left.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCANNED: tuple[str, ...] = (
    "companion/ui",
    "companion/app",
    "companion/monitor/ladder.py",
    "companion/protocol/errors.py",
    "companion/server/ackpage.py",
    "companion/server/escalation.py",
    "companion/selftest",
)
"""The UI and the core's word tables: every place words for a person are written."""

MARKERS = frozenset({"_", "N_", "ngettext", "pgettext"})
LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical", "log"})
LOGGERS = frozenset({"_log", "log", "logger", "_logger", "logging", "LOG"})
NO_WORDS_CALLS = frozenset(
    {
        "setStyleSheet",
        "setObjectName",
        "setProperty",
        "property",
        "QKeySequence",
        "connect",
        "getattr",
        "setattr",
        "hasattr",
        "isinstance",
        "startswith",
        "endswith",
        "split",
        "rsplit",
        "join",
        "replace",
        "strip",
        "format_time",
        "strftime",
        "fromisoformat",
        "Path",
        "joinpath",
        "with_suffix",
        "open",
        "encode",
        "decode",
        "Signal",
        "Slot",
        "findChild",
        "findChildren",
        "re",
        "compile",
        "match",
        "search",
        "fullmatch",
        "sub",
        "environ",
        "getenv",
        "QFont",
        "fromString",
        "QColor",
        "setFamily",
        "QUrl",
        "mimeData",
        "setData",
        "hexdigest",
        "TypeVar",
        "cast",
        "NewType",
        "warn",
        "warnings",
        "fetch",
        "write_text",
        "mkdir",
        "exec",
        "run",
        "Popen",
        "QStandardPaths",
        "setApplicationName",
        "setOrganizationName",
        "setDesktopFileName",
        "fromTheme",
        "QIcon",
        "setThemeName",
        "load",
        "loads",
        "dumps",
    }
)
OPT_OUT = "# i18n: not words"
TEXT_SETTERS = frozenset(
    {
        "setText",
        "setPlaceholderText",
        "setToolTip",
        "setSpecialValueText",
        "setSuffix",
        "setPrefix",
        "setWindowTitle",
        "setTitle",
        "addTab",
        "setTabText",
        "addItem",
        "setAccessibleName",
        "setAccessibleDescription",
        "setStatusTip",
        "setWhatsThis",
        "addRow",
        "QLabel",
        "QPushButton",
        "QCheckBox",
        "QRadioButton",
        "QGroupBox",
        "QAction",
        "setHeaderLabels",
        "showMessage",
    }
)
"""Qt calls whose first argument is shown: any word there counts, even "min" or "never"."""

_TAGS = re.compile(r"<[^>]*>|&[a-z]+;")
_WORD = re.compile(r"[A-Za-zÀ-ÿ]{2,}")
_CSS = re.compile(r"[a-z-]+\s*:\s*[^;{}]+;|^\s*[A-Za-z#.*][\w#.*: -]*\{")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text!r}"


def is_words(text: str) -> bool:
    """Would a person read this as words? (See the module's docstring.)"""
    plain = _TAGS.sub(" ", text).strip()
    if not _WORD.search(plain) or _CSS.search(plain):
        return False
    if " " in plain:
        # Two tokens, one a real word: "I'm OK", "Connecting…"; not "%H %M", "a b".
        tokens = re.findall(r"[A-Za-zÀ-ÿ']+", plain)
        return len(tokens) >= 2 and any(len(t.strip("'")) >= 2 for t in tokens)
    return bool(re.match(r"[A-ZÀ-Ý][a-zà-ÿ]", plain))


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _name(node.func)
    return ""


def _is_log_call(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in LOG_METHODS
        and (_name(func.value) in LOGGERS or _name(func.value).endswith(("log", "getLogger")))
    )


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, lines: list[str]) -> None:
        self.path = path
        self.lines = lines
        self.findings: list[Finding] = []
        self._fine = 0  # depth inside a context where literals are not words

    def _quiet(self, *nodes: ast.AST | None) -> None:
        self._fine += 1
        for node in nodes:
            if node is not None:
                self.visit(node)
        self._fine -= 1

    def _docstring(self, body: list[ast.stmt]) -> list[ast.stmt]:
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            return body[1:]
        return body

    def visit_Module(self, node: ast.Module) -> None:
        self._body(node.body)

    def _body(self, body: list[ast.stmt]) -> None:
        for i, stmt in enumerate(body):
            # A string statement after an assignment documents it (attribute docstrings).
            if (
                isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Constant)
                and (i == 0 or isinstance(body[i - 1], ast.Assign | ast.AnnAssign))
            ):
                continue
            self.visit(stmt)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._quiet(*node.decorator_list, node.returns)
        self.visit(node.args)
        self._body(self._docstring(node.body))

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._quiet(*node.decorator_list, node.returns)
        self.visit(node.args)
        self._body(self._docstring(node.body))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._quiet(*node.decorator_list, *node.bases, *node.keywords)
        self._body(self._docstring(node.body))

    def visit_Call(self, node: ast.Call) -> None:
        name = _name(node.func)
        if name in MARKERS or name in NO_WORDS_CALLS or _is_log_call(node):
            self._quiet(*node.args, *(k.value for k in node.keywords))
            self.visit(node.func)
            return
        first = node.args[0] if node.args else None
        if (
            name in TEXT_SETTERS
            and not self._fine
            and isinstance(first, ast.Constant)
            and isinstance(first.value, str)
            and re.search(r"[A-Za-z]{2,}", _TAGS.sub(" ", first.value))
        ):
            self._check(first, first.value, force=True)
            for rest in [*node.args[1:], *(k.value for k in node.keywords), node.func]:
                self.visit(rest)
            return
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        self._quiet(node.exc, node.cause)

    def visit_Assert(self, node: ast.Assert) -> None:
        self._quiet(node.test, node.msg)

    def visit_Dict(self, node: ast.Dict) -> None:
        self._quiet(*node.keys)
        for value in node.values:
            self.visit(value)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.visit(node.value)
        self._quiet(node.slice)

    def visit_Compare(self, node: ast.Compare) -> None:
        self._quiet(node.left, *node.comparators)

    def visit_match_case(self, node: ast.match_case) -> None:
        self._quiet(node.pattern)
        self.visit(node.guard) if node.guard is not None else None
        self._body(node.body)

    def visit_Assign(self, node: ast.Assign) -> None:
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return  # names exported, not words
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._quiet(node.annotation)
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        literal = "".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
        # Words glued to values are words too ("· made {when}"): one real word is enough,
        # with a space or a capital ("patient-{n}.png" and "prompt:{id}" are names).
        plain = _TAGS.sub(" ", literal)
        if (
            not _CSS.search(plain)
            and re.search(r"[A-Za-zÀ-ÿ]{2,}", plain)
            and (" " in plain.strip() or re.search(r"[A-ZÀ-Ý][a-zà-ÿ]", plain))
        ):
            self._check(node, literal, force=True)
        for v in node.values:
            if isinstance(v, ast.FormattedValue):
                self.visit(v.value)
                # Babel's extractor cannot see into f-strings before Python 3.12.
                for inner in ast.walk(v.value):
                    if (
                        isinstance(inner, ast.Call)
                        and _name(inner.func) in MARKERS
                        and any(isinstance(a, ast.Constant) for a in inner.args)
                    ):
                        self.findings.append(
                            Finding(self.path, node.lineno, "a _() inside an f-string")
                        )

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            self._check(node, node.value)

    def _check(self, node: ast.expr, text: str, force: bool = False) -> None:
        if self._fine or not (force or is_words(text)):
            return
        line = self.lines[node.lineno - 1] if node.lineno <= len(self.lines) else ""
        end = getattr(node, "end_lineno", node.lineno) or node.lineno
        tail = self.lines[end - 1] if end <= len(self.lines) else ""
        if OPT_OUT in line or OPT_OUT in tail:
            return
        self.findings.append(Finding(self.path, node.lineno, text))


def scan_file(path: Path) -> list[Finding]:
    source = path.read_text(encoding="utf-8")
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    scanner = _Scanner(str(shown), source.splitlines())
    scanner.visit(ast.parse(source, str(path)))
    return scanner.findings


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for entry in SCANNED:
        path = ROOT / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def unmarked() -> list[Finding]:
    return [f for path in scanned_files() for f in scan_file(path)]


if __name__ == "__main__":
    found = unmarked()
    for finding in found:
        print(finding)
    print(f"{len(found)} unmarked", file=sys.stderr)


# -- the browser board's script ---------------------------------------------------------------

BOARD = ROOT / "companion" / "server" / "board"
JS_OPT_OUT = "// i18n: not words"
JS_NO_WORDS_CALLS = frozenset(
    {
        "Error",
        "TypeError",
        "info",
        "warn",
        "error",
        "debug",
        "log",
        "addEventListener",
        "getElementById",
        "querySelector",
        "querySelectorAll",
        "createElement",
        "closest",
        "getItem",
        "setItem",
        "removeItem",
        "fetch",
        "importKey",
        "generateKey",
        "sign",
        "verify",
        "startsWith",
        "endsWith",
        "includes",
        "RegExp",
        "postMessage",
        "refuse",
        "encode",
        "deriveKey",
        "deriveBits",
    }
)
"""Calls whose string arguments are ids, selectors, keys or developers' words."""


def scan_js(path: Path) -> list[Finding]:
    """The board's string literals a person would read that are not inside ``_()``,
    ``N_()`` or ``ngettext()`` (the same rule for words as the Python scan's)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from babel.messages.jslexer import tokenize

        source = path.read_text(encoding="utf-8")
        tokens = [t for t in tokenize(source) if t.type not in ("linecomment", "multilinecomment")]
    lines = source.splitlines()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    findings: list[Finding] = []
    calls: list[str] = []  # the callee of each open parenthesis ("" for a plain group)
    for index, token in enumerate(tokens):
        before = tokens[index - 1] if index else None
        after = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.type == "operator" and token.value in ("(", "[", "{"):
            # Babel's lexer gives "console.info" as one name: the method is its last part.
            callee = (
                before.value.rsplit(".", 1)[-1]
                if before is not None and before.type == "name"
                else ""
            )
            calls.append(callee if token.value == "(" else "")
            continue
        if token.type == "operator" and token.value in (")", "]", "}"):
            if calls:
                calls.pop()
            continue
        if token.type not in ("string", "template_string"):
            continue
        text = token.value[1:-1]
        if token.type == "template_string":
            text = re.sub(r"\$\{[^}]*\}", " ", text)
        quiet = any(c in MARKERS or c in JS_NO_WORDS_CALLS for c in calls)
        is_key = after is not None and after.value == ":" and (not calls or calls[-1] == "")
        # (the lexer splits "===" into "==" and "=")
        two_before = tokens[index - 2].value if index >= 2 else ""
        compared = (
            (before is not None and before.value in ("==", "!=", "case"))
            or (before is not None and before.value == "=" and two_before in ("==", "!="))
            or (after is not None and after.value in ("==", "!="))
        )
        line = lines[token.lineno - 1] if token.lineno <= len(lines) else ""
        if quiet or is_key or compared or JS_OPT_OUT in line or not is_words(text):
            continue
        findings.append(Finding(str(shown), token.lineno, text))
    return findings


def unmarked_js() -> list[Finding]:
    return [f for path in sorted(BOARD.glob("*.js")) for f in scan_js(path)]
