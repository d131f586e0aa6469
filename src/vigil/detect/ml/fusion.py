"""The one formula that fuses rule, model and anomaly scores into a request's final score.

Inputs, all in [0, 1]: ``r`` the rules engine's score, ``p`` the classifier's calibrated attack
probability (the highest over the request's values), ``t`` the classifier's operating threshold
(chosen in training for a false-positive rate of about 0.1 % and at least 0.5), ``a`` the
anomaly score against the site's baseline, ``b`` a behaviour score (0 when not supplied), ``s``
the classifier's stand-alone threshold (0.99).

    m = 0.5 + 0.4 · (p − t) / (1 − t)      if p ≥ t and (p ≥ s or r > 0 or a ≥ 0.5)
                                                        (MEDIUM at t, HIGH from halfway to 1)
      = 0.45                               if t ≤ p < s and nothing else saw anything
      = 0.45 · p / t                       if p < t     (always LOW)
    q = 0.55 · a                                        (anomaly alone: MEDIUM only if a ≥ 0.91)
    c = 0.55 if a ≥ 0.5 and p ≥ t / 2, else 0           (two weaker opinions that agree)
    δ = 0.1 · (1 − p / 0.05)  if the rules matched exactly one rule, not a probe, only on
        values the classifier scored (the path or argument values), with r < 0.7, and
        p < 0.05 and a < 0.5;  else 0
    fused = max(r − δ, m, q, c, b)

and an allowlisted request keeps ``fused = r``.

Why this shape:

- the rules stay authoritative for what they are sure of: a HIGH rule verdict is never
  lowered, and the models can only add;
- the classifier raises a request to MEDIUM only above the threshold its validation gates
  were measured at, and on its own — no rule matched anything, the site's profile finds
  nothing unusual — only when it is nearly certain (``s``): a value no rule has anything to
  say about is most often just a value the classifier never saw (a search, a tracking id, a
  URL in an argument), and on benign traffic unlike its training data the classifier alone
  was wrong far more often than its validation promised. Any rule match, even one worth too
  few points to flag on its own, corroborates it; it reaches HIGH only with a clearly higher
  probability;
- a *lone*, non-HIGH rule hit on a value the classifier saw and is confident is benign can be
  lowered, by at most 0.1: enough to turn one warning-level match (0.58) into LOW, never
  enough to hide several rules or a critical one. Hits on anything the classifier did not
  score (headers, argument names, plain values it skips) are never lowered, and neither are
  probes: which file a request asks for is not something the classifier judges;
- the anomaly model knows only "unusual for this site", not "malicious", so alone it reaches
  MEDIUM only when a value is far out of profile, and otherwise needs the classifier's
  half-agreement.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Final

from vigil.detect.result import RuleMatch
from vigil.severity import HIGH_FROM as HIGH
from vigil.severity import MEDIUM_FROM as MEDIUM

LOW_CONFIDENCE: Final = 0.05
MAX_LOWERING: Final = 0.1
ANOMALY_WEIGHT: Final = 0.55
ANOMALY_FLAG: Final = 0.5
AGREEMENT_SCORE: Final = 0.55
ALONE_THRESHOLD: Final = 0.99
"""The probability from which the classifier flags a request that nothing else flagged."""
UNCORROBORATED: Final = 0.45
PROBE: Final = "probe"
"""The category of rules that no classifier opinion lowers."""


def ml_contribution(p: float, threshold: float, corroborated: bool = True) -> float:
    """The score the classifier gives a request (`m` in the module docstring); without
    `corroborated` (no rule match, nothing unusual for the site) it flags only from
    `ALONE_THRESHOLD` on."""
    if p >= threshold:
        if not corroborated and p < max(ALONE_THRESHOLD, threshold):
            return UNCORROBORATED
        return MEDIUM + 0.4 * (p - threshold) / max(1.0 - threshold, 1e-9)
    return UNCORROBORATED * p / threshold


def lowering(
    rule_score: float,
    matches: Sequence[RuleMatch],
    p: float,
    anomaly: float,
    scored: Collection[str],
) -> float:
    """How much a lone low-confidence rule hit is lowered (`δ` in the module docstring)."""
    # The cheap tests first: most requests a rule matched are HIGH, or the classifier agrees.
    if rule_score >= HIGH or rule_score <= 0 or p >= LOW_CONFIDENCE or anomaly >= ANOMALY_FLAG:
        return 0.0
    if len({m.rule_id for m in matches}) != 1:
        return 0.0
    # A probe names a file or console the site may not have: the classifier judges whether a
    # value reads like an injection and has no opinion on which file was asked for.
    if any(m.category == PROBE for m in matches):
        return 0.0
    if not all(m.target in scored for m in matches):
        return 0.0
    return MAX_LOWERING * (1.0 - p / LOW_CONFIDENCE)


def fuse(
    rule_score: float,
    matches: Sequence[RuleMatch],
    p: float,
    threshold: float,
    anomaly: float = 0.0,
    behaviour: float = 0.0,
    *,
    scored: Collection[str] = (),
    allowlisted: bool = False,
) -> float:
    """The final score of one request (the formula of the module docstring), in [0, 1]."""
    if allowlisted:
        return rule_score
    m = ml_contribution(p, threshold, rule_score > 0 or anomaly >= ANOMALY_FLAG)
    q = ANOMALY_WEIGHT * anomaly
    c = AGREEMENT_SCORE if anomaly >= ANOMALY_FLAG and p >= threshold / 2 else 0.0
    r = rule_score - lowering(rule_score, matches, p, anomaly, scored)
    return float(min(1.0, max(0.0, r, m, q, c, behaviour)))
