"""A dead letter keeps the refused record whole: key, every header (in order, a header
without a value too), value and origin survive the DLQ encoding."""

from __future__ import annotations

from runtime.dlq import DeadLetter
from tests.eventkit import event_dict, kafka_binary


def test_a_binary_record_survives_the_dead_letter_encoding() -> None:
    key, headers, value = kafka_binary(event_dict("dossier.rejected", "2025-04-29T08:00:00+07:00",
                                                  "HS-9"), key=b"HS-9")
    whole = (*headers, ("x-trace", None), ("ce_id", b"dup"))
    letter = DeadLetter("reason", value, topic="ev", partition=2, offset=41, record_key=key,
                        record_headers=whole)
    back = DeadLetter.decode(letter.encode())
    assert back == letter
    assert back.record_headers == whole and back.record_key == b"HS-9" and back.raw == value
    assert back.key == b"HS-9"  # the dead letter's own key is the refused record's key
    assert back.subject == "HS-9"  # read from ce_subject: the value is only the data
    assert back.replayable


def test_without_a_key_the_dossier_code_keys_the_letter() -> None:
    binary = kafka_binary(event_dict("dossier.rejected", "2025-04-29T08:00:00+07:00", "HS-7"))
    letter = DeadLetter("reason", binary[2], record_headers=tuple(binary[1]))
    assert letter.key == b"HS-7"
    assert DeadLetter("r", b"x" * 300_000).replayable is False
    assert b"key_b64" not in DeadLetter("r", b"{}").encode()
