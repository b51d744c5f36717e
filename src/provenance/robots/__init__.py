"""robots.txt and consent: RFC 9309 matching, snapshots (live, Common Crawl captures, local bodies), and
per-document, per-agent outcomes."""
