"""Pydantic v2 models of the event contract v1 (../shared/EVENTS.md).

One event is a CloudEvents 1.0 envelope in structured JSON mode. The ``type`` selects the
shape of ``data``; every type is prefixed with ``vn.gov.motcua.``. Field names are an
interface other systems are built against: they are spelt exactly as in EVENTS.md.

Vietnamese terms, so a civil servant can map a field to a form:

* ``subject``: mã hồ sơ (the dossier code)
* ``dossier.received``: tiếp nhận hồ sơ; ``unit_code``: mã đơn vị; ``procedure_code``:
  mã thủ tục hành chính (TTHC); ``channel``: trực tiếp / trực tuyến / bưu chính công ích;
  ``due_at``: ngày hẹn trả; ``processing_days``: thời hạn giải quyết (ngày làm việc)
* ``dossier.supplement_requested`` / ``dossier.supplemented``: yêu cầu bổ sung / đã bổ sung
* ``dossier.extended``: xin lỗi và hẹn lại
* ``dossier.resolved`` / ``dossier.returned``: đã xử lý xong / đã trả kết quả
* ``dossier.rejected`` / ``dossier.withdrawn``: từ chối / công dân rút hồ sơ
* ``dossier.digitized``: số hóa thành phần hồ sơ
* ``payment.completed``: thực hiện nghĩa vụ tài chính; ``feedback.rated``: đánh giá hài lòng

Extra fields are ignored (EVENTS.md lets producers add optional fields freely).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

TYPE_PREFIX = "vn.gov.motcua."


def _must_be_text(value: Any) -> Any:
    """RFC 3339 timestamps arrive as JSON strings; numbers (epoch seconds) are refused."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp string with an offset")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_must_be_text)]
"""An instant with an explicit UTC offset (``2025-04-29T08:00:00+07:00``); naive is refused."""

NonEmpty = Annotated[str, Field(min_length=1)]
Count = Annotated[int, Field(strict=True, ge=0)]
Flag = Annotated[bool, Field(strict=True)]


class UnitLevel(StrEnum):
    """Cấp đơn vị: tỉnh / huyện / xã."""

    province = "province"
    district = "district"
    commune = "commune"


class Channel(StrEnum):
    """Kênh tiếp nhận: trực tiếp, trực tuyến (dịch vụ công), bưu chính công ích."""

    direct = "direct"
    online = "online"
    postal = "postal"


class OnlineLevel(StrEnum):
    """Mức dịch vụ công trực tuyến: không / một phần / toàn trình."""

    none = "none"
    partial = "partial"
    full = "full"


class ReturnChannel(StrEnum):
    counter = "counter"
    online = "online"
    postal = "postal"


class PaymentMethod(StrEnum):
    online = "online"
    cash = "cash"
    transfer = "transfer"


class Rating(StrEnum):
    """Mức độ hài lòng: hài lòng / bình thường / không hài lòng."""

    satisfied = "satisfied"
    neutral = "neutral"
    dissatisfied = "dissatisfied"


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EmptyData(_Data):
    """Types whose ``data`` carries no required field."""


class ReceivedData(_Data):
    """Tiếp nhận hồ sơ."""

    unit_code: NonEmpty
    unit_level: UnitLevel
    procedure_code: NonEmpty
    channel: Channel
    online_level: OnlineLevel = OnlineLevel.none
    full_online_eligible: Flag = False
    due_at: Timestamp | None = None
    processing_days: Count | None = None
    fee_required: Flag = False
    paper_result: Flag = True

    @model_validator(mode="after")
    def _due_known(self) -> ReceivedData:
        if self.due_at is None and self.processing_days is None:
            raise ValueError("one of due_at / processing_days is required")
        return self


class TransferredData(_Data):
    """Chuyển xử lý / liên thông."""

    from_unit: NonEmpty
    to_unit: NonEmpty


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


class PaymentData(_Data):
    """Nghĩa vụ tài chính đã thực hiện (phí, lệ phí)."""

    amount_vnd: Count
    method: PaymentMethod
    gateway: str | None = None


class RatedData(_Data):
    """Đánh giá mức độ hài lòng."""

    rating: Rating


class _Envelope(BaseModel):
    """CloudEvents 1.0 attributes shared by every type."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"]
    id: NonEmpty
    source: NonEmpty
    time: Timestamp
    subject: NonEmpty
    datacontenttype: Literal["application/json"] | None = None

    @property
    def short_type(self) -> str:
        """The type without the ``vn.gov.motcua.`` prefix, e.g. ``dossier.received``."""
        return self.type[len(TYPE_PREFIX) :]  # type: ignore[attr-defined]

    @property
    def dedup_key(self) -> tuple[str, str]:
        """(``source``, ``id``): the deduplication key."""
        return (self.source, self.id)


class DossierReceived(_Envelope):
    type: Literal["vn.gov.motcua.dossier.received"]
    data: ReceivedData


class DossierTransferred(_Envelope):
    type: Literal["vn.gov.motcua.dossier.transferred"]
    data: TransferredData


class DossierSupplementRequested(_Envelope):
    type: Literal["vn.gov.motcua.dossier.supplement_requested"]
    data: SupplementRequestedData = SupplementRequestedData()


class DossierSupplemented(_Envelope):
    type: Literal["vn.gov.motcua.dossier.supplemented"]
    data: EmptyData = EmptyData()


class DossierExtended(_Envelope):
    type: Literal["vn.gov.motcua.dossier.extended"]
    data: ExtendedData


class DossierResolved(_Envelope):
    type: Literal["vn.gov.motcua.dossier.resolved"]
    data: ResolvedData = ResolvedData()


class DossierReturned(_Envelope):
    type: Literal["vn.gov.motcua.dossier.returned"]
    data: ReturnedData = ReturnedData()


class DossierRejected(_Envelope):
    type: Literal["vn.gov.motcua.dossier.rejected"]
    data: RejectedData = RejectedData()


class DossierWithdrawn(_Envelope):
    type: Literal["vn.gov.motcua.dossier.withdrawn"]
    data: EmptyData = EmptyData()


class DossierDigitized(_Envelope):
    type: Literal["vn.gov.motcua.dossier.digitized"]
    data: DigitizedData


class PaymentCompleted(_Envelope):
    type: Literal["vn.gov.motcua.payment.completed"]
    data: PaymentData


class FeedbackRated(_Envelope):
    type: Literal["vn.gov.motcua.feedback.rated"]
    data: RatedData


EVENT_MODELS: tuple[type[_Envelope], ...] = (
    DossierReceived,
    DossierTransferred,
    DossierSupplementRequested,
    DossierSupplemented,
    DossierExtended,
    DossierResolved,
    DossierReturned,
    DossierRejected,
    DossierWithdrawn,
    DossierDigitized,
    PaymentCompleted,
    FeedbackRated,
)

MODEL_BY_TYPE: dict[str, type[_Envelope]] = {
    m.model_fields["type"].annotation.__args__[0]: m  # type: ignore[union-attr]
    for m in EVENT_MODELS
}
EVENT_TYPES: tuple[str, ...] = tuple(MODEL_BY_TYPE)

Event = Annotated[
    DossierReceived
    | DossierTransferred
    | DossierSupplementRequested
    | DossierSupplemented
    | DossierExtended
    | DossierResolved
    | DossierReturned
    | DossierRejected
    | DossierWithdrawn
    | DossierDigitized
    | PaymentCompleted
    | FeedbackRated,
    Field(discriminator="type"),
]
"""Any v1 event, discriminated by ``type``."""

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)  # type: ignore[arg-type, unused-ignore]

__all__ = [
    "EVENT_ADAPTER",
    "EVENT_MODELS",
    "EVENT_TYPES",
    "Event",
    "MODEL_BY_TYPE",
    "TYPE_PREFIX",
    "ValidationError",
]
