"""libinjection analysis: what it flags as SQL injection or XSS, and what it leaves alone."""

from __future__ import annotations

import pytest

from vigil.detect.injection import sqli_corroborated, sqli_fingerprint, xss_detected


@pytest.mark.parametrize(
    "value",
    ["1' or '1'='1", "1) and 5846=5846 and (3345=3345", "1 union all select null,null--",
     "1' waitfor delay '0:0:5'--"],
)  # fmt: skip
def test_sql_injections_get_a_fingerprint(value: str) -> None:
    assert sqli_fingerprint(value)


@pytest.mark.parametrize(
    "value",
    ["o'brien", "c/ caridad s/n", "don't stop me now", "c4rb0n4to", "user@example.org",
     "1--6spussr_9jdw98bkm2vzc3cbr_-kg8mg-wb1x", "calle mayor, 12, 3ºb", "50% off"],
)  # fmt: skip
def test_benign_values_are_not_sql(value: str) -> None:
    assert sqli_fingerprint(value) is None


@pytest.mark.parametrize(
    "value",
    ["select count(*) from orders group by status", "SELECT * FROM users WHERE id = 1",
     "concat(first_name, ' ', last_name)", "char(10) newline", "ascii('a')",
     "sql 'group by' clause", "'and' vs '&&' in c"],
)  # fmt: skip
def test_a_statement_or_call_that_breaks_out_of_nothing_is_not_injection(value: str) -> None:
    assert sqli_fingerprint(value) is None


@pytest.mark.parametrize(
    "value",
    ["select current_database();", "(select * from (select(sleep(5)))x)", "pg_sleep(5)--",
     "make_set(7729=7729,1)", "benchmark(5000000,md5(1))", "'or'='or'", "admin' or 'a'='a"],
)  # fmt: skip
def test_statements_that_end_the_query_subqueries_and_computations_stay_sql(value: str) -> None:
    assert sqli_fingerprint(value)


@pytest.mark.parametrize("value", ["sqrt(2) * pi", "log(10) + 1", "round(3.7) + pi", "sin(30)*2"])
def test_a_call_with_arithmetic_after_it_is_a_calculation(value: str) -> None:
    assert sqli_fingerprint(value) is None


@pytest.mark.parametrize("value", ["sleep(5) and 1=1", "abs(-5) * 3 --", "sin(30)*2;drop table x"])
def test_a_call_followed_by_a_condition_a_comment_or_a_statement_stays_sql(value: str) -> None:
    assert sqli_fingerprint(value)


@pytest.mark.parametrize("value", ["(2+3)*4-sqrt(16)/2", "max(3,7)-min(1,2)", "(5-2)*2"])
def test_numbers_arithmetic_and_calculator_functions_alone_are_a_calculation(value: str) -> None:
    assert sqli_fingerprint(value) is None


@pytest.mark.parametrize("value", ["1)-sleep(5)-(1", "1)*sqrt(4)--", "(1+1)*2 or 1=1"])
def test_a_numeric_breakout_with_a_call_a_comment_or_a_condition_stays_sql(value: str) -> None:
    assert sqli_fingerprint(value)


def test_script_injection_and_plain_text() -> None:
    assert xss_detected("<img src=x onerror=alert(1)>")
    assert not xss_detected("3 < 5 and 7 > 2")
    assert not xss_detected("plain words")


@pytest.mark.parametrize(
    "value",
    ["ladder 8' or 10", "tom' & 'jerry dvd", "kids' & 'teens"],
)  # fmt: skip
def test_quotes_words_numbers_and_logic_alone_are_an_uncorroborated_verdict(value: str) -> None:
    fingerprint = sqli_fingerprint(value)
    assert fingerprint is not None
    assert not sqli_corroborated(value, fingerprint)


@pytest.mark.parametrize(
    "value",
    ["1' or '1'='1", "admin'/*", "'=0--+", "'; execute immediate 'sel' || 'ect us' || 'er'",
     "1 union all select null,null--", "admin' or 'a'='a"],
)  # fmt: skip
def test_a_keyword_comparison_comment_or_statement_break_corroborates(value: str) -> None:
    fingerprint = sqli_fingerprint(value)
    assert fingerprint is not None
    assert sqli_corroborated(value, fingerprint)


@pytest.mark.parametrize(
    "value",
    ['excel =if(a1>0,"yes","no")', "libreoffice =index(a:a,match(a23,c:c,0)) returns 0",
     "php /* note */", "if (key = x) ruby", "if (i != arr) c#", "LEFT(F18,3) #value!",
     'IF(A10<>"";A10;"yes") example', '=countif(h:h,"<>")', 'window.open("div") in iframe',
     'document.body.style = "div" blocked', '=if(e37<>d14,"","-")', '=if(b2 < 5,"low","ok")'],
)  # fmt: skip
def test_formulas_and_code_that_lead_with_a_word_a_call_on_names_or_an_argument_are_not_sql(
    value: str,
) -> None:
    # Each of these is an injection fingerprint to libinjection.
    assert sqli_fingerprint(value) is None


@pytest.mark.parametrize(
    "value",
    ["sleep(__TIME__)#", "x' or 1=1--", "a' or 1=1 #", "‘ or 3=3 --", "1;select 1 from t",
     "<![CDATA[' or 1=1 or ''=']]>"],
)  # fmt: skip
def test_a_comment_or_a_top_level_statement_break_keeps_the_verdict(value: str) -> None:
    assert sqli_fingerprint(value)


@pytest.mark.parametrize(
    "value",
    ["'between'_desk", "'and'_printer", '"or"_in_a_sentence', "'limit'_helmet",
     '"having"_definition', "dunkin' limit helmet", "kids' limit toys set",
     'document.title_=_"div"_not_working'],
)  # fmt: skip
def test_quoted_words_in_wiki_titles_and_a_limit_on_a_word_are_not_sql(value: str) -> None:
    # Each of these is an injection fingerprint to libinjection.
    assert sqli_fingerprint(value) is None


@pytest.mark.parametrize(
    "value", ["'or'_1'='_1", "x' limit 1", "1' limit 1,1", "' limit helmet--", "x' limit @a"]
)
def test_a_row_count_a_comparison_or_a_comment_keeps_the_verdict(value: str) -> None:
    assert sqli_fingerprint(value)


@pytest.mark.parametrize(
    "value",
    ['project = ABC AND status = "In Progress" ORDER BY created DESC',
     "assignee = currentUser() AND resolution = Unresolved ORDER BY priority DESC, updated"],
)  # fmt: skip
def test_a_whole_search_language_query_with_its_order_is_not_sql(value: str) -> None:
    # libinjection fingerprints both: a field compared, AND, a quoted string, ORDER BY.
    assert sqli_fingerprint(value) is None


@pytest.mark.parametrize(
    "value",
    ["x = 1 UNION SELECT 1 ORDER BY a", "id = 1; drop table x ORDER BY a",
     "1' and 1=1 order by id", "status = 'x' or 1=1 -- ORDER BY a"],
)  # fmt: skip
def test_a_union_a_statement_break_a_comment_or_a_breakout_keeps_the_verdict(value: str) -> None:
    assert sqli_fingerprint(value)


@pytest.mark.parametrize("value", ["1--Hnw1xoe-9oQ", "8--eb4fr3woh9g", "2--Qx7fLpZ0aa"])
def test_a_short_random_tracking_id_with_a_double_dash_is_not_sql(value: str) -> None:
    assert sqli_fingerprint(value) is None


@pytest.mark.parametrize("value", ["1--", "1--x", "5--abcdefgh", "10--ABCDEFGH", "1--sleepdata"])
def test_a_number_and_a_comment_without_random_text_stays_sql(value: str) -> None:
    assert sqli_fingerprint(value)
