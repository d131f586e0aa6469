"""Feature extraction: stable hashing, triviality, what the classifier sees of a request."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.detect.ml.conftest import record
from vigil.detect.ml import features


def test_hashing_is_stable_and_normalised() -> None:
    texts = ["1' or 1=1--", "hello", "1' or 1=1--"]
    row, col, weight = features.ngram_counts(texts, 12)
    first = sorted(zip(col[row == 0].tolist(), weight[row == 0].tolist(), strict=True))
    third = sorted(zip(col[row == 2].tolist(), weight[row == 2].tolist(), strict=True))
    assert first == third
    assert np.isclose(np.sum(weight[row == 1] ** 2), 1.0, atol=1e-5)
    assert col.max() < 1 << 12
    # The fixed polynomial hash gives the same buckets in every process.
    assert features.ngram_counts(["abc"], 12)[1].tolist() == [
        330,
        382,
        476,
        1022,
        1200,
        1568,
        2800,
        2982,
        3135,
        3387,
        3743,
        3765,
    ]


def test_digits_are_folded() -> None:
    a = features.ngram_counts(["5828=5828"], 12)
    b = features.ngram_counts(["1234=4321"], 12)
    assert a[1].tolist() == b[1].tolist()


def test_trivial_values_are_left_out() -> None:
    rec = record("/products/boots-12", "page=2&q=1%27+or+1%3D1&ref=abc")
    values = features.nontrivial_values(rec)
    assert values == [("args:q", "args", "1%27+or+1%3D1")]
    assert features.nontrivial_values(record("/a/../../etc/passwd")) == [
        ("path", "path", "/a/../../etc/passwd")
    ]


@given(st.text(alphabet="abcXYZ019_-.~/%+&'<> ", max_size=20), st.sampled_from(["args", "path"]))
def test_raw_triviality_never_hides_a_non_trivial_value(raw: str, kind: str) -> None:
    text, _ = features.decode_value(raw, kind)
    if features.raw_is_trivial(raw, kind):
        assert features.is_trivial(text, kind)


def test_dense_and_sparse_features_agree() -> None:
    values = [features.make_value("q", "args", v) for v in ("<script>", "abc def", "%2e%2e/")]
    dense = features.dense_features(values, 10)
    rows, cols, data, n = features.sparse_parts(values, 10)
    rebuilt = np.zeros((n, features.feature_width(10)), dtype=np.float32)
    rebuilt[rows, cols] = data
    assert np.allclose(dense, rebuilt)
    assert dense[2, (1 << 10) + features.NUMERIC_NAMES.index("dot_dot")] > 0


def test_an_ordinary_address_encoded_twice_carries_no_double_encoding_feature() -> None:
    column = features.NUMERIC_NAMES.index("double_encoding")
    home = features.make_value("args:redirect_to", "args", "%252F")
    hidden = features.make_value("args:next", "args", "%252e%252e%252fetc%252fpasswd")
    assert home.text == "/"
    rows = features.numeric_features([home, hidden])
    assert rows[0, column] == 0.0
    assert rows[1, column] == 1.0
