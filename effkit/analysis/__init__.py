"""Static counting on the meta device: formulas (one registry), tracer, per-layer Profile."""

from effkit.analysis.profile import MAC_DEFINITION, Profile, Totals, profile

__all__ = ["MAC_DEFINITION", "Profile", "Totals", "profile"]
