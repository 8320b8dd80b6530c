"""Design-based estimation for satisfaction surveys (no Flask, no SQLAlchemy)."""
