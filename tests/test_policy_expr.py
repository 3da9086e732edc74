"""The filter language: parser, printer and evaluator, by example and by property."""

import operator

import pytest
from hypothesis import given, settings, strategies as st

from strictbox.policy import PolicyError, expr
from strictbox.policy.expr import Binary, Name, Num, Str, Unary

C = expr.constants()


def ev(text, **env):
    return expr.evaluate(expr.parse(text), env)


# -- by example ---------------------------------------------------------------

def test_constants_come_from_the_kernel_headers():
    import os
    assert C["O_RDONLY"] == os.O_RDONLY and C["O_CREAT"] == os.O_CREAT
    assert C["O_ACCMODE"] == 3 and C["AT_FDCWD"] == -100
    assert C["PROT_EXEC"] == 4 and C["MAP_ANONYMOUS"] == 0x20 and C["CLONE_THREAD"] == 0x10000
    assert not any(n.startswith(("__NR_", "SB_")) for n in C)


@pytest.mark.parametrize("text, env, want", [
    ("fd == 0", {"fd": 0}, 1),
    ("fd == 0", {"fd": 3}, 0),
    ("fd == 1 || fd == 2", {"fd": 2}, 1),
    ("fd == 1 || fd == 2", {"fd": 0}, 0),
    ("flags & O_ACCMODE == O_RDONLY", {"flags": 0o100000}, 1),  # O_LARGEFILE, read-only
    ("flags & O_ACCMODE == O_RDONLY", {"flags": 0o1}, 0),  # O_WRONLY
    ("!(flags & O_CREAT)", {"flags": 0o100}, 0),
    ("!(flags & O_CREAT)", {"flags": 0}, 1),
    ("flags & (O_CREAT | O_TRUNC) == 0", {"flags": 0o1000}, 0),
    ("fd == AT_FDCWD", {"fd": -100}, 1),
    ("fd == -100", {"fd": -100}, 1),
    ("~0 == -1", {}, 1),
    ("0x1f == 31 && 0o17 == 15 && 017 == 15 && 0b101 == 5 && 1_000 == 1000", {}, 1),
    ("a < b && b <= c && c > a && a >= a && a != c", {"a": 1, "b": 2, "c": 3}, 1),
    ("prot & PROT_EXEC", {"prot": 7}, 4),
    ('path == "/tmp/*"', {"path": "/tmp/a/b"}, 1),
    ('path != "/tmp/*"', {"path": "/etc/passwd"}, 1),
    ('"/etc/*" == path', {"path": "/etc/passwd"}, 1),
    ("path == 'x\\'y'", {"path": "x'y"}, 1),
])
def test_examples(text, env, want):
    assert ev(text, **env) == want


def test_bitwise_and_binds_tighter_than_comparison_unlike_c():
    tree = expr.parse("flags & O_ACCMODE == O_RDONLY")
    assert tree == Binary("==", Binary("&", Name("flags"), Name("O_ACCMODE")), Name("O_RDONLY"))
    # and | looser than &, as in C
    assert expr.parse("a | b & c") == Binary("|", Name("a"), Binary("&", Name("b"), Name("c")))
    assert expr.parse("a || b && c") == Binary("||", Name("a"), Binary("&&", Name("b"), Name("c")))


@pytest.mark.parametrize("text, column, needle", [
    ("fd ==", 6, "end of filter"),
    ("fd = 0", 4, "'='"),
    ("(fd == 0", 9, "expected ')'"),
    ("fd == 0)", 8, "')'"),
    ("fd == 0 fd", 9, "'fd'"),
    ("a == b == c", 8, "do not chain"),
    ("fd == 0x", 7, "bad number"),
    ("fd == 09", 7, "bad number"),
    ("fd == 1 + 2", 9, "'+'"),
    ('path == "abc', 9, "unexpected character"),
    ("", 1, "empty"),
    ("&& fd", 1, "'&&'"),
])
def test_errors_name_the_column(text, column, needle):
    with pytest.raises(PolicyError) as e:
        expr.parse(text)
    assert e.value.column == column
    assert needle in str(e.value)
    assert "^" in str(e.value)  # the caret under the column


def test_deep_nesting_and_long_chains_are_policy_errors():
    for text in ["(" * 5000 + "1" + ")" * 5000, "!" * 5000 + "1", " | ".join(["1"] * 2000),
                 "1" * 5000]:
        with pytest.raises(PolicyError):
            expr.parse(text)


def test_check_catches_unknown_names_and_types():
    types = {"fd": expr.INT, "path": expr.STR}
    expr.check(expr.parse('fd == 0 && path == "/x"'), types)
    with pytest.raises(PolicyError, match="(?s)unknown name 'fdd'.*did you mean fd"):
        expr.check(expr.parse("fdd == 0"), types, "fdd == 0")
    with pytest.raises(PolicyError, match="integers"):
        expr.check(expr.parse("path < 3"), types)
    with pytest.raises(PolicyError, match="integers"):
        expr.check(expr.parse('fd == "x"'), types)


def test_evaluate_rejects_strings_where_integers_belong():
    with pytest.raises(PolicyError):
        ev("path & 1", path="x")
    with pytest.raises(PolicyError):
        expr.holds(expr.parse("path"), {"path": "x"})
    with pytest.raises(PolicyError, match="unknown name"):
        ev("nope == 1")


# -- by property ----------------------------------------------------------------

ARGS = ("fd", "flags", "mode", "count")
CONST_NAMES = ("O_RDONLY", "O_WRONLY", "O_ACCMODE", "O_CREAT", "AT_FDCWD", "PROT_EXEC")
BINOPS = tuple(expr.PREC)

leaves = st.one_of(
    st.builds(Num, st.integers(0, 2 ** 70), st.sampled_from([10, 16, 8, 2])),
    st.builds(Name, st.sampled_from(ARGS + CONST_NAMES)),
)
trees = st.recursive(
    leaves,
    lambda kids: st.one_of(
        st.builds(Unary, st.sampled_from(expr.UNARY), kids),
        st.builds(Binary, st.sampled_from(BINOPS), kids, kids),
    ),
    max_leaves=24,
)
envs = st.fixed_dictionaries({a: st.integers(-2 ** 64, 2 ** 64) for a in ARGS})

REF_BIN = {"&": operator.and_, "|": operator.or_, "==": operator.eq, "!=": operator.ne,
           "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def reference(node, env):
    """Straight from the tree: no parsing, no precedence."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        return env[node.id] if node.id in env else C[node.id]
    if isinstance(node, Unary):
        v = reference(node.operand, env)
        return {"!": lambda: int(v == 0), "~": lambda: ~v, "-": lambda: -v}[node.op]()
    if node.op == "&&":
        return int(bool(reference(node.left, env)) and bool(reference(node.right, env)))
    if node.op == "||":
        return int(bool(reference(node.left, env)) or bool(reference(node.right, env)))
    return int(REF_BIN[node.op](reference(node.left, env), reference(node.right, env)))


@given(trees)
@settings(max_examples=400, deadline=None)
def test_print_then_parse_gives_the_same_tree(tree):
    text = expr.unparse(tree)
    assert expr.parse(text) == tree
    assert expr.unparse(expr.parse(text)) == text


@given(trees, envs)
@settings(max_examples=400, deadline=None)
def test_evaluation_of_printed_text_agrees_with_the_reference(tree, env):
    assert expr.evaluate(expr.parse(expr.unparse(tree)), env) == reference(tree, env)


TOKENS = ["fd", "flags", "O_RDONLY", "0", "1", "0x10", "017", "(", ")", "!", "~", "-", "&", "|",
          "&&", "||", "==", "!=", "<", "<=", ">", ">=", '"/tmp/*"', "path", "=", "'", '"', "\\",
          " ", "@", "9z", "_x"]


@given(st.one_of(st.text(max_size=80), st.lists(st.sampled_from(TOKENS), max_size=30).map("".join),
                 st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join)))
@settings(max_examples=1000, deadline=None)
def test_any_text_parses_or_gives_a_clear_policy_error(text):
    try:
        tree = expr.parse(text)
    except PolicyError as e:
        assert e.message and (e.column is None or 1 <= e.column <= len(text) + 1)
        return
    assert expr.parse(expr.unparse(tree)) == tree
    try:
        expr.evaluate(tree, {"fd": 1, "flags": 0, "path": "/tmp/x"})
    except PolicyError:
        pass  # a string where an integer belongs: refused with a message, not a crash


@given(st.text(max_size=30))
@settings(deadline=None)
def test_string_literals_round_trip(s):
    tree = Binary("==", Name("path"), Str(s))
    assert expr.parse(expr.unparse(tree)) == tree
