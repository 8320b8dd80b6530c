"""The method statements printed with a round's results (pages, the report's annex, the public
page), written from the round's own questionnaire version so that a reader following them can
recompute the published overall index (shared/domain.md, "The indices"): what a criterion's
index is (top-2-box share or mean score), how elements, aspects and the overall index are built
from it (one aspect: the mean of the elements; several: the mean of the aspects, each the mean
of its elements), and that the overall question stands beside the index, not in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import get_locale
from flask_babel import gettext as _

from analysis.satisfaction import IndexDefinition
from survey.models import Element, Item, ItemRole, TemplateVersion
from survey.services.questionnaires.frozen import kept_while_frozen


def method_statements(
    version: TemplateVersion, measure: IndexDefinition | str, kind: str = "qr"
) -> list[str]:
    """Sentences in the reader's language, in reading order; the first says which kind of
    round (``Round.kind``) the answers come from."""
    measure = IndexDefinition(measure)
    out: list[str] = [kind_statement(kind)]
    if measure == IndexDefinition.TOP2BOX:
        out.append(
            _(
                "Chỉ số của mỗi tiêu chí: tỷ lệ phần trăm (có gia quyền) người trả lời hài lòng "
                "hoặc rất hài lòng, trong số người đã trả lời tiêu chí đó; “không áp dụng” và "
                "bỏ trống không tính vào mẫu số."
            )
        )
    elif measure == IndexDefinition.MEAN_PCT:
        out.append(
            _(
                "Chỉ số của mỗi tiêu chí: điểm trung bình (có gia quyền) của người đã trả lời, "
                "chia cho điểm tối đa của thang đo, nhân 100."
            )
        )
    else:
        out.append(
            _(
                "Chỉ số của mỗi tiêu chí: điểm trung bình (có gia quyền) trên thang đo của câu "
                "hỏi, của người đã trả lời."
            )
        )
    shape = _shape(version)
    if len(shape.aspects) <= 1:
        out.append(
            _(
                "Chỉ số của mỗi yếu tố là trung bình cộng các chỉ số tiêu chí của yếu tố đó; "
                "chỉ số chung là trung bình cộng các chỉ số của %(n)s yếu tố.",
                n=sum(n for _vi, _en, n in shape.aspects),
            )
        )
    else:
        english = str(get_locale()) == "en"
        parts = "; ".join(
            _("%(aspect)s: %(n)s yếu tố", aspect=(en if english and en else vi), n=n)
            for vi, en, n in shape.aspects
        )
        out.append(
            _(
                "Chỉ số của mỗi yếu tố là trung bình cộng các chỉ số tiêu chí của yếu tố đó; "
                "chỉ số của mỗi khía cạnh là trung bình cộng các chỉ số yếu tố của khía cạnh "
                "đó; chỉ số chung là trung bình cộng các chỉ số của %(n)s khía cạnh (%(parts)s), "
                "không phải trung bình của tất cả các yếu tố.",
                n=len(shape.aspects),
                parts=parts,
            )
        )
    out.append(
        _(
            "Khi một tiêu chí (yếu tố, khía cạnh) không có câu trả lời nào trong một đơn vị, "
            "trung bình tính trên những tiêu chí (yếu tố, khía cạnh) có câu trả lời."
        )
    )
    if shape.overall:
        out.append(
            _("Câu hỏi về mức độ hài lòng chung được báo cáo riêng, không tính vào chỉ số chung.")
        )
    return out


def kind_statement(kind: str) -> str:
    """How a round of this kind collects its answers, and what that means for its numbers."""
    if kind == "sample":
        return _(
            "Đợt chọn mẫu: người trả lời được chọn ngẫu nhiên từ danh sách hồ sơ đã hoàn thành, "
            "phân tầng theo đơn vị × lĩnh vực, và trả lời theo thư mời (trên điện thoại, phiếu "
            "giấy hoặc phỏng vấn). Mỗi phiếu có trọng số bằng nghịch đảo xác suất chọn, hiệu "
            "chỉnh cho người không trả lời; kết quả không gộp với các đợt khảo sát qua mã QR."
        )
    return _(
        "Đợt khảo sát qua mã QR tại quầy: người trả lời là những người tự quét mã, không phải "
        "một mẫu ngẫu nhiên; mỗi phiếu có trọng số theo số hồ sơ của ô đơn vị × lĩnh vực."
    )


@dataclass(frozen=True)
class _Shape:
    """What the statements say of a version: its aspects with criteria, as (name, English
    name, elements with criteria), and whether it asks the overall question."""

    aspects: tuple[tuple[str, str, int], ...]
    overall: bool


def _shape(version: TemplateVersion) -> _Shape:
    """The version's shape; a frozen version's is kept per application (it cannot change, and
    walking its aspects, elements and items took a dozen queries a page)."""
    return kept_while_frozen(version, "method shape", lambda: _shape_of(version))


def _shape_of(version: TemplateVersion) -> _Shape:
    aspects = []
    for aspect in version.aspects:
        n = len([e for e in aspect.elements if _criteria(e)])
        if n:
            aspects.append((aspect.name, aspect.name_en or "", n))
    return _Shape(tuple(aspects), any(i.role == ItemRole.OVERALL for i in version.items))


def _criteria(element: Element) -> list[Item]:
    return [i for i in element.items if i.role == ItemRole.CRITERION]
