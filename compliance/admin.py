"""Admin of the compliance app; each area registers its own models in its own module."""

from compliance import consent_admin  # noqa: F401
