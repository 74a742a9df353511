"""Shared test settings: hypothesis without wall-clock deadlines (CI machines are slow and
shared), derandomised under CI so a red run can be reproduced exactly."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "conveyor", deadline=None, derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("conveyor")
