"""SQL injection and XSS analysis beyond regular expressions, through libinjection.

libinjection tokenises a value as SQL (in every quoting context) or as HTML and compares the
token fingerprint with known injection shapes. It is run only on values that contain at least
one character an injection needs, which keeps it off the hot path: most parameter values are
words, numbers or identifiers.
"""

from __future__ import annotations

import re
from typing import Final

try:
    import libinjection

    LIBINJECTION_AVAILABLE = True
except ImportError:  # pragma: no cover - the dependency is declared; kept for odd platforms
    libinjection = None
    LIBINJECTION_AVAILABLE = False

# A SQL injection needs a quote, a parenthesis, a comment, an operator or a statement break.
SQLI_TRIGGERS: Final = re.compile(r"['\"`();=#*\-/|&<>]")
# Script injection needs markup or breaking out of an attribute.
XSS_TRIGGERS: Final = re.compile(r"[<>\"'`=]")
MAX_ANALYSED: Final = 4096
# Opaque tokens (click ids, session keys, base64url) are not SQL, though a digit followed by
# "--" somewhere in random text tokenises as a number and a comment. From 16 characters any
# token is opaque; from 10, one without padding that reads as random, a digit between
# letters (HubSpot's "_hsenc=1--Hnw1xoe-9oQ", a campaign's "utm_content=8--EB4fr3woh9g").
# The probes "1--", "1--x" and "5--abcdefgh" are not. Values arrive lowercased, so case
# cannot tell.
TOKEN: Final = re.compile(r"([a-z0-9_\-]{10,})(={0,2})", re.IGNORECASE)
OPAQUE_LENGTH: Final = 16
DIGIT_BETWEEN_LETTERS: Final = re.compile(r"[a-z]\d+[a-z]", re.IGNORECASE)
# Words around parentheses and nothing else ("sleep(ing) bag", "select (all) items", "version(s)
# of doc"): libinjection reads a function or keyword called on a bare word, but without a
# number, string, operator, comment or statement break there is nothing for SQL to execute
# that text would not be anyway. Fingerprint letters: f function, E/k keyword, n word.
PROSE_FINGERPRINT: Final = re.compile(r"[fEkn()]*")
SQL_PUNCTUATION: Final = re.compile(r"['\"`;#=*]|--|/\*|\(\s*\)")
# A value that starts with a statement (E) or a function call (f) breaks out of nothing: in a
# quoted context it stays a string, after "id =" a bare SELECT is a syntax error. Such a value
# is SQL only if something ends the host statement (a comment or ";"), or, for a call, if it
# computes more than a call on one literal ("if(1=1,...)", "benchmark(5000000,md5(1))").
# Without that it is how people search for SQL: "select count(*) from orders group by
# status", "concat(first, ' ', last)", "char(10) newline".
STATEMENT_START: Final = re.compile(r"E[^c;U]*")
CALL_START: Final = re.compile(r"f\([1sn]\)[nkv1s]*")
STATEMENT_END: Final = re.compile(r";|--|#|/\*")
# libinjection folds "make_set(7729=7729,1)" to f(1): an operator inside is a computation.
OPERATOR: Final = re.compile(r"[=<>!|&^~*+]")
# A call on one literal and arithmetic after it ("sqrt(2) * pi", "log(10) + 1") is a calculator's
# or a spreadsheet's input: it compares and chains nothing (a statement end is ruled out with
# STATEMENT_END where both are used); arithmetic alone is not OPERATOR's computation here.
CALL_ARITHMETIC: Final = re.compile(r"f\([1sn]\)o[1nf(]*\)?")
COMPARISON_OR_LOGIC: Final = re.compile(r"[=<>!|&^~]")
# Numbers, arithmetic and the functions of a calculator, nothing else ("(2+3)*4-sqrt(16)/2",
# "max(3,7)-min(1,2)"): libinjection reads "x)*f(" as the numeric breakout of "1)-sleep(5)",
# but with no keyword, comparison, string or other function there is nothing to run.
PURE_ARITHMETIC: Final = re.compile(
    r"(?:[\d\s.,+\-*/%()]|\b(?:sqrt|cbrt|abs|sin|cos|tan|asin|acos|atan|log|log10|log2|ln|exp"
    r"|pow|power|min|max|floor|ceil|ceiling|round|trunc|mod|pi|sign)\b)+",
    re.IGNORECASE,
)
# In a quote context libinjection reads the value's first quote as the end of the string the
# value was put in. A quote after a blank that opens a quoted word or phrase ("mysql 'order
# by' two columns", "what does 'or' mean") is the searcher quoting SQL, not closing a string:
# a breakout quote follows the value it ends (admin' or '1'='1) or starts the value with
# what it injects (' or 1=1), where a phrase ('and' vs '&&') closes right after its words.
# A value that starts with a bare word (fingerprint "n...") closes no string and ends no number:
# in a quoted context it stays inside the string, unquoted it names a column. Searches start
# that way ("excel =if(a1>0,...)", "libreoffice =index(a:a,match(...))", "r format('x', 2)",
# "php /* note */"); an injection that leads with a word must still chain a condition with
# AND/OR (&), a UNION (U) or a statement break (";" outside parentheses) to do anything: a
# comment after a word only cuts off the rest of the host query.
BARE_WORD_LEAD: Final = re.compile(r"[&U]")
# A value that starts with a call on a bare word, a column or a cell ("if (key = x) ruby",
# "IF(A10<>"";A10;"yes")", "LEFT(F18,3) #value!"): like a leading statement, it breaks out of
# nothing and computes only on names, unless something ends the host statement.
COLUMN_CALL: Final = re.compile(r"f\(n")
# What ends the host statement: a comment, or ";" outside any parentheses (inside them it
# separates a spreadsheet's arguments). "#" is a MySQL comment unless it ends a language name
# (c#, f#) or starts a word (#value!, #main).
_COMMENT: Final = re.compile(r"--|/\*|(?<![a-z])#(?![a-z0-9])", re.IGNORECASE)
# A wiki title writes its blanks as underscores ('between'_desk, "or"_in_a_sentence).
QUOTED_PHRASE: Final = re.compile(
    r"(?:^|[\s_])(['\"`])[a-z][a-z _]{0,30}[a-z]\1(?:$|[\s.,?!:)_])", re.I
)
FIRST_QUOTE: Final = re.compile(r"['\"`]")
# LIMIT and OFFSET after a breakout take a row count (a number, a placeholder, a variable):
# on a bare word ("Dunkin' limit helmet", "kids' limit toys") they limit nothing.
LIMIT_ON_WORD: Final = re.compile(r"^sBn+$")
LIMIT_WORD: Final = re.compile(r"['\"`]\s*\)*\s*(?:limit|offset)\s+[a-z_]", re.IGNORECASE)
# What opens markup: a tag, an end tag, a comment or CDATA section, a processing instruction.
# "<" as a comparison ("e37<>d14", "a1 < 5") opens none.
MARKUP_OPEN: Final = re.compile(r"<[a-z!/?]", re.IGNORECASE)
# A first quote right after "(", "," or ";" opens a string argument of a call the value itself
# makes (=countif(a:a,"<>"), window.open("x"), format('%d', n)), after "name =" the string
# a code snippet assigns (el.style = "x"): the value was not inside a
# string for that quote to close. Only without a statement break or a comment (see
# `_ends_statement`).
# (A wiki title's underscores are its blanks: document.title_=_"div".)
ARGUMENT_QUOTE: Final = re.compile(r"(?:[(,;]|\w[\s_]*=)[\s_]*$")
# A whole query of a search language (JQL, a saved filter): it opens with a field compared
# and ends with the order it wants ("project = ABC AND status = "In Progress" ORDER BY created
# DESC"). An injection first closes the string or number it was put in; this closes nothing,
# and without a UNION, a statement break or a comment it runs nothing SQL would not.
QUERY_FIELD_LEAD: Final = re.compile(r"\s*[a-z_][\w.]*\s*(?:=|!=|~)", re.IGNORECASE)
ORDER_BY_END: Final = re.compile(
    r"\border\s+by\s+[a-z_][\w.]*(?:\s*,\s*[a-z_][\w.]*)*(?:\s+(?:asc|desc))?\s*$",
    re.IGNORECASE,
)
# GO separates batches for SQL Server's client tools, on a line of its own; the server never
# runs it. A value that starts with "go" and a blank is a search about the Go language
# ("go log('i', 7)", "go \"a\" + \"b\" concat"): what follows is judged on its own.
GO_LEAD: Final = re.compile(r"\s*go[ \t]+(?=\S)", re.IGNORECASE)


def sqli_fingerprint(text: str) -> str | None:
    """The libinjection fingerprint if `text` tokenises as SQL injection, else None."""
    if libinjection is None or SQLI_TRIGGERS.search(text) is None:
        return None
    if _opaque_token(text):
        return None
    result = libinjection.is_sql_injection(text[:MAX_ANALYSED])
    if result.get("is_sqli"):
        fingerprint = str(result.get("fingerprint") or "sqli")
        lead = GO_LEAD.match(text) if fingerprint[:1] == "T" else None
        if lead is not None:
            return sqli_fingerprint(text[lead.end() :])
        if PROSE_FINGERPRINT.fullmatch(fingerprint) and not SQL_PUNCTUATION.search(text):
            return None
        if _is_calculation(text, fingerprint):
            return None
        if (
            text.lstrip()[:1].isalpha()  # "(select ...)" is a subquery, valid after "id ="
            and not STATEMENT_END.search(text)
            and (
                STATEMENT_START.fullmatch(fingerprint)
                or (CALL_START.fullmatch(fingerprint) and not OPERATOR.search(text))
            )
        ):
            return None
        if fingerprint[:1] == "s" and (_opens_quoted_phrase(text) or _opens_argument(text)):
            return None
        if LIMIT_ON_WORD.match(fingerprint) and LIMIT_WORD.search(text):
            return None
        if fingerprint[:1] == "n" and (
            _lead_word_chains_nothing(text, fingerprint)
            or _search_language_query(text, fingerprint)
        ):
            return None
        if (
            COLUMN_CALL.match(fingerprint)
            and text.lstrip()[:1].isalpha()
            and not _ends_statement(text)
        ):
            return None
        return fingerprint
    return None


def _opaque_token(text: str) -> bool:
    """Whether `text` is an identifier rather than words or SQL (see TOKEN)."""
    token = TOKEN.fullmatch(text)
    if token is None:
        return False
    body, padding = token.groups()
    if len(body) >= OPAQUE_LENGTH:
        return True
    return not padding and DIGIT_BETWEEN_LETTERS.search(body) is not None


def _is_calculation(text: str, fingerprint: str) -> bool:
    """Whether `text` is a calculator's or a spreadsheet's input that libinjection tokenises
    as SQL: numbers, arithmetic and calculator functions alone (PURE_ARITHMETIC), or a value
    that starts with a call on one literal and only computes after it (CALL_ARITHMETIC), with
    nothing that ends the host statement."""
    if STATEMENT_END.search(text):
        return False
    if PURE_ARITHMETIC.fullmatch(text):
        return True
    return (
        text.lstrip()[:1].isalpha()
        and CALL_ARITHMETIC.fullmatch(fingerprint) is not None
        and not COMPARISON_OR_LOGIC.search(text)
    )


# What libinjection reads as SQL beyond strings, words, numbers, arithmetic and AND/OR: a
# keyword (k), UNION (U), statement (E), command or type (T, t), GROUP BY (B), variable (v),
# known-evil token (X), COLLATE (A), function call (f), statement break (;) or comment (c).
SQL_TOKENS: Final = re.compile(r"[kUETBtvXAf;c]")
# A comparison or a logical operator spelled in symbols: what a condition injected after a
# breakout is made of ("' or 'a'='a", "' || 1<2").
SQL_COMPARISON: Final = re.compile(r"[=<>]|!=|\|\||&&")


def sqli_corroborated(text: str, fingerprint: str) -> bool:
    """Whether a libinjection verdict on `text` has SQL of its own to stand on.

    libinjection reads a value as SQL in every quoting context, so quotes, words and "or"
    alone tokenise as a breakout ("size 8' or 10", "kids' & 'teens'"): strings, barewords,
    numbers and AND/OR, but nothing SQL would compute or compare. An injection needs more
    than that to do anything: a keyword, a function, a comparison, a comment or a statement
    break. Without any of those the verdict is a weak signal that needs corroboration.
    """
    return SQL_TOKENS.search(fingerprint) is not None or SQL_COMPARISON.search(text) is not None


def _opens_quoted_phrase(text: str) -> bool:
    """Whether the first quote of `text` opens a quoted phrase, with no SQL around it that a
    breakout would need (a comparison, a comment, a statement break)."""
    first = FIRST_QUOTE.search(text)
    phrase = QUOTED_PHRASE.search(text)
    if first is None or phrase is None or phrase.start(1) != first.start():
        return False
    return "=" not in text and not STATEMENT_END.search(text)


def _lead_word_chains_nothing(text: str, fingerprint: str) -> bool:
    """Whether a value led by a bare word chains no condition, UNION or statement break to it
    (see `BARE_WORD_LEAD`)."""
    return BARE_WORD_LEAD.search(fingerprint) is None and not _ends_statement(text, comments=False)


def _search_language_query(text: str, fingerprint: str) -> bool:
    """Whether a value led by a bare word is a whole query of a search language with its
    ORDER BY, and no UNION, statement break or comment (see `QUERY_FIELD_LEAD`)."""
    return (
        "U" not in fingerprint
        and QUERY_FIELD_LEAD.match(text) is not None
        and ORDER_BY_END.search(text) is not None
        and not _ends_statement(text)
    )


def _ends_statement(text: str, *, comments: bool = True) -> bool:
    """Whether `text` ends the statement it is put in: a comment (unless `comments` is
    false), or a ";" at the top level."""
    if comments and _COMMENT.search(text):
        return True
    if ";" not in text:
        return False
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == ";" and depth == 0:
            return True
    return False


def _opens_argument(text: str) -> bool:
    """Whether the first quote of `text` opens a string argument of a call in the value
    (and is closed again), with no statement break or comment around it."""
    first = FIRST_QUOTE.search(text)
    if first is None or ARGUMENT_QUOTE.search(text, 0, first.start()) is None:
        return False
    if MARKUP_OPEN.search(text, 0, first.start()):  # an attribute of markup, not a call
        return False
    if text.find(first.group(), first.end()) < 0:
        return False
    return not _ends_statement(text)


def xss_detected(text: str) -> bool:
    """Whether libinjection reads `text` as script injection into HTML."""
    if libinjection is None or XSS_TRIGGERS.search(text) is None:
        return False
    return bool(libinjection.is_xss(text[:MAX_ANALYSED]).get("is_xss"))
