"""Behaviour detection: per-client sliding windows that catch scans, brute force and floods."""

from vigil.detect.behaviour.config import BehaviourConfig, LoginEndpoint
from vigil.detect.behaviour.engine import FEATURE_NAMES, BehaviourEngine
from vigil.detect.behaviour.events import DETECTORS, BehaviourEvent

__all__ = [
    "DETECTORS",
    "FEATURE_NAMES",
    "BehaviourConfig",
    "BehaviourEngine",
    "BehaviourEvent",
    "LoginEndpoint",
]
