"""Pydantic v2 models of the event contract v1.1 (docs/contract.md).

One event is a CloudEvents 1.0 envelope in structured JSON mode. The ``type`` selects the
shape of ``data``; every type is prefixed with ``vn.gov.motcua.``. Field names are an
interface other systems are built against: they are spelt exactly as in docs/contract.md.

Vietnamese terms, so a civil servant can map a field to a form:

* ``subject``: mã hồ sơ (the dossier code)
* ``dossier.received``: tiếp nhận hồ sơ; ``unit_code``: mã đơn vị; ``procedure_code``:
  mã thủ tục hành chính (TTHC); ``channel``: trực tiếp / trực tuyến / bưu chính công ích;
  ``due_at``: ngày hẹn trả; ``processing_days``: thời hạn giải quyết (ngày làm việc)
* ``dossier.supplement_requested`` / ``dossier.supplemented``: yêu cầu bổ sung / đã bổ sung
* ``dossier.extended``: xin lỗi và hẹn lại
* ``dossier.resolved`` / ``dossier.returned``: đã xử lý xong / đã trả kết quả
* ``dossier.rejected`` / ``dossier.withdrawn``: từ chối / công dân rút hồ sơ
* ``dossier.digitized``: số hóa thành phần hồ sơ; ``components_reused``: tái sử dụng dữ liệu số
* ``dossier.stopped``: thông báo dừng giải quyết (Circular 03/2025/TT-VPCP form 05)
* ``dossier.synced``: đồng bộ lên Cổng Dịch vụ công quốc gia (``target`` ``personal_storage``,
  v1.2: kho dữ liệu cá nhân)
* v1.2: ``reuse_eligible`` (TTHC có thành phần được thay thế bằng dữ liệu),
  ``citizen_data_used`` (sử dụng dữ liệu dân cư); ``procedure.published`` gains
  ``fee_required``, ``content_complete``, ``citizen_data_connected``, ``e_certified_copy``
  (chứng thực bản sao điện tử từ bản chính)
* ``handling_unit_code``: cơ quan có thẩm quyền giải quyết (Decree 118/2025 "phi địa giới":
  the desk that receives and the unit that handles may differ)
* ``payment.completed``: thực hiện nghĩa vụ tài chính; ``feedback.rated``: đánh giá hài lòng
* ``petition.*`` (v1.1): phản ánh, kiến nghị (PAKN) — tiếp nhận, trả lời, đánh giá;
  ``subject`` is the petition code; ``within_competence``: thuộc thẩm quyền
* ``procedure.published`` / ``procedure.withdrawn`` (v1.1): công bố, công khai / bãi bỏ TTHC;
  ``subject`` is ``{unit_code}/{procedure_code}``, one entry of the unit's catalog
* ``document.issued`` (v1.1): văn bản đi điện tử; ``digitally_signed``: ký số

Extra fields are ignored (docs/contract.md lets producers add optional fields freely).

Limits beyond docs/contract.md, so that every event accepted here can be folded, judged, stored
in SQL and shown without error downstream (docs/operations.md, "Hostile input"):

* identifiers (``id``, ``source``, ``subject``: at most 255 characters; ``unit_code``,
  ``procedure_code``, ``from_unit``, ``to_unit``: at most 100 — the SQL column widths)
  must be printable (``str.isprintable()``: no control characters such as NUL, no
  invisible format characters such as RTL overrides or zero-width spaces, no line breaks);
  free-text fields (``reason``, ``apology_ref``, ``gateway``) may hold any character;
* timestamps are RFC 3339 text (not epoch numbers) between 2000-01-01 and 2099-12-31
  local time;
* ``processing_days`` is at most 1,000 working days; other counts at most 2⁵³ − 1.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
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


_LOCAL = timezone(timedelta(hours=7))
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=_LOCAL)
"""The earliest accepted timestamp (00:00 local on 1 January 2000)."""
LATEST_TIME = datetime(2100, 1, 1, tzinfo=_LOCAL)
"""Timestamps must be before this instant (00:00 local on 1 January 2100)."""
MIN_TS = EARLIEST_TIME.timestamp()
MAX_TS = LATEST_TIME.timestamp()

MAX_CODE_CHARS = 255
"""``id``, ``source`` and ``subject`` (the SQL store's key columns are this wide)."""
MAX_UNIT_CHARS = 100
"""``unit_code``, ``procedure_code``, ``from_unit``, ``to_unit``."""
MAX_PROCESSING_DAYS = 1000
"""About four years of working days; the due-date search walks the calendar day by day."""
MAX_COUNT = 2**53 - 1
"""Other counts (amounts, components): exact in every JSON reader and in a float."""

_DATE_TIME_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]")


def _must_be_text(value: Any) -> Any:
    """RFC 3339 timestamps arrive as JSON strings; numbers (epoch seconds) are refused, and
    so are strings of digits, which pydantic would otherwise read as epoch seconds."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_TIME_SHAPE.match(value):
        raise ValueError("must be an RFC 3339 timestamp string with an offset")
    return value


def _in_range(value: datetime) -> datetime:
    try:
        inside = EARLIEST_TIME <= value < LATEST_TIME
    except OverflowError:  # an offset pushing year 1 or 9999 out of range
        inside = False
    if not inside:
        raise ValueError("must be between 2000-01-01 and 2099-12-31 (local time)")
    return value


def printable_problem(value: str) -> str | None:
    """Why ``value`` is not a valid identifier character-wise, or None if it is."""
    if value.isprintable():
        return None
    at, char = next((i, c) for i, c in enumerate(value) if not c.isprintable())
    return (f"must contain only printable characters (U+{ord(char):04X} at position {at} "
            "is a control, format or other invisible character)")


def _printable(value: str) -> str:
    problem = printable_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def is_valid_code(value: object) -> bool:
    """True if ``value`` is acceptable as a ``subject`` (dossier code)."""
    return (isinstance(value, str) and 0 < len(value) <= MAX_CODE_CHARS
            and value.isprintable())


Timestamp = Annotated[AwareDatetime, BeforeValidator(_must_be_text), AfterValidator(_in_range)]
"""An instant with an explicit UTC offset (``2025-04-29T08:00:00+07:00``); naive is refused."""

Code = Annotated[
    str, Field(min_length=1, max_length=MAX_CODE_CHARS), AfterValidator(_printable)
]
"""An identifier: ``id``, ``source``, ``subject``."""
UnitCode = Annotated[
    str, Field(min_length=1, max_length=MAX_UNIT_CHARS), AfterValidator(_printable)
]
"""A unit or procedure code."""
Count = Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)]
Days = Annotated[int, Field(strict=True, ge=0, le=MAX_PROCESSING_DAYS)]
Flag = Annotated[bool, Field(strict=True)]


class UnitLevel(StrEnum):
    """Cấp đơn vị: bộ / tỉnh / huyện (until 30/6/2025) / xã."""

    ministry = "ministry"
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


class PetitionChannel(StrEnum):
    """Kênh tiếp nhận phản ánh, kiến nghị: trực tiếp, trực tuyến, bưu chính, đường dây nóng."""

    direct = "direct"
    online = "online"
    postal = "postal"
    hotline = "hotline"


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


class _Envelope(BaseModel):
    """CloudEvents 1.0 attributes shared by every type."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"]
    id: Code
    source: Code
    time: Timestamp
    subject: Code
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


class DossierStopped(_Envelope):
    type: Literal["vn.gov.motcua.dossier.stopped"]
    data: StoppedData = StoppedData()


class DossierSynced(_Envelope):
    type: Literal["vn.gov.motcua.dossier.synced"]
    data: SyncedData = SyncedData()


class DossierDigitized(_Envelope):
    type: Literal["vn.gov.motcua.dossier.digitized"]
    data: DigitizedData


class PaymentCompleted(_Envelope):
    type: Literal["vn.gov.motcua.payment.completed"]
    data: PaymentData


class FeedbackRated(_Envelope):
    type: Literal["vn.gov.motcua.feedback.rated"]
    data: RatedData


class PetitionReceived(_Envelope):
    type: Literal["vn.gov.motcua.petition.received"]
    data: PetitionReceivedData


class PetitionAnswered(_Envelope):
    type: Literal["vn.gov.motcua.petition.answered"]
    data: EmptyData = EmptyData()


class PetitionRated(_Envelope):
    type: Literal["vn.gov.motcua.petition.rated"]
    data: RatedData


def catalog_entry_subject(unit_code: str, procedure_code: str) -> str:
    """The ``subject`` of a procedure catalog entry: ``{unit_code}/{procedure_code}``."""
    return f"{unit_code}/{procedure_code}"


class ProcedurePublished(_Envelope):
    type: Literal["vn.gov.motcua.procedure.published"]
    data: ProcedurePublishedData

    @model_validator(mode="after")
    def _subject_is_entry(self) -> ProcedurePublished:
        expected = catalog_entry_subject(self.data.unit_code, self.data.procedure_code)
        if self.subject != expected:
            raise ValueError(
                f"subject must be unit_code/procedure_code ({expected!r}) for a catalog entry")
        return self


class ProcedureWithdrawn(_Envelope):
    type: Literal["vn.gov.motcua.procedure.withdrawn"]
    data: EmptyData = EmptyData()


class DocumentIssued(_Envelope):
    type: Literal["vn.gov.motcua.document.issued"]
    data: DocumentIssuedData


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
    DossierStopped,
    DossierSynced,
    DossierDigitized,
    PaymentCompleted,
    FeedbackRated,
    PetitionReceived,
    PetitionAnswered,
    PetitionRated,
    ProcedurePublished,
    ProcedureWithdrawn,
    DocumentIssued,
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
    | DossierStopped
    | DossierSynced
    | DossierDigitized
    | PaymentCompleted
    | FeedbackRated
    | PetitionReceived
    | PetitionAnswered
    | PetitionRated
    | ProcedurePublished
    | ProcedureWithdrawn
    | DocumentIssued,
    Field(discriminator="type"),
]
"""Any v1.1 event, discriminated by ``type``."""

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)  # type: ignore[arg-type, unused-ignore]

__all__ = [
    "EARLIEST_TIME",
    "EVENT_ADAPTER",
    "EVENT_MODELS",
    "EVENT_TYPES",
    "Event",
    "LATEST_TIME",
    "MAX_CODE_CHARS",
    "MAX_COUNT",
    "MAX_PROCESSING_DAYS",
    "MAX_TS",
    "MAX_UNIT_CHARS",
    "MIN_TS",
    "MODEL_BY_TYPE",
    "TYPE_PREFIX",
    "ValidationError",
    "catalog_entry_subject",
    "is_valid_code",
    "printable_problem",
]
