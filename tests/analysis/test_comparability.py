"""Which indices of two rounds compare (shared/domain.md, "Comparing rounds"): the same
questionnaire definition compares everything; another version only the criteria scored the same
way in both, the elements made of exactly those criteria, and never the overall index."""

from __future__ import annotations

from analysis.satisfaction import AspectSpec, ElementSpec, ItemSpec, TemplateSpec
from analysis.satisfaction.compare import comparability


def _spec(
    elements: dict[str, tuple[str, ...]],
    aspects: dict[str, tuple[str, ...]],
    *,
    scales: dict[str, tuple[float, ...]] | None = None,
    definition: str = "top2box",
) -> TemplateSpec:
    scales = scales or {}
    items = tuple(
        ItemSpec(code, scale=scales.get(code, (1, 2, 3, 4, 5)), satisfied=(4, 5))
        for codes in elements.values()
        for code in codes
    )
    return TemplateSpec(
        items,
        tuple(ElementSpec(c, i) for c, i in elements.items()),
        tuple(AspectSpec(c, e) for c, e in aspects.items()),
        definition,  # type: ignore[arg-type]
    )


BASE = {"A": ("A1", "A2"), "B": ("B1", "B2")}


def test_the_same_definition_compares_everything() -> None:
    found = comparability(_spec(BASE, {"HC": ("A", "B")}), _spec(BASE, {"HC": ("A", "B")}))
    assert found.same_definition and found.left_out == ()
    assert found.criteria == ("A1", "A2", "B1", "B2") and found.elements == ("A", "B")


def test_a_new_aspect_keeps_the_shared_elements_and_drops_the_overall() -> None:
    new = _spec(BASE | {"P": ("P1",)}, {"HC": ("A", "B"), "CS": ("P",)})
    found = comparability(new, _spec(BASE, {"HC": ("A", "B")}))
    assert not found.same_definition
    assert found.criteria == ("A1", "A2", "B1", "B2") and found.elements == ("A", "B")
    assert found.aspects == ("HC",) and found.left_out == ("P1",)


def test_a_criterion_moved_or_rescaled_breaks_its_element_only() -> None:
    moved = _spec({"A": ("A1",), "B": ("A2", "B1", "B2")}, {"HC": ("A", "B")})
    found = comparability(moved, _spec(BASE, {"HC": ("A", "B")}))
    assert found.criteria == ("A1", "A2", "B1", "B2") and found.elements == ()
    assert not found.same_definition
    rescaled = _spec(BASE, {"HC": ("A", "B")}, scales={"B2": (1, 2, 3, 4, 5, 6, 7)})
    found = comparability(rescaled, _spec(BASE, {"HC": ("A", "B")}))
    assert found.criteria == ("A1", "A2", "B1") and found.elements == ("A",)
    assert found.left_out == ("B2",) and not found.same_definition


def test_another_index_definition_compares_criteria_but_not_the_overall() -> None:
    found = comparability(
        _spec(BASE, {"HC": ("A", "B")}, definition="mean"), _spec(BASE, {"HC": ("A", "B")})
    )
    assert not found.same_definition and found.elements == ("A", "B")
