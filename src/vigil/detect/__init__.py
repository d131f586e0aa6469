"""Runtime detection stages over batches of records: normalisation, rules compiled into one
matcher, injection analysis, exclusions, scoring, behaviour windows (`behaviour`) and models
(`ml`). Training lives in `vigil.training`."""

from typing import TYPE_CHECKING

from vigil._exports import lazy_exports

if TYPE_CHECKING:
    from vigil.detect.engine import DetectionEngine
    from vigil.detect.exclusions import ExclusionSet
    from vigil.detect.result import Detection, RuleMatch
    from vigil.detect.ruleset import Ruleset, load_ruleset
    from vigil.detect.scoring import points_to_score

__all__ = [
    "Detection",
    "DetectionEngine",
    "ExclusionSet",
    "RuleMatch",
    "Ruleset",
    "load_ruleset",
    "points_to_score",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "Detection": "vigil.detect.result",
        "DetectionEngine": "vigil.detect.engine",
        "ExclusionSet": "vigil.detect.exclusions",
        "RuleMatch": "vigil.detect.result",
        "Ruleset": "vigil.detect.ruleset",
        "load_ruleset": "vigil.detect.ruleset",
        "points_to_score": "vigil.detect.scoring",
    },
)
