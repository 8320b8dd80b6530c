"""What the product does, as small typed functions, grouped by feature: ``organisation``,
``questionnaires``, ``rounds``, ``responses``, ``results``, ``exports``, ``posters``,
``accounts``. They flush; the request or command commits.

Shared by every feature: ``access`` (who may see which units), ``audit`` (the append-only trail
of staff changes), ``paging`` (pages of in-memory lists), ``ratelimits`` (counting against limits
in the shared storage) and ``demo`` (the demo province).
"""
