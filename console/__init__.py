"""The web console: acknowledgement pages now; the review queue in a later issue."""
