"""robots.txt and consent: RFC 9309 matching, snapshots (live, Common Crawl captures, local bodies), and
per-document, per-agent outcomes."""

from provenance.robots.matcher import Decision, RobotsTxt, Rule, is_allowed, path_of

__all__ = ["Decision", "RobotsTxt", "Rule", "is_allowed", "path_of"]
