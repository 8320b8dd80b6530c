"""The reproduction bundle of a round: one ZIP with the response data (the CSV export), its
codebook, a README in Vietnamese and English, and scripts for R (survey package), Stata and
SPSS that declare the round's design and recompute its overall index (top-2-box, percent) for
the province and for one unit, with the product's own numbers written at the top of each for
comparison.

The design is the one ``round_index`` uses: strata = unit x service area cell, weights
w = N_cell / n_cell, the finite-population correction from the cell's dossiers, each response
its own PSU, a single-response cell handled as R's ``survey.lonely.psu = "adjust"`` (Stata's
``singleunit(centered)``). The overall index is sum_j a_j p_j over the criteria, a_j from
``microdata.criteria_weights`` (the same definition as the SPEC.json), p_j the weighted share of
those answering criterion j who gave a satisfied answer: a ratio of two totals, so its
linearised variance keeps every covariance between the criteria.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from analysis.satisfaction import IndexDefinition, IndexKind, IndexRow, Level
from analysis.satisfaction import ItemRole as AnalysisRole
from survey.models import Round, RoundKind
from survey.services.exports.microdata import (
    NOT_APPLICABLE,
    _safe,
    codebook,
    criteria_weights,
    weights_caveat,
    write_csv,
)
from survey.services.questionnaires.frozen import questionnaire_spec
from survey.services.results.indices import round_frame, round_index, template_index

FILES = ("data.csv", "codebook.csv", "README.txt", "reproduce.R", "reproduce.do", "reproduce.sps")


@dataclass(frozen=True)
class Target:
    """What the scripts reproduce: the criteria with their weights and satisfied values, the
    unit they single out, and the product's numbers for the province and that unit."""

    round_: Round
    weights: dict[str, float]  # export column -> weight in the overall index
    satisfied: dict[str, tuple[int, ...]]  # export column -> answers counted as satisfied
    unit: str | None
    unit_name: str
    province: IndexRow | None
    unit_row: IndexRow | None


def target(round_: Round) -> Target:
    """The criteria weights from ``criteria_weights``, the satisfied values from the index
    definition the result pages use (``template_index``), and the round's index rows: the
    province and the unit with the most responses (among those that answered every criterion,
    when there is one, so that its overall index has all its weights)."""
    frame = round_frame(round_)
    spec = questionnaire_spec(round_.template_version)
    weights = criteria_weights(spec.items, round_.template_version)
    satisfied = {
        _safe(item.code): tuple(int(v) for v in item.satisfied)
        for item in template_index(round_.template_version).spec.items
        if item.role == AnalysisRole.CRITERION
    }
    table = round_index(round_, frame=frame)
    top2box = IndexDefinition.TOP2BOX
    province = next(
        iter(table.rows(level=Level.PROVINCE, kind=IndexKind.OVERALL, measure=top2box)), None
    )
    units = table.rows(level=Level.UNIT, kind=IndexKind.OVERALL, measure=top2box)
    units.sort(key=lambda r: ("criteria_missing" in r.flags, -r.n, r.unit or ""))
    unit_row = units[0] if units else None
    names = dict(frame.units.values())
    unit = unit_row.unit if unit_row else None
    return Target(
        round_=round_,
        weights=weights,
        satisfied={code: satisfied.get(code, ()) for code in weights},
        unit=_line(unit) if unit is not None else None,
        unit_name=_line(names.get(unit or "", "")),
        province=province,
        unit_row=unit_row,
    )


def _line(text: str) -> str:
    """A name or code on one line: written into a script's comments, a line break would end
    the comment and make the rest of the name code."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _r_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # R reads JSON's escapes as its own


def _stata_string(text: str) -> str:
    return f'`"{text}"\''  # compound quotes: the text may hold a double quote


def _spss_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _weight(value: float) -> str:
    """A criterion's weight as the fraction it is (1/20), when it is one exactly: it reads
    better in a script than 0.05 and parses to the same number."""
    fraction = Fraction(value).limit_denominator(100_000)
    if fraction.numerator / fraction.denominator == value:
        return f"{fraction.numerator}/{fraction.denominator}"
    return repr(value)


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.8f}"


def _product_lines(t: Target, comment: str) -> list[str]:
    """The product's numbers, as comment lines of a script."""
    lines = [f"{comment} The product's own numbers (round_index / the index CSV), to compare with:"]
    for label, row in (("province", t.province), (f"unit {t.unit} ({t.unit_name})", t.unit_row)):
        if row is None:
            lines.append(f"{comment}   {label}: no counted responses")
            continue
        lines.append(
            f"{comment}   {label}: overall index {_number(row.estimate)}, "
            f"SE {_number(row.se)} (n = {row.n})"
        )
    return lines


def _weight_rule(r: Round) -> str:
    if r.kind == RoundKind.SAMPLE:
        return "N_h / n_h adjusted for nonresponse and trimmed (the weight column)"
    return "N_cell / n_cell"


def _header(t: Target, comment: str, runs: str) -> list[str]:
    r = t.round_
    version = r.template_version
    return [
        f"{comment} Hài lòng: round #{r.id} {_line(r.name)!r}, questionnaire "
        f"{version.template.code} v{version.number}.",
        f"{comment} Reproduces the round's overall satisfaction index (chỉ số hài lòng chung:",
        f"{comment} top-2-box, percent) for the province and for unit {t.unit} ({t.unit_name}),"
        if t.unit is not None
        else f"{comment} top-2-box, percent) for the province (no unit has responses yet),",
        f"{comment} the unit with the most responses, with standard errors by Taylor",
        f"{comment} linearisation keeping every covariance between the criteria. Design: strata",
        f"{comment} = unit x service area cell, weight = {_weight_rule(r)}, finite-population",
        f"{comment} correction from the cell's dossiers, single-response cells centred",
        f"{comment} (R's lonely.psu 'adjust', Stata's singleunit(centered)). Responses without",
        f"{comment} a weight (no dossier count for their cell) are in no stratum: dropped.",
        *_product_lines(t, comment),
        f"{comment} {runs}",
        "",
    ]


def _values(t: Target, code: str) -> str:
    return ", ".join(map(str, t.satisfied[code]))


def _weights_text(t: Target, comment: str) -> list[str]:
    return [
        f"{comment}   {code}: weight {_weight(w)}, satisfied = {_values(t, code)}"
        for code, w in t.weights.items()
    ]


def r_script(t: Target) -> str:
    codes = list(t.weights)
    satisfied = ",\n  ".join(f"{c} = c({', '.join(map(str, t.satisfied[c]))})" for c in codes)
    composite = " +\n    ".join(f"{_weight(t.weights[c])} * s_{c} / a_{c}" for c in codes)
    lines = [
        *_header(t, "#", "Run: Rscript reproduce.R (in this folder; needs the survey package)."),
        "suppressPackageStartupMessages(library(survey))",
        'options(survey.lonely.psu = "adjust")',
        "",
        'data <- read.csv("data.csv", na.strings = c("", "NA"), fileEncoding = "UTF-8-BOM",',
        "                 stringsAsFactors = FALSE)",
        "# A cell without a dossier count has no weight: its responses are in no stratum.",
        "data <- data[!is.na(data$weight), ]",
        "",
        "# The criteria and the answers counted as satisfied. s_X = 1 when criterion X has a",
        "# satisfied answer; a_X = 1 when X was answered (blank and 'not applicable' are not in",
        "# the denominator).",
        f"satisfied <- list(\n  {satisfied}\n)",
        "for (v in names(satisfied)) {",
        "  answered <- !is.na(data[[v]])",
        '  data[[paste0("s_", v)]] <- as.numeric(answered & data[[v]] %in% satisfied[[v]])',
        '  data[[paste0("a_", v)]] <- as.numeric(answered)',
        "}",
        "",
        "design <- svydesign(ids = ~1, strata = ~cell, weights = ~weight, fpc = ~dossiers,",
        "                    data = data)",
        "",
        "# Each criterion's share is a ratio of two totals (what svyratio estimates). The overall",
        "# index weights them as the product does (the mean of the aspects, each the mean of its",
        "# elements, each the mean of its criteria); svycontrast linearises it on the totals'",
        "# full covariance matrix: svyratio's influence functions, without its all-pairs matrix.",
        'totals <- reformulate(c(paste0("s_", names(satisfied)), paste0("a_", names(satisfied))))',
        f"overall <- quote(100 * (\n    {composite}\n))",
        "",
        "report <- function(label, d) {",
        "  index <- svycontrast(svytotal(totals, d), list(overall = overall))",
        '  cat(sprintf("%s: estimate %.10f SE %.10f\\n", label, coef(index), SE(index)))',
        "}",
        'report("province", design)',
        *(
            [f"report({_r_string(f'unit {t.unit}')}, subset(design, unit == {_r_string(t.unit)}))"]
            if t.unit is not None
            else []
        ),
        "",
    ]
    return "\n".join(lines)


def stata_script(t: Target) -> str:
    codes = list(t.weights)
    ratios = " ///\n    ".join(f"({c}: s_{c}/a_{c})" for c in codes)
    # lincom takes a plain linear combination: each ratio times 100 x its weight.
    composite = " ///\n    + ".join(f"{100 * t.weights[c]!r}*_b[{c}]" for c in codes)
    lines = [
        *_header(t, "*", "Run: do reproduce.do (in this folder; Stata 14 or later)."),
        "version 14",
        "clear",
        'import delimited using "data.csv", varnames(1) case(preserve) encoding("utf-8") clear',
        "* A cell without a dossier count has no weight: its responses are in no stratum.",
        "drop if missing(weight)",
        "",
        "* Each criterion's weight in the overall index and the answers counted as satisfied:",
        *_weights_text(t, "*"),
        f"local criteria {' '.join(codes)}",
        "foreach v of local criteria {",
        "    * 'NA' (not applicable) makes a column text: it is a missing answer.",
        "    capture confirm string variable `v'",
        "    if !_rc {",
        f'        replace `v\' = "" if `v\' == "{NOT_APPLICABLE}"',
        "        destring `v', replace",
        "    }",
        "    generate byte a_`v' = !missing(`v')",
        "}",
        *[
            f"generate byte s_{c} = inlist({c}, {', '.join(map(str, t.satisfied[c]))})"
            if len(t.satisfied[c]) > 1
            else f"generate byte s_{c} = ({c} == {t.satisfied[c][0]})"
            for c in codes
            if t.satisfied[c]
        ],
        "encode cell, generate(stratum)",
        "svyset _n [pweight=weight], strata(stratum) fpc(dossiers) singleunit(centered)",
        "",
        "* Province: each criterion's share as a ratio, then the overall index.",
        f"svy: ratio {ratios}",
        f"lincom {composite}",
        "",
        f"* Unit {t.unit}: the same, as a subpopulation of the whole design.",
        f"generate byte in_unit = (unit == {_stata_string(t.unit or '')})",
        f"svy, subpop(in_unit): ratio {ratios}",
        f"lincom {composite}",
        "",
    ]
    return "\n".join(lines)


def spss_script(t: Target, columns: list[str]) -> str:
    codes = list(t.weights)
    numeric = {"weight", "dossiers"}
    variables = "\n    ".join(
        f"{name} {'F20.10' if name in numeric else 'A8' if name in t.weights else 'A255'}"
        for name in columns
    )
    indicators = []
    for c in codes:
        values = ", ".join(map(str, t.satisfied[c]))
        indicators += [
            f"COMPUTE a_{c} = NOT SYSMIS({c}).",
            f"COMPUTE s_{c} = 0.",
            f"IF (ANY({c}, {values})) s_{c} = 1.",
        ]
    ratio_lines = "\n".join(f"  /RATIO NUMERATOR=s_{c} DENOMINATOR=a_{c}" for c in codes)
    lines = [
        *_header(t, "*", "Run: with the Complex Samples option, after CD to this folder."),
        "* SPSS gives each criterion's ratio (its top-2-box share); the overall index is their",
        "* weighted mean, x 100, with these weights (its SE needs their covariances: see",
        "* reproduce.R or reproduce.do). SPSS has no 'lonely PSU' option: a cell with a single",
        "* response may give a different SE there. Change to the folder of data.csv first,",
        "* e.g. CD 'C:/hailong/bundle'.",
        *_weights_text(t, "*"),
        "",
        "GET DATA /TYPE=TXT /FILE='data.csv' /ENCODING='UTF8' /ARRANGEMENT=DELIMITED",
        "  /DELIMITERS=',' /QUALIFIER='\"' /FIRSTCASE=2",
        f"  /VARIABLES=\n    {variables}.",
        "* 'NA' (not applicable) and blanks become system-missing.",
        f"ALTER TYPE {' '.join(codes)} (F8.0).",
        "SELECT IF NOT SYSMIS(weight).",
        *indicators,
        f"COMPUTE in_unit = (unit = {_spss_string(t.unit or '')}).",
        "EXECUTE.",
        "",
        "CSPLAN ANALYSIS",
        "  /PLAN FILE='hailong.csaplan'",
        "  /PLANVARS ANALYSISWEIGHT=weight",
        "  /DESIGN STRATA=cell",
        "  /ESTIMATOR TYPE=EQUAL_WOR",
        "  /POPSIZE VARIABLE=dossiers.",
        "",
        "* Province: each criterion's share.",
        "CSDESCRIPTIVES",
        "  /PLAN FILE='hailong.csaplan'",
        ratio_lines,
        "  /STATISTICS SE",
        "  /MISSING SCOPE=ANALYSIS.",
        "",
        f"* Unit {t.unit}: the same, as a subpopulation (in_unit = 1).",
        "CSDESCRIPTIVES",
        "  /PLAN FILE='hailong.csaplan'",
        ratio_lines,
        "  /STATISTICS SE",
        "  /SUBPOP TABLE=in_unit",
        "  /MISSING SCOPE=ANALYSIS.",
        "",
    ]
    return "\n".join(lines)


def _paragraphs(*texts: str) -> list[str]:
    """Each text wrapped to 88 characters, a blank line after it."""
    lines: list[str] = []
    for text in texts:
        lines += [*textwrap.wrap(text, 88, subsequent_indent="    " if text[:1] == "-" else ""), ""]
    return lines


def readme(t: Target, count: int) -> str:
    r = t.round_
    version = r.template_version
    na = NOT_APPLICABLE
    return "\n".join(
        [
            f"Hài lòng — {_line(r.name)} (#{r.id}), {version.template.code} v{version.number}",
            f"Số phiếu được tính / counted responses: {count}",
            "",
            "TIẾNG VIỆT",
            "",
            *_paragraphs(
                "- data.csv: mỗi phiếu được tính một dòng (như bản xuất CSV), kèm đơn vị, lĩnh "
                "vực, ô (đơn vị x lĩnh vực), quầy, số hồ sơ của ô (dossiers) và trọng số (weight).",
                "- codebook.csv: tên biến, nhãn và giá trị của từng cột.",
                "- reproduce.R: tính lại chỉ số hài lòng chung (tỷ lệ hài lòng, %) của tỉnh và của "
                f"đơn vị {t.unit} bằng gói survey của R, kèm sai số chuẩn; đầu tệp ghi số của "
                "phần mềm để so sánh.",
                "- reproduce.do: như trên, bằng Stata (svy: ratio, lincom).",
                "- reproduce.sps: tỷ lệ hài lòng từng tiêu chí bằng SPSS Complex Samples.",
                "Thiết kế: phân tầng theo ô đơn vị x lĩnh vực, mỗi phiếu là một đơn vị mẫu, hiệu "
                "chỉnh quần thể hữu hạn theo số hồ sơ của ô; ô chỉ có một phiếu được căn giữa "
                "(R: lonely.psu 'adjust').",
                f"Mã '{na}' = không áp dụng (R đọc là NA), ô trống = không trả lời: cả hai không "
                "nằm trong mẫu số của tiêu chí. Phiếu thuộc ô chưa có số hồ sơ không có trọng số "
                "và bị bỏ ra.",
            ),
            "ENGLISH",
            "",
            *_paragraphs(
                "- data.csv: one row per counted response (as the CSV export), with unit, service "
                "area, cell (unit x area), desk, the cell's dossiers and the weight.",
                "- codebook.csv: each column's name, label and values.",
                "- reproduce.R: recomputes the overall index (top-2-box, percent) for the province "
                f"and unit {t.unit} with R's survey package, with standard errors; the product's "
                "numbers are at the top of the script for comparison.",
                "- reproduce.do: the same in Stata (svy: ratio, lincom).",
                "- reproduce.sps: each criterion's top-2-box share with SPSS Complex Samples.",
                "Design: strata = unit x service area cell, each response its own PSU, "
                "finite-population correction from the cell's dossier count; a cell with one "
                "response is centred (R's lonely.psu 'adjust', Stata's singleunit(centered)).",
                f"'{na}' = not applicable (read as NA by R), empty = not answered: neither is in a "
                "criterion's denominator. Responses in a cell without a dossier count have no "
                "weight and are left out.",
                weights_caveat(r),
            ),
        ]
    )


def write_bundle(round_: Round, path: Path) -> int:
    """Write the reproduction bundle of ``round_`` to ``path``; returns the responses in it."""
    t = target(round_)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        with bundle.open("data.csv", "w", force_zip64=True) as f:
            count = write_csv(round_, f)
        book = io.StringIO(newline="")
        csv.writer(book).writerows(codebook(round_))
        bundle.writestr("codebook.csv", "\ufeff" + book.getvalue())
        bundle.writestr("README.txt", readme(t, count))
        columns = [str(line[0]) for line in codebook(round_)[1:]]
        bundle.writestr("reproduce.R", r_script(t))
        bundle.writestr("reproduce.do", stata_script(t))
        bundle.writestr("reproduce.sps", spss_script(t, columns))
    return count
