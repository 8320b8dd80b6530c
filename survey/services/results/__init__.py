"""A round's results: the index table computed from the counted responses through ``analysis``
(``indices``), what the result pages, the print report and the index exports read off it
(``pages``), the charts (``figures`` assembles them in the reader's language, ``charts`` draws),
and the public result pages (``publication``).
"""
