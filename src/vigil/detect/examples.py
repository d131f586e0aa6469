"""Running the must_match / must_not_match examples that every rule carries."""

from __future__ import annotations

from dataclasses import dataclass

from vigil.detect.engine import DetectionEngine
from vigil.detect.result import RuleMatch
from vigil.detect.ruleset import Example, Rule, Ruleset
from vigil.detect.samples import record_from_text


@dataclass(frozen=True, slots=True)
class ExampleFailure:
    """An example that did not behave as its rule says."""

    rule: Rule
    example: Example
    expected: bool
    matches: tuple[RuleMatch, ...]

    def describe(self) -> str:
        verb = "should fire on" if self.expected else "should not fire on"
        others = ", ".join(sorted({m.rule_id for m in self.matches})) or "none"
        return f"{self.rule.id} {verb} {self.example.describe()} (rules that fired: {others})"


class ExampleRunner:
    """Runs examples with one engine per paranoia level, built on first use."""

    def __init__(self, ruleset: Ruleset, matcher: str = "auto") -> None:
        self.ruleset = ruleset
        self.matcher = matcher
        self._engines: dict[int, DetectionEngine] = {}

    def engine(self, paranoia_level: int) -> DetectionEngine:
        if paranoia_level not in self._engines:
            self._engines[paranoia_level] = DetectionEngine(
                self.ruleset, paranoia_level=paranoia_level, matcher=self.matcher
            )
        return self._engines[paranoia_level]

    def matches(self, rule: Rule, example: Example) -> tuple[RuleMatch, ...]:
        """Every match on `example` at the paranoia level of `rule`."""
        record = record_from_text(
            example.request,
            user_agent=example.user_agent,
            referer=example.referer,
            client_ip=example.client_ip,
            headers=example.headers,
            status=example.status,
        )
        return self.engine(rule.paranoia).detect_batch([record])[0].matches

    def check(self, rule: Rule, example: Example, expected: bool) -> ExampleFailure | None:
        """None if `rule` fires on `example` exactly when `expected` says so."""
        matches = self.matches(rule, example)
        fired = any(match.rule_id == rule.id for match in matches)
        return None if fired == expected else ExampleFailure(rule, example, expected, matches)

    def failures(self) -> list[ExampleFailure]:
        """Every example of every rule that misbehaves."""
        found: list[ExampleFailure] = []
        for rule in self.ruleset:
            for example in rule.must_match:
                failure = self.check(rule, example, True)
                if failure:
                    found.append(failure)
            for example in rule.must_not_match:
                failure = self.check(rule, example, False)
                if failure:
                    found.append(failure)
        return found
