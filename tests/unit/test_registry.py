"""The v1.1 unit registry (kpi/registry.py): the unit in force and its ancestors, worked by
hand from the docs/contract.md example, and every validation error with file and line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kpi.calendar import local_instant
from kpi.registry import UnitRegistry
from schemas.errors import RegistryError
from tests.eventkit import EVENTS_REGISTRY

EXAMPLE = EVENTS_REGISTRY


def _registry(tmp_path: Path, text: str = EXAMPLE) -> UnitRegistry:
    path = tmp_path / "units.csv"
    path.write_text(text, encoding="utf-8")
    return UnitRegistry.load(path)


def _at(y: int, m: int, d: int, hour: int = 9) -> float:
    return local_instant(dt.date(y, m, d), hour)


def test_unit_in_force_before_and_after_the_merger(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    june_30_late = _at(2025, 6, 30, 23)
    july_1_midnight = local_instant(dt.date(2025, 7, 1))  # = 2025-06-30T17:00:00Z
    assert reg.in_force("30001", june_30_late) == "30001"
    assert reg.ancestors_at("30001", june_30_late) == ["870", "87"]
    assert reg.in_force("30001", july_1_midnight) == "29901"
    assert reg.in_force("30004", _at(2026, 1, 5)) == "29901"
    assert reg.ancestors_at("29901", july_1_midnight) == ["82"]
    # a district ceased: its successor is the new province; the old province too
    assert reg.in_force("870", _at(2025, 7, 5)) == "82"
    assert reg.in_force("87", _at(2025, 8, 1)) == "82"
    assert reg.ancestors_at("82", _at(2025, 8, 1)) == []


def test_codes_that_stand_for_themselves(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    # not in the registry
    assert reg.in_force("99999", _at(2025, 3, 1)) == "99999"
    assert reg.ancestors_at("99999", _at(2025, 3, 1)) == []
    # before its first version, no successor applies
    assert reg.in_force("29901", _at(2025, 3, 1)) == "29901"
    assert reg.ancestors_at("29901", _at(2025, 3, 1)) == []


def test_names_levels_and_summary_lists(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    assert reg.name_on("29901", dt.date(2025, 7, 1)) == "Xã Tân Thành"
    assert reg.name_on("870", dt.date(2026, 1, 1)) == "Huyện Tân Hồng"  # its last name
    assert reg.level_on("870", dt.date(2025, 1, 1)) == "district"
    today = dt.date(2026, 11, 29)
    assert sorted(v.code for v in reg.in_force_units(today)) == ["29901", "82"]
    assert sorted((v.code, v.successor) for v in reg.ceased()) == [
        ("30001", "29901"), ("30004", "29901"), ("87", "82"), ("870", "82")]


def test_v1_files_are_one_version_since_always(tmp_path: Path) -> None:
    reg = _registry(tmp_path, "code,name,level,parent\nP,Tỉnh,province,\nC,Xã,commune,P\n")
    assert reg.in_force("C", _at(2001, 1, 1)) == "C"
    assert reg.ancestors_at("C", _at(2030, 1, 1)) == ["P"]


BAD = [
    ("code,name,level\nA,a,province\n", "units.csv:1: missing columns parent"),
    (EXAMPLE + "A,a,county,,,,\n", "units.csv:8: level 'county' unknown"),
    (EXAMPLE + ",a,province,,,,\n", "units.csv:8: empty unit code"),
    (EXAMPLE + "A,a,province,,2025-13-01,,\n", "units.csv:8: valid_from '2025-13-01' is not"),
    (EXAMPLE + "A,a,province,,2025-02-01,2025-01-01,\n", "units.csv:8: valid_to 2025-01-01 is "
     "before valid_from 2025-02-01"),
    (EXAMPLE + "82,Đồng Tháp mới,province,,2025-12-01,,\n",
     "units.csv:8: version of 82 from 2025-12-01 overlaps the one at units.csv:3"),
    (EXAMPLE + "A,a,commune,NOPE,2025-07-01,,\n", "units.csv:8: parent 'NOPE' of A is not in"),
    (EXAMPLE + "A,a,commune,87,2025-06-01,2025-07-31,\n",
     "units.csv:8: parent 87 is not in force on 2025-07-01, within A's version"),
    (EXAMPLE + "A,a,commune,,2020-01-01,2024-12-31,NOPE\n",
     "units.csv:8: successor 'NOPE' of A is not in the registry"),
    (EXAMPLE + "A,a,commune,,2020-01-01,,29901\n",
     "units.csv:8: A has a successor but is still in force"),
    (EXAMPLE + "A,a,commune,,2020-01-01,2020-12-31,29901\nA,a,commune,,2021-01-01,,\n",
     "units.csv:8: A has a successor on a version that is not its last"),
    ("code,name,level,parent,valid_from,valid_to,successor\n"
     "A,a,commune,B,,,\nB,b,province,A,,,\n", "parent cycle A → B → A"),
    ("code,name,level,parent,valid_from,valid_to,successor\n"
     "A,a,commune,,,2020-01-01,B\nB,b,commune,,,2020-01-01,A\n",
     "the successor chain A → B → A never ends"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_invalid_registries_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RegistryError) as caught:
        _registry(tmp_path, text)
    assert message in str(caught.value).replace(str(tmp_path) + "/", "")


def test_not_utf8_is_a_registry_error(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_bytes(b"code,name,level,parent\nA,T\xe1nh,province,\n")  # Latin-1, not UTF-8
    with pytest.raises(RegistryError, match="not UTF-8"):
        UnitRegistry.load(path)


def test_a_report_is_named_as_on_the_periods_last_day(tmp_path: Path) -> None:
    # Province 87 becomes 82 with a new name on 1/7/2025; the old district keeps its last
    # name after it ceased. A running period is named as on the as_of day.
    text = EXAMPLE.replace("82,Tỉnh Đồng Tháp,province,,2025-07-01,,",
                           "82,Tỉnh Đồng Tháp (mới),province,,2025-07-01,,")
    reg = _registry(tmp_path, text)
    later = _at(2026, 11, 29)
    assert reg.name_in("82", "2025", later) == "Tỉnh Đồng Tháp (mới)"
    assert reg.name_in("87", "2025-Q2", later) == "Tỉnh Đồng Tháp (cũ)"
    assert reg.name_in("870", "2025", later) == "Huyện Tân Hồng"  # ceased: its last name
    assert reg.naming_day("2025", _at(2025, 5, 10)) == dt.date(2025, 5, 10)
    assert reg.naming_day("2025-Q2", later) == dt.date(2025, 6, 30)
