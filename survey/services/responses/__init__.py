"""Citizens' responses: recording one (once, whole, only into an open round; on PostgreSQL
statement by statement on the driver), the layers against ballot stuffing, excluding and
restoring, free-text comments and their moderation, and the counting rule: the one definition
of which responses count that every page, export and estimate uses (``counting``).
"""
