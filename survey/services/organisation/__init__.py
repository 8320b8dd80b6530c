"""The province's organisation: units and their tree, desks and their tokens, service areas,
merging units after a reform, and the organisation as CSV files (read, checked, applied, written).

Owns the ``Unit``, ``Desk`` and ``ServiceArea`` rows; nothing else changes them.
"""
