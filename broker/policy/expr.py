"""Argument filters in the ftrace style: `fd == 0`, `flags & O_ACCMODE == O_RDONLY`.

A tokenizer and a precedence-climbing parser build a small AST (nothing is
ever passed to eval); `unparse` prints it back so that parse(unparse(t)) == t;
`evaluate` runs it over a dict of argument values.

Grammar, loosest first:

    expr  := expr '||' expr | expr '&&' expr
           | bits (('==' | '!=' | '<' | '<=' | '>' | '>=') bits)?
    bits  := bits '|' bits | bits '&' bits
    unary := ('!' | '~' | '-') unary | INT | NAME | STRING | '(' expr ')'

Unlike C, `&` and `|` bind tighter than the comparisons, as in ftrace's
filters: `flags & O_ACCMODE == O_RDONLY` means `(flags & O_ACCMODE) ==
O_RDONLY`, which is what people mean (C would read `flags & (O_ACCMODE ==
O_RDONLY)`).  `&` binds tighter than `|`, as in C.  Comparisons do not chain.

Integers are unbounded and signed (`~0 == -1`); literals are decimal, hex
(0x1f), octal (0o755 or C's 0755) or binary (0b101).  Names are the call's
arguments (`fd`, `flags`, ..., and always `arg0`..`arg5`, the raw registers)
or constants from the kernel headers (O_RDONLY, AT_FDCWD, PROT_EXEC, ...).
Strings compare only with `==` and `!=`; a string literal is a glob
(fnmatch: `*` matches any characters, `/` included): `path == "/tmp/*"`.
`&&`, `||`, `!` and the comparisons give 0 or 1; a filter holds when its
value is not 0.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, field
from typing import Mapping, Union

from .errors import PolicyError

MAX_LENGTH = 4096  # characters in one filter
MAX_DEPTH = 32  # nesting of parentheses and unary operators
MAX_OPERATORS = 128  # binary operators: together these bound the tree's depth

# Binding strength of the binary operators; higher binds tighter.
PREC = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3, "|": 4, "&": 5}
COMPARISONS = frozenset(op for op, p in PREC.items() if p == 3)
UNARY = ("!", "~", "-")
UNARY_PREC = 6


# -- the tree ---------------------------------------------------------------

@dataclass(frozen=True)
class Num:
    value: int  # never negative: `-1` is Unary("-", Num(1))
    base: int = field(default=10, compare=False)  # how it was written, for printing
    pos: int = field(default=0, compare=False)  # 0-based column in the source

    def __post_init__(self):
        if self.value < 0:
            raise ValueError("Num holds a non-negative value; use Unary('-', ...)")


@dataclass(frozen=True)
class Str:
    value: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Name:
    id: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Unary:
    op: str
    operand: "Expr"
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Binary:
    op: str
    left: "Expr"
    right: "Expr"
    pos: int = field(default=0, compare=False)


Expr = Union[Num, Str, Name, Unary, Binary]


# -- constants --------------------------------------------------------------

@functools.cache
def constants() -> dict[str, int]:
    """Every named integer cffi read from the kernel headers, but for the
    syscall numbers (calls are named, never numbered) and strictbox's own.
    (Made at first use: reading them all takes milliseconds.)"""
    from .._native import lib
    out = {}
    for n in dir(lib):
        if n.startswith(("__", "SB_", "sb_")) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", n):
            continue
        v = getattr(lib, n)
        if isinstance(v, int):
            out[n] = v
    return out


# -- tokens -----------------------------------------------------------------

TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<num>0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>\|\||&&|==|!=|<=|>=|[<>&|!~()-])
""", re.X | re.S)


@dataclass(frozen=True)
class Token:
    kind: str  # num, name, str, op, end
    text: str
    pos: int
    value: object = None


def _number(text: str, pos: int, source: str) -> tuple[int, int]:
    digits = text.replace("_", "")
    try:
        if digits[:2].lower() == "0x":
            return int(digits[2:], 16), 16
        if digits[:2].lower() == "0o":
            return int(digits[2:], 8), 8
        if digits[:2].lower() == "0b":
            return int(digits[2:], 2), 2
        if len(digits) > 1 and digits[0] == "0":  # C octal, as in file modes
            return int(digits, 8), 8
        return int(digits, 10), 10
    except ValueError:
        raise PolicyError(f"bad number {text!r}", column=pos + 1, text=source,
                          hint="write 0x1f, 0o755 (or 0755) or 0b101") from None


def _unquote(text: str, pos: int, source: str) -> str:
    out, i, body = [], 0, text[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1]
            if nxt not in "\\\"'":
                raise PolicyError(f"unknown escape \\{nxt} in a string", column=pos + i + 2,
                                  text=source, hint=r"only \\, \" and \' are escapes")
            out.append(nxt)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tokenize(source: str) -> list[Token]:
    if len(source) > MAX_LENGTH:
        raise PolicyError(f"filter longer than {MAX_LENGTH} characters",
                          hint="split it into several rules")
    tokens, i = [], 0
    while i < len(source):
        m = TOKEN.match(source, i)
        if not m:
            c = source[i]
            hint = {"=": "compare with ==", "\"": "close the string with a matching quote",
                    "'": "close the string with a matching quote",
                    "^": "there is no ^; use & | ~", "+": "there is no arithmetic in filters",
                    "*": "there is no arithmetic in filters; put globs inside a string"}.get(c)
            raise PolicyError(f"unexpected character {c!r}", column=i + 1, text=source, hint=hint)
        kind = m.lastgroup
        text = m.group()
        if kind == "num":
            end = m.end()
            if end < len(source) and (source[end].isalnum() or source[end] == "_"):
                raise PolicyError(f"bad number {text + source[end]!r}...", column=i + 1,
                                  text=source, hint="a number is followed by an operator or space")
            tokens.append(Token("num", text, i, _number(text, i, source)))
        elif kind == "str":
            tokens.append(Token("str", text, i, _unquote(text, i, source)))
        elif kind != "space":
            tokens.append(Token(kind, text, i))
        i = m.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


# -- parser -----------------------------------------------------------------

class _Parser:
    def __init__(self, source: str):
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0
        self.operators = 0

    def error(self, message: str, tok: Token, hint: str | None = None) -> PolicyError:
        return PolicyError(message, column=tok.pos + 1, text=self.source, hint=hint)

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def parse(self) -> Expr:
        if self.tok.kind == "end":
            raise self.error("empty filter", self.tok,
                             "write a condition such as fd == 0; in TOML, true (unquoted) "
                             "takes the whole call")
        tree = self.binary(1)
        if self.tok.kind != "end":
            t = self.tok
            hint = "join conditions with && or ||" if t.kind in ("num", "name", "str") else None
            if t.text == ")":
                hint = "remove it, or add the matching ("
            raise self.error(f"unexpected {self._describe(t)} after a complete expression", t, hint)
        return tree

    @staticmethod
    def _describe(t: Token) -> str:
        return "end of filter" if t.kind == "end" else repr(t.text)

    def binary(self, min_prec: int) -> Expr:
        left = self.unary()
        compared = False  # left is a comparison built here, not a parenthesised one
        while self.tok.kind == "op" and self.tok.text in PREC and PREC[self.tok.text] >= min_prec:
            op_tok = self.tok
            op, prec = op_tok.text, PREC[op_tok.text]
            if op in COMPARISONS and compared:
                raise self.error("comparisons do not chain", op_tok,
                                 "write a < b && b < c, or add parentheses")
            self.operators += 1
            if self.operators > MAX_OPERATORS:
                raise self.error(f"more than {MAX_OPERATORS} operators in one filter", op_tok,
                                 "split it into several rules")
            self.i += 1
            right = self.binary(prec + 1)
            left = Binary(op, left, right, op_tok.pos)
            compared = op in COMPARISONS
        return left

    def unary(self) -> Expr:
        t = self.tok
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"filter nested deeper than {MAX_DEPTH} levels", t,
                             "simplify it or split it into several rules")
        try:
            if t.kind == "op" and t.text in UNARY:
                self.i += 1
                return Unary(t.text, self.unary(), t.pos)
            if t.kind == "num":
                self.i += 1
                value, base = t.value
                return Num(value, base, t.pos)
            if t.kind == "str":
                self.i += 1
                return Str(t.value, t.pos)
            if t.kind == "name":
                self.i += 1
                return Name(t.text, t.pos)
            if t.text == "(":
                self.i += 1
                inner = self.binary(1)
                if self.tok.text != ")":
                    raise self.error(f"expected ')' but found {self._describe(self.tok)}", self.tok,
                                     f"close the ( opened at column {t.pos + 1}")
                self.i += 1
                return inner
            hint = None
            if t.kind == "end":
                hint = "the filter ends in the middle of an expression"
            elif t.text in PREC:
                hint = f"{t.text} needs an operand on each side"
            raise self.error(f"expected a number, name, string or '(' but found "
                             f"{self._describe(t)}", t, hint)
        finally:
            self.depth -= 1


def parse(source: str) -> Expr:
    """The tree of a filter; PolicyError (with its column) if it is not one."""
    if not isinstance(source, str):
        raise PolicyError(f"a filter is a string, not {type(source).__name__}")
    return _Parser(source).parse()


# -- printer ----------------------------------------------------------------

def _prec(node: Expr) -> int:
    if isinstance(node, Binary):
        return PREC[node.op]
    if isinstance(node, Unary):
        return UNARY_PREC
    return UNARY_PREC + 1


def _num(node: Num) -> str:
    v = node.value
    return {16: f"{v:#x}", 8: f"{v:#o}", 2: f"{v:#b}"}.get(node.base, str(v))


def _str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unparse(node: Expr) -> str:
    """Text that parses back to the same tree, with only the parentheses needed."""
    if isinstance(node, Num):
        return _num(node)
    if isinstance(node, Str):
        return _str(node.value)
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Unary):
        inner = unparse(node.operand)
        if _prec(node.operand) < UNARY_PREC:
            inner = f"({inner})"
        return node.op + inner
    p = PREC[node.op]
    left, right = unparse(node.left), unparse(node.right)
    # Left-associative; comparisons do not chain, so a comparison under a
    # comparison needs parentheses on either side.
    if _prec(node.left) < p or (_prec(node.left) == p and node.op in COMPARISONS):
        left = f"({left})"
    if _prec(node.right) <= p:
        right = f"({right})"
    return f"{left} {node.op} {right}"


# -- checking and evaluation ------------------------------------------------

INT, STR = "int", "str"


def names(node: Expr) -> set[str]:
    """Every name the filter mentions."""
    if isinstance(node, Name):
        return {node.id}
    if isinstance(node, Unary):
        return names(node.operand)
    if isinstance(node, Binary):
        return names(node.left) | names(node.right)
    return set()


def check(node: Expr, types: Mapping[str, str], source: str | None = None) -> None:
    """Raises PolicyError unless every name is an argument (types: name ->
    INT or STR) or a constant and every operator gets the types it takes."""
    _type(node, types, source)


def _type(node: Expr, types: Mapping[str, str], source: str | None) -> str:
    def fail(msg: str, hint: str | None = None):
        return PolicyError(msg, column=node.pos + 1 if source is not None else None,
                           text=source, hint=hint)

    if isinstance(node, Num):
        return INT
    if isinstance(node, Str):
        return STR
    if isinstance(node, Name):
        if node.id in types:
            return types[node.id]
        if node.id in constants():
            return INT
        import difflib
        close = difflib.get_close_matches(node.id, list(types) + list(constants()), 3, 0.7)
        args = ", ".join(n for n in types if not n.startswith("arg")) or "none by name"
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        hint += f"arguments here: {args}; arg0..arg5 are the raw registers"
        return _raise(fail(f"unknown name {node.id!r}", hint))
    if isinstance(node, Unary):
        if _type(node.operand, types, source) != INT:
            _raise(fail(f"{node.op} takes an integer, not a string"))
        return INT
    lt, rt = _type(node.left, types, source), _type(node.right, types, source)
    if node.op in ("==", "!=") and lt == rt:
        return INT
    if lt != INT or rt != INT:
        hint = "strings compare only with == and != (a string literal is a glob)"
        _raise(fail(f"{node.op} takes integers on both sides", hint))
    return INT


def _raise(e: PolicyError):
    raise e


def _glob_eq(node: Binary, left, right) -> bool:
    # A literal string is the pattern; two computed strings compare exactly.
    if isinstance(node.right, Str):
        return fnmatch.fnmatchcase(left, right)
    if isinstance(node.left, Str):
        return fnmatch.fnmatchcase(right, left)
    return left == right


def evaluate(node: Expr, env: Mapping[str, int | str]) -> int | str:
    """The value of the filter over env (argument name -> int or str).
    Raises PolicyError for an unknown name or a string where an integer
    belongs; a filter that passed `check` raises neither."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Str):
        return node.value
    if isinstance(node, Name):
        if node.id in env:
            return env[node.id]
        if node.id in constants():
            return constants()[node.id]
        raise PolicyError(f"unknown name {node.id!r}")
    if isinstance(node, Unary):
        v = evaluate(node.operand, env)
        if not isinstance(v, int):
            raise PolicyError(f"{node.op} takes an integer, not a string")
        return int(not v) if node.op == "!" else ~v if node.op == "~" else -v
    op = node.op
    if op == "&&":
        return int(_truth(evaluate(node.left, env)) and _truth(evaluate(node.right, env)))
    if op == "||":
        return int(_truth(evaluate(node.left, env)) or _truth(evaluate(node.right, env)))
    a, b = evaluate(node.left, env), evaluate(node.right, env)
    if isinstance(a, str) or isinstance(b, str):
        if op in ("==", "!=") and isinstance(a, str) and isinstance(b, str):
            return int(_glob_eq(node, a, b) == (op == "=="))
        raise PolicyError(f"{op} takes integers on both sides")
    if op == "&":
        return a & b
    if op == "|":
        return a | b
    return int({"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b,
                ">": a > b, ">=": a >= b}[op])


def _truth(v) -> bool:
    if isinstance(v, str):
        raise PolicyError("a string is not a condition; compare it: path == \"/tmp/*\"")
    return v != 0


def holds(node: Expr, env: Mapping[str, int | str]) -> bool:
    """Whether the filter is true for these arguments."""
    return _truth(evaluate(node, env))
