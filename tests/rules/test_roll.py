"""The roll's pure figures (app.rules.roll), shared by motions and questionnaires: the owner group, the
canonical serialisation and its hash, the totals — checked against the documented formulas written out here."""

from __future__ import annotations

import hashlib

from app.rules.roll import amendment_refusal, canonical_line, entry_dict, owner_group, roll_hash, totals


def test_owner_group_is_the_documented_digest() -> None:
    key = "k" * 64
    assert owner_group("01motion", key) == hashlib.sha256(f"roll-owner|01motion|{key}".encode()).hexdigest()[:32]
    assert owner_group("01questionnaire", key) != owner_group("01motion", key)
    assert len(owner_group("x", key)) == 32


def test_roll_hash_sorts_escapes_and_hashes_the_empty_roll() -> None:
    assert roll_hash([]) == hashlib.sha256(b"").hexdigest()
    b = {"household_id": "b2", "building": "1", "unit": "1", "room": "1\t0\\1", "area_centi": 8000,
         "owner_group": "g1"}
    a = {"household_id": "a1", "building": "2号楼", "unit": "1\n", "room": "=1+1\r", "area_centi": "75",
         "owner_group": "g2"}
    text = "a1\t2号楼\t1\\n\t=1+1\\r\t75\tg2\nb2\t1\t1\t1\\t0\\\\1\t8000\tg1\n"
    assert canonical_line(b) == "b2\t1\t1\t1\\t0\\\\1\t8000\tg1\n"
    assert roll_hash([b, a]) == roll_hash([a, b]) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_totals_and_entry_dict_take_mappings_and_objects() -> None:
    class Row:
        def __init__(self, **kw: object) -> None:
            self.__dict__.update(kw)

    rows = [{"household_id": "a", "building": "1", "unit": "1", "room": "101", "area_centi": 100, "owner_group": "g"},
            Row(household_id="b", building="1", unit="1", room="102", area_centi=250, owner_group="g"),
            Row(household_id="c", building="1", unit="2", room="101", area_centi=5, owner_group="h")]
    assert totals(rows) == (3, 2, 355)
    assert entry_dict(rows[1]) == {"household_id": "b", "building": "1", "unit": "1", "room": "102",
                                   "area_centi": 250, "owner_group": "g"}
    assert entry_dict(None) is None
    assert roll_hash(rows) == roll_hash([entry_dict(r) for r in rows])


def test_amendment_refusal_table() -> None:
    """Every action against every (listed, in scope) combination: the one rule both rolls apply."""
    expected = {
        ("add", False, True): None, ("add", True, True): "already_listed",
        ("add", False, False): "out_of_scope", ("add", True, False): "out_of_scope",
        ("remove", True, True): None, ("remove", True, False): None,
        ("remove", False, True): "not_listed", ("remove", False, False): "out_of_scope",
        ("correct", True, True): None, ("correct", False, True): "not_listed",
        ("correct", True, False): "out_of_scope", ("correct", False, False): "out_of_scope",
    }
    for (action, listed, in_scope), refusal in expected.items():
        assert amendment_refusal(action, listed=listed, in_scope=in_scope) == refusal, (action, listed, in_scope)
