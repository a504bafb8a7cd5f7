"""The ``data`` of each event type of the contract (docs/contract.md), as pydantic v2
models: one model per shape, with its limits (:mod:`schemas.fields`) and, in its docstring,
the domain's Vietnamese term (the list: :mod:`schemas.events`). Extra fields are ignored
(docs/contract.md lets producers add optional fields freely); these models alone decide what
is valid and word the rejection reasons.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

from schemas.fields import (
    Channel,
    Code,
    Count,
    Days,
    Flag,
    OnlineLevel,
    PaymentMethod,
    PetitionChannel,
    Rating,
    ReturnChannel,
    Timestamp,
    UnitCode,
    UnitLevel,
)


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EmptyData(_Data):
    """Types whose ``data`` carries no required field."""


class ReceivedData(_Data):
    """Tiếp nhận hồ sơ."""

    unit_code: UnitCode
    unit_level: UnitLevel
    procedure_code: UnitCode
    channel: Channel
    online_level: OnlineLevel = OnlineLevel.none
    full_online_eligible: Flag = False
    due_at: Timestamp | None = None
    processing_days: Days | None = None
    fee_required: Flag = False
    paper_result: Flag = True
    handling_unit_code: UnitCode | None = None
    """Cơ quan có thẩm quyền giải quyết (v1.1); default: ``unit_code``."""
    handling_unit_level: UnitLevel | None = None
    """v1.1; default: ``unit_level``."""
    reuse_eligible: Flag = False
    """v1.2: the procedure has components that data the state holds may replace."""
    citizen_data_used: Flag = False
    """v1.2: the dossier used the national population database (dữ liệu dân cư)."""

    @model_validator(mode="after")
    def _due_known(self) -> ReceivedData:
        if self.due_at is None and self.processing_days is None:
            raise ValueError("one of due_at / processing_days is required")
        return self


class TransferredData(_Data):
    """Chuyển xử lý / liên thông."""

    from_unit: UnitCode
    to_unit: UnitCode


class SupplementRequestedData(_Data):
    """Yêu cầu bổ sung hồ sơ: the SLA clock pauses."""

    reason: str | None = None


class ExtendedData(_Data):
    """Xin lỗi và hẹn lại: a new appointment with an apology letter."""

    new_due_at: Timestamp
    apology_ref: str | None = None


class ResolvedData(_Data):
    """Đã xử lý xong."""

    result_electronic: Flag = False


class ReturnedData(_Data):
    """Đã trả kết quả."""

    return_channel: ReturnChannel | None = None


class RejectedData(_Data):
    reason: str | None = None


class DigitizedData(_Data):
    """Số hóa thành phần hồ sơ."""

    components_total: Count
    components_digitized: Count
    components_reused: Count = 0

    @model_validator(mode="after")
    def _bounded(self) -> DigitizedData:
        if self.components_digitized > self.components_total:
            raise ValueError("components_digitized must not exceed components_total")
        return self


class StoppedData(_Data):
    """Thông báo dừng giải quyết hồ sơ (v1.1)."""

    reason: str | None = None


class SyncedData(_Data):
    """Đồng bộ hồ sơ lên Cổng DVCQG (v1.1)."""

    target: str = "dvcqg"
    """``dvcqg`` (the national portal), ``personal_storage`` (v1.2: the citizen's store on
    the portal, kho dữ liệu cá nhân) or another system's name."""


class PaymentData(_Data):
    """Nghĩa vụ tài chính đã thực hiện (phí, lệ phí)."""

    amount_vnd: Count
    method: PaymentMethod
    gateway: str | None = None


class RatedData(_Data):
    """Đánh giá mức độ hài lòng."""

    rating: Rating


class PetitionReceivedData(_Data):
    """Tiếp nhận phản ánh, kiến nghị (PAKN, v1.1)."""

    unit_code: UnitCode
    unit_level: UnitLevel
    channel: PetitionChannel | None = None
    within_competence: Flag = True
    """Thuộc thẩm quyền: only petitions within the unit's competence count."""
    due_at: Timestamp | None = None
    processing_days: Days | None = None
    dossier_code: Code | None = None
    """Mã hồ sơ the petition is about (Decision 766 indicator 5.4 subtracts such dossiers)."""

    @model_validator(mode="after")
    def _due_known(self) -> PetitionReceivedData:
        if self.due_at is None and self.processing_days is None:
            raise ValueError("one of due_at / processing_days is required")
        return self


class ProcedurePublishedData(_Data):
    """Công bố, công khai thủ tục hành chính: one entry of a unit's catalog (v1.1)."""

    unit_code: UnitCode
    unit_level: UnitLevel
    procedure_code: UnitCode
    online_level: OnlineLevel
    """The highest level of online service offered (mức độ DVCTT)."""
    online_payment: Flag
    """Thanh toán trực tuyến offered."""
    decided_at: Timestamp | None = None
    """When the announcing decision (quyết định công bố) took effect."""
    due_at: Timestamp | None = None
    """Deadline to publish the entry (hạn công khai), or, for a publication that is not the
    entry's first (an update), the deadline of that update; none: on time."""
    fee_required: Flag = False
    """v1.2: the procedure has fees or charges (phí, lệ phí)."""
    content_complete: Flag = True
    """v1.2: published with every component the law requires (đầy đủ bộ phận tạo thành)."""
    citizen_data_connected: Flag = False
    """v1.2: connected to population-data sharing (kết nối dữ liệu dân cư)."""
    e_certified_copy: Flag = False
    """v1.2: the electronic certified-copy-from-original service, offered online."""


class DocumentIssuedData(_Data):
    """Văn bản đi: a document the unit sent to another state agency (v1.1)."""

    unit_code: UnitCode
    unit_level: UnitLevel
    electronic: Flag
    digitally_signed: Flag
    """Ký số."""


__all__ = [
    "DigitizedData",
    "DocumentIssuedData",
    "EmptyData",
    "ExtendedData",
    "PaymentData",
    "PetitionReceivedData",
    "ProcedurePublishedData",
    "RatedData",
    "ReceivedData",
    "RejectedData",
    "ResolvedData",
    "ReturnedData",
    "StoppedData",
    "SupplementRequestedData",
    "SyncedData",
    "TransferredData",
]
