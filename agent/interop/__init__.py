"""Specs from and to the formats teams already have: OpenSLO v1 and Sloth."""
