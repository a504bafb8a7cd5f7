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

Each type's ``data`` model: :mod:`schemas.eventdata`; the field types and the limits beyond
docs/contract.md (identifier lengths and characters, the time range, counts):
:mod:`schemas.fields`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from schemas.eventdata import (
    DigitizedData,
    DocumentIssuedData,
    EmptyData,
    ExtendedData,
    PaymentData,
    PetitionReceivedData,
    ProcedurePublishedData,
    RatedData,
    ReceivedData,
    RejectedData,
    ResolvedData,
    ReturnedData,
    StoppedData,
    SupplementRequestedData,
    SyncedData,
    TransferredData,
)
from schemas.fields import Code, Timestamp

TYPE_PREFIX = "vn.gov.motcua."


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
    "EVENT_ADAPTER",
    "EVENT_MODELS",
    "EVENT_TYPES",
    "Event",
    "MODEL_BY_TYPE",
    "TYPE_PREFIX",
    "ValidationError",
    "catalog_entry_subject",
]
