"""Internal consistency of the criteria of each element: Cronbach's alpha.

    alpha = k / (k - 1) (1 - sum_j s_j^2 / s_T^2)        (Cronbach 1951)

with s_j^2 the variance of criterion j and s_T^2 that of the sum of the k criteria, over the
responses that answered all k of them (listwise deletion: a blank or not-applicable answer
leaves a response out of its element's alpha). Equivalently alpha = k / (k - 1)
(1 - tr S / 1'S1) for the covariance matrix S of the k criteria; the normalising constant of S
cancels, so n or n - 1 gives the same alpha.

Weighted alpha: the same with the weighted covariance matrix S_w = sum_i w_i (y_i - ybar_w)
(y_i - ybar_w)' / sum_i w_i. It estimates the alpha of the population the weights describe (the
dossiers of the period, under the weighting's assumption); with whole-number weights it equals
the unweighted alpha of the data with each response repeated w_i times. The unweighted alpha
describes the respondents themselves. ``element_reliability`` is weighted when given a
``Weighting`` (responses it excludes drop out), unweighted otherwise. Alpha is undefined (NaN)
for an element with a single criterion, with fewer than two complete responses, or when the
total score does not vary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.satisfaction.inputs import Responses, TemplateSpec
from analysis.weighting import Weighting


def cronbach_alpha(items: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Cronbach's alpha of the columns of ``items`` (rows with a NaN are left out), weighted
    when ``weights`` are given (one non-negative weight per row).

    Parameters
    ----------
    items : numpy.ndarray
        (n, k) item scores, NaN where not answered.
    weights : numpy.ndarray | None
        One non-negative weight per row.

    Returns
    -------
    float
        Cronbach's alpha (NaN with fewer than two items or rows).
    """
    data = np.asarray(items, dtype=float)
    if data.ndim != 2:
        raise ValueError("items must be a table: one row per response, one column per item")
    k = data.shape[1]
    complete = ~np.isnan(data).any(axis=1)
    if weights is None:
        w = np.ones(len(data))
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(data),):
            raise ValueError("weights must have one value per row")
        if not np.isfinite(w).all() or (w < 0).any():
            raise ValueError("weights must be finite and non-negative")
    keep = complete & (w > 0)
    if k < 2 or keep.sum() < 2:
        return math.nan
    y, w = data[keep], w[keep]
    centred = y - (w @ y) / w.sum()
    covariance = (centred * w[:, None]).T @ centred / w.sum()
    total = float(covariance.sum())
    if total <= 0:
        return math.nan
    return float(k / (k - 1) * (1 - np.trace(covariance) / total))


@dataclass(frozen=True)
class ElementReliability:
    element: str
    alpha: float  # NaN where undefined
    items: int
    complete: int  # responses that answered every criterion of the element (and weigh > 0)
    weighted: bool


def element_reliability(
    responses: Responses, template: TemplateSpec, weighting: Weighting | None = None
) -> tuple[ElementReliability, ...]:
    """Cronbach's alpha of each element's criteria on their answer scores.

    Parameters
    ----------
    responses : Responses
        The responses.
    template : TemplateSpec
        The questionnaire version.
    weighting : Weighting | None
        The responses' weights (unweighted when None).

    Returns
    -------
    tuple[ElementReliability, ...]
        One result per element, in questionnaire order.
    """
    if responses.items != template.codes:
        raise ValueError("the responses were built for a different template")
    weights = None if weighting is None else weighting.row_weights(responses)
    out = []
    for element in template.elements:
        columns = [template.column(code) for code in element.items]
        data = responses.answers[:, columns]
        complete = ~np.isnan(data).any(axis=1)
        if weights is not None:
            complete &= weights > 0
        out.append(
            ElementReliability(
                element=element.code,
                alpha=cronbach_alpha(data, weights),
                items=len(columns),
                complete=int(complete.sum()),
                weighted=weights is not None,
            )
        )
    return tuple(out)
