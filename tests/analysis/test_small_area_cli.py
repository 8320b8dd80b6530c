"""``python -m analysis small-area SPEC.json``: the contract's output on sae's milk example, whose
numbers are sae's (tests/data/small_area/SOURCE.md), and bad input giving exit status 2 with one
line on standard error naming the problem, never a traceback."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analysis.small_area_cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "small_area"
ROOT = Path(__file__).resolve().parents[2]
MILK_SPEC: dict[str, Any] = {
    "data": "milk.csv",
    "area": "SmallArea",
    "estimate": "yi",
    "se": "SD",
    "covariates": [{"column": "MajorArea", "type": "categorical"}],
    "method": "REML",
}


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _write(tmp_path: Path, spec: dict[str, Any] | str, csv_text: str | bytes | None = None) -> Path:
    if csv_text is None:
        shutil.copy(DATA / "milk.csv", tmp_path / "milk.csv")
    elif isinstance(csv_text, bytes):
        (tmp_path / "milk.csv").write_bytes(csv_text)
    else:
        (tmp_path / "milk.csv").write_text(csv_text, encoding="utf-8")
    path = tmp_path / "SPEC.json"
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec), encoding="utf-8")
    return path


def test_golden_output_on_sae_milk_example(tmp_path: Path) -> None:
    spec = _write(tmp_path, MILK_SPEC)
    done = subprocess.run(
        [sys.executable, "-m", "analysis", "small-area", str(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    out = json.loads(done.stdout)
    assert list(out) == [
        "method", "converged", "iterations", "variance_component", "loglike", "aic", "bic",
        "fixed_effects", "areas",
    ]  # fmt: skip
    fit = [r for r in _rows("milk_sae13_fit.csv") if r["method"] == "REML"]
    assert (out["method"], out["converged"], out["iterations"]) == ("REML", True, 4)
    assert out["variance_component"] == pytest.approx(float(fit[0]["refvar"]), abs=1e-9)
    assert [out["loglike"], out["aic"], out["bic"]] == pytest.approx(
        [float(fit[0][k]) for k in ("loglike", "AIC", "BIC")], abs=1e-9
    )
    assert [f["term"] for f in out["fixed_effects"]] == [
        "(Intercept)", "MajorArea=2", "MajorArea=3", "MajorArea=4",
    ]  # fmt: skip
    assert [f["estimate"] for f in out["fixed_effects"]] == pytest.approx(
        [float(r["beta"]) for r in fit], abs=1e-9
    )
    assert [f["se"] for f in out["fixed_effects"]] == pytest.approx(
        [float(r["std.error"]) for r in fit], abs=1e-9
    )
    sae = _rows("milk_mseFH_REML_emdi.csv")
    areas = out["areas"]
    assert [a["area"] for a in areas] == [str(i) for i in range(1, 44)]
    assert list(areas[0]) == [
        "area", "direct", "direct_se", "eblup", "mse", "shrinkage", "synthetic",
    ]  # fmt: skip
    assert (areas[0]["direct"], areas[0]["direct_se"], areas[0]["synthetic"]) == (
        1.099,
        0.163,
        False,
    )
    assert [a["eblup"] for a in areas] == pytest.approx([float(r["EBLUP"]) for r in sae], abs=1e-9)
    assert [a["mse"] for a in areas] == pytest.approx([float(r["MSE"]) for r in sae], abs=1e-9)
    refvar = float(sae[0]["variance"])
    assert areas[0]["shrinkage"] == pytest.approx(refvar / (refvar + 0.163**2), abs=1e-9)


@pytest.mark.parametrize(("method", "reference"), [("ML", "milk_mseFH_ML_emdi.csv"), ("FH", None)])
def test_method_is_passed_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], method: str, reference: str | None
) -> None:
    spec = _write(tmp_path, {**MILK_SPEC, "method": method})
    assert main([str(spec)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == method
    mse = [a["mse"] for a in out["areas"]]
    if reference is not None:
        assert mse == pytest.approx([float(r["MSE"]) for r in _rows(reference)], abs=1e-9)
    else:  # sae's FH-method MSEs of areas 1 and 43, as printed in samplics' tests
        assert [mse[0], mse[42]] == pytest.approx([0.012757016, 0.009484220], abs=1e-9)


def test_area_without_responses_gets_synthetic_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_text = (DATA / "milk.csv").read_text(encoding="utf-8") + "44,0,,,,4\n"
    spec = _write(tmp_path, MILK_SPEC, csv_text)
    assert main([str(spec)]) == 0
    out = json.loads(capsys.readouterr().out)
    new = out["areas"][-1]
    beta = [f["estimate"] for f in out["fixed_effects"]]
    assert (new["area"], new["direct"], new["direct_se"], new["synthetic"]) == (
        "44",
        None,
        None,
        True,
    )
    assert new["shrinkage"] == 0.0
    assert new["eblup"] == pytest.approx(beta[0] + beta[3], abs=1e-12)
    assert new["mse"] > out["variance_component"]
    # The 43 others are sae's, untouched by the new area.
    sae = _rows("milk_mseFH_REML_emdi.csv")
    assert [a["eblup"] for a in out["areas"][:43]] == pytest.approx(
        [float(r["EBLUP"]) for r in sae], abs=1e-9
    )


def _milk_with(row_1: str) -> str:
    lines = (DATA / "milk.csv").read_text(encoding="utf-8").splitlines()
    return "\n".join([lines[0], row_1, *lines[2:]]) + "\n"


BAD: list[tuple[dict[str, Any] | str, str | bytes | None, str]] = [
    ({**MILK_SPEC, "data": "absent.csv"}, None, "data file not found"),
    ({**MILK_SPEC, "se": "sd"}, None, "unknown column 'sd' (se) in milk.csv"),
    ({**MILK_SPEC, "area": "Area"}, None, "unknown column 'Area' (area)"),
    (
        {**MILK_SPEC, "covariates": [{"column": "Region", "type": "categorical"}]},
        None,
        "unknown column 'Region' (covariate)",
    ),
    (MILK_SPEC, _milk_with("1,191,1.099,0,0.148,1"), "area '1': se must be positive (got 0)"),
    (MILK_SPEC, _milk_with("1,191,1.099,,0.148,1"), "area '1': se is missing"),
    (MILK_SPEC, _milk_with("1,191,1.099,NA,0.148,1"), "area '1': se is missing"),
    (
        MILK_SPEC,
        _milk_with("1,191,high,0.163,0.148,1"),
        "column 'yi' (estimate) is not numeric: area '1' has 'high'",
    ),
    (MILK_SPEC, _milk_with("2,191,1.099,0.163,0.148,1"), "area '2' appears twice"),
    (
        MILK_SPEC,
        _milk_with("1,191,1.099,0.163,0.148,"),
        "area '1': covariate 'MajorArea' is missing, needed for its direct estimate",
    ),
    (
        {**MILK_SPEC, "covariates": [{"column": "ni", "type": "numeric"}]},
        _milk_with("1,lots,1.099,0.163,0.148,1"),
        "column 'ni' (numeric covariate) is not numeric: area '1' has 'lots'",
    ),
    ({**MILK_SPEC, "method": "EBLUP"}, None, "'method': unknown method 'EBLUP'; use one of REML"),
    (
        {**MILK_SPEC, "covariates": [{"column": "MajorArea", "type": "factor"}]},
        None,
        "covariates[0]: type must be 'numeric' or 'categorical'",
    ),
    (
        {**MILK_SPEC, "covariates": [{"colum": "MajorArea"}]},
        None,
        "covariates[0]: unknown key(s) 'colum'",
    ),
    ({k: v for k, v in MILK_SPEC.items() if k != "se"}, None, "spec lacks 'se'"),
    ('{"data": "milk.csv", ', None, "spec is not valid JSON"),
    ("[1, 2]", None, "spec must be a JSON object"),
    (MILK_SPEC, "SmallArea,yi\n1,2\n", "unknown column 'SD' (se)"),
    (MILK_SPEC, "", "data file has no header row"),
    (MILK_SPEC, b"\xff\xfe\x00a,b\n", "data file is not UTF-8 text"),
]


@pytest.mark.parametrize(("spec", "csv_text", "message"), BAD)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    spec: dict[str, Any] | str,
    csv_text: str | bytes | None,
    message: str,
) -> None:
    path = _write(tmp_path, spec, csv_text)
    assert main([str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("error: ")
    assert message in captured.err


def test_unconverged_fit_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """sae's eblupFH does not converge on this sample by REML and returns no estimates."""
    shutil.copy(DATA / "nonconverging.csv", tmp_path / "areas.csv")
    spec = {"data": "areas.csv", "area": "area", "estimate": "y", "se": "se",
            "covariates": [{"column": "x", "type": "numeric"}]}  # fmt: skip
    (tmp_path / "SPEC.json").write_text(json.dumps(spec), encoding="utf-8")
    assert main([str(tmp_path / "SPEC.json")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "error: the REML fit did not converge in 100 Fisher-scoring steps "
        "(as sae's eblupFH, no estimates are given)\n"
    )


def test_missing_spec_and_usage_through_python_m(tmp_path: Path) -> None:
    for args, message in [
        ([str(tmp_path / "none.json")], "error: spec file not found"),
        ([], "usage: python -m analysis small-area SPEC.json"),
        (["a.json", "b.json"], "usage: python -m analysis small-area SPEC.json"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "analysis", "small-area", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 2
        assert done.stdout == ""
        assert done.stderr.count("\n") == 1 and done.stderr.startswith(message)
        assert "Traceback" not in done.stderr
