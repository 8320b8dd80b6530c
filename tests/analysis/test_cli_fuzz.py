"""``python -m analysis estimate`` on random specs and files (hypothesis): the answer is always
exit 0 with a JSON document, or exit 2 with one line starting ``error:``, never a traceback.

The command is run in-process through ``analysis.cli.main`` (what ``__main__`` calls), so an
uncaught exception fails the test with its traceback. EXAMPLES cases are generated per run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from analysis.cli import main

EXAMPLES = 250
COLUMNS = ["unit", "psu", "w", "q1", "q2", "N", "name"]
NAMES = st.sampled_from([*COLUMNS, "missing", "", "Q1", "unit "])
CELLS = st.one_of(
    st.sampled_from(["1", "2", "4", "5", "NA", "", "0", "-3", "1e308", "nan", "inf", "U1", "U2"]),
    st.integers(-5, 200).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=6),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 1000), st.floats(), st.text(max_size=8)
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
MAYBE_NAME = st.one_of(NAMES, SCALARS, st.lists(NAMES, max_size=3))
STATISTICS = st.sampled_from(
    ["mean", "proportion", "total", "ratio", "composite", "difference", "median", "", None]
)


@st.composite
def estimates(draw: st.DrawFn) -> dict[str, Any]:
    junk = draw(st.integers(0, 9)) == 0  # now and then a wrong type where a name belongs
    estimate: dict[str, Any] = {"id": draw(SCALARS if junk else st.text(min_size=1, max_size=4))}
    estimate["statistic"] = draw(STATISTICS)
    optional = {
        "variable": MAYBE_NAME,
        "success": st.one_of(
            st.lists(st.one_of(st.integers(0, 6), st.text(max_size=2)), max_size=3), SCALARS
        ),
        "numerator": MAYBE_NAME,
        "denominator": MAYBE_NAME,
        "items": st.lists(NAMES, max_size=3),
        "item_weights": st.lists(st.floats(-1, 2), max_size=3),
        "by": st.one_of(st.lists(NAMES, max_size=2), SCALARS),
        "where": st.lists(
            st.fixed_dictionaries(
                {
                    "column": NAMES,
                    "op": st.sampled_from(["==", "!=", "<", ">=", "~"]),
                    "value": SCALARS,
                }
            ),
            max_size=2,
        ),
        "ci": st.sampled_from(
            ["logit", "xlogit", "beta", "wilson", "asin", "likelihood", "mean", "x"]
        ),
        "level": st.one_of(st.floats(-1, 2), SCALARS),
        "deff": st.one_of(st.booleans(), st.just("replace"), SCALARS),
        "between": st.one_of(
            st.fixed_dictionaries({"column": NAMES, "a": CELLS, "b": CELLS}), ANY_JSON
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            estimate[key] = draw(strategy)
    return estimate


PLAUSIBLE_CELLS = {
    "unit": st.sampled_from(["U1", "U2", "U3"]),
    "psu": st.integers(1, 8).map(str),
    "w": st.sampled_from(["1", "2.5", "10", "1", "2.5", "10", "0", "-1", "NA"]),
    "q1": st.sampled_from(["1", "2", "3", "4", "5", "NA", ""]),
    "q2": st.sampled_from(["1", "4", "5", "NA", "1", "4", "5", "x"]),
    "N": st.sampled_from(["60", "60", "60", "0.5", "3"]),
    "name": st.text("abc", max_size=3),
}
PLAUSIBLE_ESTIMATE = st.fixed_dictionaries(
    {
        "id": st.text("pqm", min_size=1, max_size=2),
        "statistic": st.sampled_from(["mean", "proportion", "total", "composite", "difference"]),
        "variable": st.sampled_from(["q1", "q2"]),
        "success": st.sampled_from([[4, 5], [5], [4, 5], ["x"]]),
        "items": st.just(["q1", "q2"]),
        "between": st.just({"column": "unit", "a": "U1", "b": "U2"}),
    },
    optional={
        "by": st.sampled_from([["unit"], ["name"], ["unit", "name"]]),
        "ci": st.sampled_from(["logit", "beta", "wilson", "likelihood", "mean"]),
        "deff": st.sampled_from([True, "replace"]),
        "where": st.just([{"column": "q1", "op": ">=", "value": 2}]),
    },
)


@st.composite
def plausible_specs(draw: st.DrawFn) -> tuple[str, str]:
    """Near-valid files: the real columns, mostly sensible values, a design that may work."""
    rows = draw(st.lists(st.fixed_dictionaries(PLAUSIBLE_CELLS), min_size=1, max_size=15))
    data = "\n".join([",".join(COLUMNS), *(",".join(r[c] for c in COLUMNS) for r in rows)])
    design = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "ids": st.sampled_from([["psu"], [], ["unit", "psu"]]),
                "strata": st.sampled_from(["unit", None]),
                "weights": st.sampled_from(["w", None]),
                "fpc": st.sampled_from([["N"], []]),
                "nest": st.booleans(),
                "lonely_psu": st.sampled_from(["fail", "adjust", "remove", "certainty", "average"]),
            },
        )
    )
    estimates = draw(st.lists(PLAUSIBLE_ESTIMATE, min_size=1, max_size=3))
    for n, estimate in enumerate(estimates[1:]):  # ids are unique, bar the odd duplicate
        estimate["id"] += str(n)
    return data, json.dumps({"data": "d.csv", "design": design, "estimates": estimates})


@st.composite
def specs(draw: st.DrawFn) -> tuple[str, str]:
    """(CSV text, SPEC.json text): anything from broken text to a near-valid spec."""
    if draw(st.booleans()):
        return draw(plausible_specs())
    header = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=7, unique=True))
    rows = draw(st.lists(st.lists(CELLS, min_size=len(header), max_size=len(header)), max_size=12))
    data = "\n".join([",".join(header), *(",".join(c.replace(",", ";") for c in r) for r in rows)])
    if draw(st.integers(0, 9)) == 0:
        return data, draw(st.one_of(st.text(max_size=40), ANY_JSON.map(json.dumps)))
    junk = draw(st.integers(0, 9)) == 0
    design = {
        key: draw(strategy)
        for key, strategy in {
            "ids": st.one_of(st.lists(NAMES, max_size=2), SCALARS),
            "strata": MAYBE_NAME,
            "weights": MAYBE_NAME,
            "fpc": st.one_of(st.lists(NAMES, max_size=2), SCALARS),
            "nest": st.one_of(st.booleans(), SCALARS),
            "lonely_psu": st.sampled_from(
                ["fail", "adjust", "remove", "certainty", "average", "?"]
            ),
        }.items()
        if draw(st.booleans())
    }
    calibration = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "method": st.sampled_from(["poststratify", "rake", "calibrate", "x"]),
                    "by": st.lists(NAMES, max_size=2),
                    "population": st.one_of(
                        st.lists(
                            st.dictionaries(NAMES, st.one_of(CELLS, SCALARS), max_size=3),
                            max_size=3,
                        ),
                        ANY_JSON,
                    ),
                }
            ),
            ANY_JSON,
        )
    )
    spec = {
        "data": draw(st.sampled_from(["none.csv", "../d.csv", ""])) if junk else "d.csv",
        "design": design,
        "calibration": calibration,
        "estimates": draw(ANY_JSON if junk else st.lists(estimates(), min_size=1, max_size=3)),
    }
    return data, json.dumps(spec)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=specs())
def test_random_specs_exit_0_with_json_or_2_with_one_error_line(
    case: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, spec = case
    (tmp_path / "d.csv").write_text(data, encoding="utf-8")
    path = tmp_path / "SPEC.json"
    path.write_text(spec, encoding="utf-8")
    capsys.readouterr()
    status = main(["estimate", str(path)])
    out, err = capsys.readouterr()
    event(f"exit {status}")  # --hypothesis-show-statistics shows how often each happened
    if status == 0:
        assert err == ""
        assert "estimates" in json.loads(out)
    else:
        assert status == 2, (status, err)
        assert out == ""
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
