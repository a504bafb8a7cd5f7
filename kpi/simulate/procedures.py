"""The procedures (TTHC) the simulator draws from, per unit level, with their weights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Procedure:
    """A procedure (TTHC) as the simulator needs it.

    Codes are in the national procedure database format and illustrative. ``office`` is
    the specialised office the desk transfers the dossier to (a ``dossier.transferred``),
    ``per_page`` multiplies the fee by 1–5 pages (chứng thực).
    """

    code: str
    name: str
    days: int
    weight: float
    fee_vnd: int = 0
    full_online: bool = False
    components: int = 2
    office: str | None = None
    per_page: bool = False


COMMUNE_PROCEDURES: tuple[Procedure, ...] = (
    Procedure("2.000815", "Chứng thực bản sao từ bản chính", 1, 16, 2000, False, 1, None, True),
    Procedure("2.000884", "Chứng thực chữ ký trong giấy tờ, văn bản", 1, 6, 10000, False, 1),
    Procedure("2.001035", "Chứng thực hợp đồng, giao dịch liên quan đến nhà ở", 2, 3, 50000,
              False, 4),
    Procedure("1.001193", "Đăng ký khai sinh", 1, 18, 0, True, 3),
    Procedure("1.000656", "Đăng ký khai tử", 1, 5, 0, True, 2),
    Procedure("1.000894", "Đăng ký kết hôn", 3, 4, 0, False, 3),
    Procedure("1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân", 3, 12, 0, True, 2),
    Procedure("2.000635", "Cấp bản sao Trích lục hộ tịch", 1, 6, 8000, True, 1),
    Procedure("1.001022", "Đăng ký nhận cha, mẹ, con", 3, 2, 0, False, 4),
    Procedure("1.003596", "Xác nhận hộ gia đình làm nông nghiệp có mức sống trung bình", 5, 6,
              0, False, 3),
    Procedure("2.000744", "Hỗ trợ chi phí mai táng cho đối tượng bảo trợ xã hội", 3, 3, 0,
              False, 4),
    Procedure("1.001776", "Thực hiện trợ cấp xã hội hàng tháng", 15, 5, 0, False, 5),
    Procedure("1.000775", "Xác nhận đơn đề nghị vay vốn hỗ trợ tạo việc làm", 5, 10, 0, True,
              2),
)

DISTRICT_PROCEDURES: tuple[Procedure, ...] = (
    Procedure("2.000720", "Đăng ký thành lập hộ kinh doanh", 3, 20, 100000, True, 3, "PTCKH"),
    Procedure("2.000575", "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh", 3, 8, 50000,
              True, 2, "PTCKH"),
    Procedure("1.001699", "Cấp giấy phép xây dựng nhà ở riêng lẻ", 15, 6, 75000, False, 6,
              "PKTHT"),
    Procedure("1.004227", "Đăng ký biến động quyền sử dụng đất", 10, 4, 30000, False, 5,
              "PTNMT"),
    Procedure("1.003347", "Chứng thực bản sao từ bản chính (Phòng Tư pháp)", 1, 4, 2000, False,
              1, None, True),
    Procedure("1.001766", "Thay đổi, cải chính, bổ sung thông tin hộ tịch", 3, 8, 0, True, 3,
              "PTP"),
    Procedure("1.005097", "Cấp Giấy phép bán lẻ rượu", 10, 2, 200000, False, 4, "PKTHT"),
    Procedure("1.001731", "Giải quyết chế độ trợ cấp đối tượng bảo trợ xã hội", 15, 14, 0,
              False, 5, "PLĐTBXH"),
    Procedure("2.000286", "Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", 15, 3,
              0, False, 5, "PKT"),
    Procedure("1.002335", "Xét tặng danh hiệu Gia đình văn hóa", 5, 12, 0, True, 2, "PVHTT"),
    Procedure("1.001978", "Đăng ký khai sinh có yếu tố nước ngoài", 5, 5, 0, True, 4, "PTP"),
    Procedure("1.000593", "Cấp đổi giấy phép lái xe nội địa (tiếp nhận)", 5, 10, 0, True, 2),
)

PROCEDURES_BY_LEVEL: dict[str, tuple[Procedure, ...]] = {
    "province": DISTRICT_PROCEDURES,
    "district": DISTRICT_PROCEDURES,
    "commune": COMMUNE_PROCEDURES,
}


def expected_fee_share(procedures: Sequence[Procedure]) -> float:
    """Weighted share of dossiers whose procedure has a fee (before exemptions)."""
    total = sum(p.weight for p in procedures)
    return sum(p.weight for p in procedures if p.fee_vnd > 0) / total


__all__ = [
    "COMMUNE_PROCEDURES",
    "DISTRICT_PROCEDURES",
    "PROCEDURES_BY_LEVEL",
    "Procedure",
    "expected_fee_share",
]
