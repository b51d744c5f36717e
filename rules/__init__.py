"""Shipped rules (policy as data); installed as provenance.rules so they are found from any directory."""
