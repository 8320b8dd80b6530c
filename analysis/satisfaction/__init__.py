"""Satisfaction indices of a survey round, with their uncertainty (shared/domain.md).

Estimators. For item j and domain d (the province, a unit, a unit with its sub-units, a service
area, a unit x area cell, or a desk), with w_i the weight of response i (``analysis.weighting``),

    p_dj = sum_{i in d} w_i v_ij / sum_{i in d} w_i r_ij

where r_ij = 1 if response i answered item j (blank and not applicable are not answers) and
v_ij = r_ij x 1[answer in the item's satisfied values] for the top-2-box index (``TOP2BOX``, in
percent) or r_ij x answer for the mean score (``MEAN``; ``MEAN_PCT`` divides by the scale
maximum and multiplies by 100). Criterion index: p_dj. Element index: the mean of its criterion
indices; aspect: the mean of its elements; overall: the mean of the aspects (of the elements
when there is one aspect). Each is C_d = sum_j a_j p_dj for coefficients a_j. When a criterion
has no answer in a domain, the means run over the criteria (elements, aspects) that have
answers, and the row is flagged ``criteria_missing``. The overall question is reported beside
the overall index (kind ``overall_question``) and is never part of it.

The package, layer by layer: ``inputs`` (the template and the responses, coerced once),
``stats`` (per-cell sufficient statistics), ``composites`` (the coefficients of every index),
``variance`` (the design, linearised variances and design effects per domain), ``intervals``
(intervals and reliability flags on arrays), ``table`` (the result: ``IndexTable`` and
``IndexRow``), ``estimate`` (``index_table`` and ``index_table_from_stats``, which put the layers
together) and ``compare`` (verdicts against targets, ranks and changes between rounds).

Use::

    template = TemplateSpec(items, elements, aspects, index_definition="top2box")
    responses = Responses.build(template, response_id=..., unit=..., area=..., desk=...,
                                answers=...)        # or Responses.from_frame / from_long
    weighting = weights_from_dossiers(responses, dossier_counts)   # or rake_to_margins(...)
    table = index_table(responses, template, weighting)
    table.find(Level.UNIT, unit="U01")              # the unit's overall index, an IndexRow
    trees = subtrees_from_parents({"U01": None, "X01": "U01", "X02": "U01"})
    table = index_table(responses, template, weighting,
                        levels=(*DEFAULT_LEVELS, Level.UNIT_TREE), subtrees=trees)
    table.find(Level.UNIT_TREE, unit="U01")         # U01 with its sub-units, one domain
    weighting.diagnostics.issues                    # cells excluded or not represented

``analysis.satisfaction.compare`` reads a table against targets, other units and earlier
rounds; ``analysis.reliability_scale`` gives Cronbach's alpha per element. When the responses
are too many to hold at once, compute ``cell_stats`` chunk by chunk (or in the database),
``merge_stats`` them and call ``index_table_from_stats``.

"""

from analysis.satisfaction.estimate import (
    index_table,
    index_table_from_stats,
    subtrees_from_parents,
)
from analysis.satisfaction.inputs import (
    AspectSpec,
    CellCount,
    ElementSpec,
    IndexDefinition,
    ItemRole,
    ItemSpec,
    Responses,
    TemplateSpec,
)
from analysis.satisfaction.stats import (
    PSU,
    CellStats,
    cell_stats,
    keep_blocks,
    merge_stats,
    stats_from_arrays,
    stats_to_arrays,
)
from analysis.satisfaction.table import (
    DEFAULT_LEVELS,
    FLAGS,
    OVERALL,
    IndexKind,
    IndexRow,
    IndexTable,
    Level,
)
from analysis.weighting import (
    CellIssue,
    CellProblem,
    Weighting,
    WeightingDiagnostics,
    WeightingMethod,
    rake_to_margins,
    weights_from_dossiers,
    weights_from_sample,
)

__all__ = [
    "DEFAULT_LEVELS",
    "FLAGS",
    "OVERALL",
    "PSU",
    "AspectSpec",
    "CellCount",
    "CellIssue",
    "CellProblem",
    "CellStats",
    "ElementSpec",
    "IndexDefinition",
    "IndexKind",
    "IndexRow",
    "IndexTable",
    "ItemRole",
    "ItemSpec",
    "Level",
    "Responses",
    "TemplateSpec",
    "Weighting",
    "WeightingDiagnostics",
    "WeightingMethod",
    "cell_stats",
    "index_table",
    "index_table_from_stats",
    "keep_blocks",
    "merge_stats",
    "rake_to_margins",
    "stats_from_arrays",
    "stats_to_arrays",
    "subtrees_from_parents",
    "weights_from_dossiers",
    "weights_from_sample",
]
