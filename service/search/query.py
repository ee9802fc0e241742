"""The history query language: a tokenizer and a recursive-descent parser.

    filter   := or EOF
    or       := and ("OR" and)*
    and      := not ("AND" not)*
    not      := "NOT" not | "(" or ")" | cond
    cond     := FIELD ( CMP literal
                      | ["NOT"] "IN" "(" literal ("," literal)* ")"
                      | ["NOT"] ("LIKE" | "ILIKE") STRING
                      | "IS" ["NOT"] "NULL"
                      | "CONTAINS" STRING )
    literal  := NUMBER | STRING | "TRUE" | "FALSE"
    order_by := FIELD ["ASC" | "DESC"] ("," FIELD ["ASC" | "DESC"])*

Why a real grammar rather than splitting on spaces or handing text to the
database: every value ends up as a bound parameter of a SQLAlchemy
expression over a whitelist of columns (`service.history`), so a filter can
never become SQL, and a mistake is answered with its position and what was
expected there. Keywords are case-insensitive; strings take single or
double quotes (a doubled quote escapes it); numbers take any float notation.

A filter is at most MAX_FILTER_LENGTH characters and nests at most
MAX_FILTER_DEPTH parentheses or NOTs: the parser recurses once per level, and
Python's recursion limit must never be what stops it. Control and bidi
characters are refused (a tab or a line break is whitespace): PostgreSQL
refuses a NUL in a bound string that SQLite would compare.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gradatlas.service.contracts.errors import InvalidInput
from gradatlas.service.contracts.text import LINE_BREAKS, first_unsafe

MAX_FILTER_LENGTH = 2000
MAX_FILTER_DEPTH = 32
CMP_OPS = ("=", "!=", "<>", "<=", ">=", "<", ">")
KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "CONTAINS", "TRUE", "FALSE", "ASC", "DESC"})
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z_]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op><>|!=|<=|>=|=|<|>)
  | (?P<punct>[(),])
""", re.VERBOSE)


class QuerySyntaxError(InvalidInput):
    """A filter or order_by that does not parse: where, and what would have.
    `source` names the query parameter that failed ("filter" or "order_by")."""

    def __init__(self, position: int, expected: str, found: str, source: str = "filter") -> None:
        self.position, self.expected, self.found, self.source = position, expected, found, source
        self.reason = f"at position {position}: expected {expected}, found {found}"
        super().__init__(f"{source} is not valid {self.reason}", [{"loc": ["query", source], "msg": self.reason,
                                                                  "position": position, "expected": expected}])

    def in_source(self, source: str) -> QuerySyntaxError:
        """The same mistake, attributed to the query parameter `source`."""
        return QuerySyntaxError(self.position, self.expected, self.found, source)


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, keyword, op, punct, end
    value: Any
    position: int
    text: str


@dataclass(frozen=True)
class Cond:
    field: str
    op: str  # = != < <= > >= in not_in like not_like ilike not_ilike is_null not_null contains
    value: Any
    position: int  # of the field
    value_position: int


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    operands: tuple[Node, ...]


Node = Cond | Not | BoolOp


@dataclass(frozen=True)
class OrderKey:
    field: str
    descending: bool
    position: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in "'\"":
            tokens.append(_string(text, pos))
            pos += len(tokens[-1].text)
            continue
        match = _TOKEN.match(text, pos)
        if match is None:
            raise QuerySyntaxError(pos, "a field, value, operator or parenthesis", repr(char))
        kind, raw = match.lastgroup or "", match.group()
        if kind == "number":
            tokens.append(Token("number", _number(raw), pos, raw))
        elif kind == "name" and raw.upper() in KEYWORDS:
            tokens.append(Token("keyword", raw.upper(), pos, raw))
        elif kind != "ws":
            tokens.append(Token(kind, raw, pos, raw))
        pos = match.end()
    tokens.append(Token("end", None, len(text), ""))
    return tokens


def _string(text: str, start: int) -> Token:
    quote, pos, out = text[start], start + 1, []
    while pos < len(text):
        if text[pos] == quote:
            if text[pos + 1 : pos + 2] == quote:  # doubled quote: a literal quote
                out.append(quote)
                pos += 2
                continue
            return Token("string", "".join(out), start, text[start : pos + 1])
        out.append(text[pos])
        pos += 1
    raise QuerySyntaxError(len(text), f"a closing {quote}", "the end of the filter")


def _number(raw: str) -> int | float:
    return int(raw) if re.fullmatch(r"[+-]?\d+", raw) else float(raw)


def _describe(token: Token) -> str:
    return "the end of the filter" if token.kind == "end" else repr(token.text)


def check_text(text: str) -> None:
    """QuerySyntaxError for a text too long to parse or holding a character
    no filter needs (docstring of this module)."""
    if len(text) > MAX_FILTER_LENGTH:
        raise QuerySyntaxError(MAX_FILTER_LENGTH, f"at most {MAX_FILTER_LENGTH} characters", f"{len(text)} characters")
    position = first_unsafe(text, LINE_BREAKS)
    if position is not None:
        raise QuerySyntaxError(position, "no control or bidi characters", f"U+{ord(text[position]):04X}")


class _Parser:
    def __init__(self, text: str) -> None:
        check_text(text)
        self.tokens = tokenize(text)
        self.at = 0
        self.depth = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def accept(self, kind: str, value: Any = None) -> Token | None:
        token = self.peek
        if token.kind == kind and (value is None or token.value == value):
            return self.take()
        return None

    def expect(self, kind: str, value: Any, expected: str) -> Token:
        token = self.accept(kind, value)
        if token is None:
            raise QuerySyntaxError(self.peek.position, expected, _describe(self.peek))
        return token

    def fail(self, expected: str) -> QuerySyntaxError:
        return QuerySyntaxError(self.peek.position, expected, _describe(self.peek))

    # --- filter ----------------------------------------------------------------

    def filter(self) -> Node:
        node = self.or_()
        if self.peek.kind != "end":
            raise self.fail("AND, OR, ')' or the end of the filter")
        return node

    def or_(self) -> Node:
        operands = [self.and_()]
        while self.accept("keyword", "OR"):
            operands.append(self.and_())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def and_(self) -> Node:
        operands = [self.not_()]
        while self.accept("keyword", "AND"):
            operands.append(self.not_())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def not_(self) -> Node:
        opener = self.peek
        if self.accept("keyword", "NOT"):
            return Not(self.nested(opener, self.not_))
        if self.accept("punct", "("):
            node = self.nested(opener, self.or_)
            self.expect("punct", ")", "')' or AND/OR")
            return node
        return self.cond()

    def nested(self, opener: Token, parse: Callable[[], Node]) -> Node:
        """`parse()` one level deeper than `opener`; past MAX_FILTER_DEPTH a
        QuerySyntaxError at the opener, long before Python's recursion limit."""
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise QuerySyntaxError(opener.position, f"at most {MAX_FILTER_DEPTH} nested parentheses or NOTs", repr(opener.text))
        node = parse()
        self.depth -= 1
        return node

    def cond(self) -> Cond:
        field = self.accept("name")
        if field is None:
            raise self.fail("a field name, NOT or '('")
        op_token = self.peek
        if self.accept("op"):
            value = self.literal()
            op = "!=" if op_token.value == "<>" else op_token.value
            return Cond(field.value, op, value.value, field.position, value.position)
        negated = bool(self.accept("keyword", "NOT"))
        if self.accept("keyword", "IN"):
            values, position = self.literal_list()
            return Cond(field.value, "not_in" if negated else "in", values, field.position, position)
        for word in ("LIKE", "ILIKE"):
            if self.accept("keyword", word):
                pattern = self.expect("string", None, f"a quoted pattern after {word}")
                op = ("not_" if negated else "") + word.lower()
                return Cond(field.value, op, pattern.value, field.position, pattern.position)
        if negated:
            raise self.fail("IN, LIKE or ILIKE after NOT")
        if self.accept("keyword", "IS"):
            negated = bool(self.accept("keyword", "NOT"))
            self.expect("keyword", "NULL", "NULL or NOT NULL after IS")
            return Cond(field.value, "not_null" if negated else "is_null", None, field.position, op_token.position)
        if self.accept("keyword", "CONTAINS"):
            value = self.expect("string", None, "a quoted value after CONTAINS")
            return Cond(field.value, "contains", value.value, field.position, value.position)
        raise self.fail("an operator (= != < <= > >= IN NOT IN LIKE ILIKE IS CONTAINS)")

    def literal(self) -> Token:
        token = self.peek
        if token.kind in ("number", "string"):
            return self.take()
        if token.kind == "keyword" and token.value in ("TRUE", "FALSE"):
            self.take()
            return Token("bool", token.value == "TRUE", token.position, token.text)
        raise self.fail("a number, a quoted string, TRUE or FALSE")

    def literal_list(self) -> tuple[tuple[Any, ...], int]:
        start = self.expect("punct", "(", "'(' to open the list").position
        values = [self.literal().value]
        while self.accept("punct", ","):
            values.append(self.literal().value)
        self.expect("punct", ")", "',' or ')' in the list")
        return tuple(values), start

    # --- order_by ----------------------------------------------------------------

    def order_by(self) -> list[OrderKey]:
        keys = []
        while True:
            field = self.accept("name")
            if field is None:
                raise self.fail("a field name")
            direction = self.accept("keyword", "DESC") or self.accept("keyword", "ASC")
            keys.append(OrderKey(field.value, bool(direction and direction.value == "DESC"), field.position))
            if self.peek.kind == "end":
                return keys
            self.expect("punct", ",", "',' , ASC, DESC or the end")


def parse_filter(text: str) -> Node | None:
    """The syntax tree of a filter; None for an empty one."""
    return None if not text.strip() else _Parser(text).filter()


def parse_order_by(text: str) -> list[OrderKey]:
    return [] if not text.strip() else _Parser(text).order_by()
