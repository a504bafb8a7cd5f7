"""streams.localstate.LocalState on real SQLite files: buffered writes that become visible
to a restart only with the marker, slots locked per process, an unreadable file started
afresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.localstate import APPLIED, DOSSIER, LocalState, StateUnusable

MARKER = {"identity": {"dossiers": "d-cl", "applied": "a-cl"},
          "offsets": {DOSSIER: {0: 5}, APPLIED: {1: 7}}}


def test_writes_are_seen_at_once_and_kept_only_by_a_commit(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "s.sqlite")
    assert state.marker() is None
    state.put(DOSSIER, 0, "H1", b'{"p":0}', retired=True)
    state.put(APPLIED, 1, "U1\x1fH1", b'{"p":1}', retired=False)
    state.put_counter(1, "U1", "2025-06", b'{"l":null,"c":{}}')
    assert state.get(DOSSIER, 0, "H1") == b'{"p":0}'
    assert state.get(DOSSIER, 1, "H1") is None  # another partition
    assert state.pending == 3
    again = LocalState(tmp_path / "s.sqlite")  # what a restart would see: nothing yet
    assert again.get(DOSSIER, 0, "H1") is None and again.marker() is None
    state.commit(MARKER)
    assert state.pending == 0
    assert again.marker() == MARKER
    assert again.get(DOSSIER, 0, "H1") == b'{"p":0}'
    assert list(again.live(DOSSIER, 0)) == []  # retired rows are not loaded
    assert list(again.live(APPLIED, 1)) == [("U1\x1fH1", b'{"p":1}')]
    assert list(again.counters(1)) == [("U1", "2025-06", b'{"l":null,"c":{}}')]
    assert again.count(DOSSIER, retired=True) == 1
    state.put(DOSSIER, 0, "H1", b'{"p":0,"v":2}', retired=False)  # revived, changed
    state.discard()
    assert state.get(DOSSIER, 0, "H1") == b'{"p":0}'


def test_whole_partitions_are_written_only_outside_the_marker(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "s.sqlite")
    state.commit(MARKER)
    with pytest.raises(ValueError):
        state.write_rows(DOSSIER, 0, [("H1", b"{}", False)])
    assert state.write_rows(DOSSIER, 3, [(f"H{i}", b"{}", i % 2 == 0)
                                         for i in range(45_000)]) == 45_000
    assert state.count(DOSSIER, 3, retired=False) == 22_500
    state.put(APPLIED, 1, "K", b"{}", retired=False)
    state.put_counter(1, "U1", "2025", b"{}")
    state.commit(MARKER)
    state.drop(APPLIED, [1], {"identity": MARKER["identity"], "offsets": {DOSSIER: {0: 5}}})
    assert state.count(APPLIED) == 0 and list(state.counters(1)) == []
    assert state.marker() == {"identity": MARKER["identity"],
                              "offsets": {DOSSIER: {0: 5}, APPLIED: {}}}


def test_slots_are_locked_per_process_user(tmp_path: Path) -> None:
    first = LocalState.open_slot(tmp_path)
    second = LocalState.open_slot(tmp_path)
    assert (first.path.parent.name, second.path.parent.name) == ("0", "1")
    first.close()
    third = LocalState.open_slot(tmp_path)  # the freed slot, with its state
    assert third.path.parent.name == "0"
    second.close()
    third.close()


def test_an_unreadable_file_is_started_afresh(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not a database at all" * 200)
    state = LocalState(path)
    assert state.marker() is None
    state.commit(MARKER)
    assert LocalState(path).marker() == MARKER


def test_an_unreadable_marker_is_reported(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "s.sqlite")
    state._db.execute("INSERT INTO meta VALUES ('marker', ?)", (b"{not json",))
    with pytest.raises(StateUnusable):
        state.marker()
    state.wipe()
    assert state.marker() is None


def test_a_copy_holds_the_committed_state(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "s.sqlite")
    state.put(DOSSIER, 0, "H1", b"{}", retired=True)
    state.commit(MARKER)
    state.put(DOSSIER, 0, "H2", b"{}", retired=True)  # not committed: not copied
    state.copy_to(tmp_path / "copy.sqlite")
    copy = LocalState(tmp_path / "copy.sqlite")
    assert copy.marker() == MARKER
    assert copy.get(DOSSIER, 0, "H1") == b"{}" and copy.get(DOSSIER, 0, "H2") is None


def test_forget_removes_the_slots_no_process_holds(tmp_path: Path) -> None:
    from streams.localstate import forget

    held = LocalState.open_slot(tmp_path)
    free = LocalState.open_slot(tmp_path)
    free.commit(MARKER)
    free.close()
    assert forget(tmp_path) == [tmp_path / "1"]
    assert (tmp_path / "0").is_dir() and not (tmp_path / "1").exists()
    held.close()
    assert forget(tmp_path / "none") == []


def test_many_rows_are_read_in_one_go_the_buffer_first(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "s.sqlite")
    for i in range(3):
        state.put(APPLIED, 0, f"U\x1fH{i}", b"%d" % i, retired=i == 0)
    state.commit(MARKER)
    state.put(APPLIED, 0, "U\x1fH1", b"new", retired=False)
    assert state.get_many(APPLIED, 0, ["U\x1fH0", "U\x1fH1", "U\x1fH9", "it's \"odd\""]) == {
        "U\x1fH0": b"0", "U\x1fH1": b"new"}
    assert state.get_many(APPLIED, 1, ["U\x1fH0"]) == {}
    assert state.get_many(DOSSIER, 0, []) == {}
