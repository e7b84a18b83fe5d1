"""vatrack."""
