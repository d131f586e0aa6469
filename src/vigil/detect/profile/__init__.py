"""The per-site positive profile: what each site's endpoints, parameters and values normally
look like, learned from its own traffic, and the scorer that says which expectation a request
breaks (`model` learns, `judge` scores, `shapes` holds the pieces both read)."""

from typing import TYPE_CHECKING

from vigil._exports import lazy_exports

if TYPE_CHECKING:
    from vigil.detect.profile.judge import ProfileJudge, ProfileVerdict
    from vigil.detect.profile.model import SiteProfile

__all__ = ["ProfileJudge", "ProfileVerdict", "SiteProfile"]

__getattr__ = lazy_exports(
    __name__,
    {
        "ProfileJudge": "vigil.detect.profile.judge",
        "ProfileVerdict": "vigil.detect.profile.judge",
        "SiteProfile": "vigil.detect.profile.model",
    },
)
