"""The composite indices of a template as coefficients on its criteria. Criterion index: p_dj.
Element index: the mean of its criterion indices; aspect: the mean of its elements; overall: the
mean of the aspects (of the elements when there is one aspect). Each is C_d = sum_j a_j p_dj.
When a criterion has no answer in a domain, the means run over the criteria (elements, aspects)
that have answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.satisfaction.inputs import (
    ItemRole,
    TemplateSpec,
)
from analysis.satisfaction.stats import groups_of
from analysis.satisfaction.table import OVERALL, IndexKind


@dataclass(frozen=True)
class _Composites:
    kinds: tuple[IndexKind, ...]
    codes: tuple[str, ...]
    item: np.ndarray  # (C,) the item of a single-item index, -1 otherwise
    group: np.ndarray  # (C,) column of CellStats.answering_any, -1 for single items
    support: np.ndarray  # (K, C) items an index can draw on
    elements: np.ndarray  # (K, E) criterion membership
    aspects: np.ndarray  # (E, A) element membership
    minimum: np.ndarray  # (K,) scale minimum
    maximum: np.ndarray  # (K,) scale maximum


def _composites(template: TemplateSpec) -> _Composites:
    codes = template.codes
    group_names, supports = groups_of(template)
    kinds: list[IndexKind] = []
    names: list[str] = []
    item: list[int] = []
    group: list[int] = []
    support: list[np.ndarray] = []

    def add(kind: IndexKind, name: str, j: int, g: int, s: np.ndarray) -> None:
        kinds.append(kind)
        names.append(name)
        item.append(j)
        group.append(g)
        support.append(s)

    for j, spec in enumerate(template.items):
        if spec.role == ItemRole.CRITERION:
            add(IndexKind.CRITERION, spec.code, j, -1, np.arange(len(codes)) == j)
    for element in template.elements:
        g = group_names.index(f"element:{element.code}")
        add(IndexKind.ELEMENT, element.code, -1, g, supports[:, g])
    if len(template.aspects) > 1:
        for aspect in template.aspects:
            g = group_names.index(f"aspect:{aspect.code}")
            add(IndexKind.ASPECT, aspect.code, -1, g, supports[:, g])
    g = group_names.index("overall")
    add(IndexKind.OVERALL, OVERALL, -1, g, supports[:, g])
    question = template.overall_item
    if question is not None:
        j = template.column(question.code)
        add(IndexKind.OVERALL_QUESTION, question.code, j, -1, np.arange(len(codes)) == j)
    element_codes = [e.code for e in template.elements]
    elements = np.column_stack([np.isin(codes, e.items) for e in template.elements])
    aspects = np.column_stack([np.isin(element_codes, a.elements) for a in template.aspects])
    return _Composites(
        kinds=tuple(kinds),
        codes=tuple(names),
        item=np.array(item),
        group=np.array(group),
        support=np.column_stack(support),
        elements=elements.astype(float),
        aspects=aspects.astype(float),
        minimum=np.array([i.minimum for i in template.items]),
        maximum=np.array([i.maximum for i in template.items]),
    )


def _coefficients(comp: _Composites, available: np.ndarray) -> np.ndarray:
    """(D, K, C) coefficients a of every index in every domain: criteria pick their item;
    elements average their available criteria, aspects their available elements, the overall
    index the available aspects."""
    d, k = available.shape
    out = np.zeros((d, k, len(comp.kinds)))
    single = np.flatnonzero(comp.item >= 0)
    out[:, comp.item[single], single] = 1.0
    avail = available.astype(float)
    per_element = avail @ comp.elements  # available criteria per element
    element_coef = (avail[:, :, None] * comp.elements[None]) / np.where(
        per_element > 0, per_element, 1.0
    )[:, None, :]
    element_ok = (per_element > 0).astype(float)
    per_aspect = element_ok @ comp.aspects
    aspect_coef = np.einsum("dke,ea->dka", element_coef * element_ok[:, None, :], comp.aspects)
    aspect_coef /= np.where(per_aspect > 0, per_aspect, 1.0)[:, None, :]
    aspect_ok = (per_aspect > 0).astype(float)
    overall_coef = (aspect_coef * aspect_ok[:, None, :]).sum(axis=2) / np.maximum(
        aspect_ok.sum(axis=1), 1.0
    )[:, None]
    e = a = 0
    for c, kind in enumerate(comp.kinds):
        if kind == IndexKind.ELEMENT:
            out[:, :, c] = element_coef[:, :, e]
            e += 1
        elif kind == IndexKind.ASPECT:
            out[:, :, c] = aspect_coef[:, :, a]
            a += 1
        elif kind == IndexKind.OVERALL:
            out[:, :, c] = overall_coef
    return out
