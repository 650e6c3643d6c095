"""WeChat subscribe-message template data: every value cut or refused by its field type's rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.rules.wechat_fields import FieldError, field_type, fit_data, fit_value


@pytest.mark.parametrize(("key", "kind"), [("thing1", "thing"), ("character_string12", "character_string"),
                                           ("phrase3", "phrase"), ("time2", "time"), ("name", "name")])
def test_field_type_is_the_key_without_its_number(key: str, kind: str) -> None:
    assert field_type(key) == kind


@pytest.mark.parametrize(("key", "value", "fitted"), [
    ("thing1", "关于加装电梯的表决", "关于加装电梯的表决"),
    ("thing1", "关于加装电梯与外墙保温改造方案的第二轮表决通知", "关于加装电梯与外墙保温改造方案的第二轮…"),
    ("thing1", "  多个   空格\n换行 ", "多个 空格 换行"),
    ("phrase2", "已通过", "已通过"),
    ("phrase2", "进行中啊啊啊", "进行中啊啊"),
    ("name3", "欧阳张三李四王五赵六钱七", "欧阳张三李四王五赵六"),
    ("name3", "Zhang San", "Zhang San"),
    ("time4", "15:01", "15:01"),
    ("time4", "2026年12月05日 23:59", "2026年12月05日 23:59"),
    ("time4", "2026-12-05 09:00 ~ 2026-12-06 18:00", "2026-12-05 09:00 ~ 2026-12-06 18:00"),
    ("date5", "2026年12月5日", "2026年12月5日"),
    ("date5", "2026年12月5日 08:30", "2026年12月5日 08:30"),
    ("number6", "12", "12"), ("number6", "3.50", "3.50"),
    ("character_string7", "R" * 40, "R" * 32),
    ("amount8", "¥120.50元", "¥120.50元"),
])
def test_worked_examples(key: str, value: str, fitted: str) -> None:
    assert fit_value(key, value) == fitted


@pytest.mark.parametrize(("key", "value"), [
    ("phrase1", "OK"), ("time2", "明天"), ("time2", "25:00"), ("date3", "12/05"), ("number4", "十二"),
    ("number4", "1" * 33), ("character_string5", "编号1"), ("thing6", "   "),
])
def test_values_that_cannot_be_fitted_are_refused(key: str, value: str) -> None:
    with pytest.raises(FieldError) as exc:
        fit_value(key, value)
    assert exc.value.key == key


def test_fit_data_keeps_wechats_shape() -> None:
    assert fit_data({"thing1": {"value": "甲"}, "time2": {"value": "09:00"}}) == {
        "thing1": {"value": "甲"}, "time2": {"value": "09:00"}}
    with pytest.raises(FieldError):
        fit_data({"thing1": {}})


@given(st.text(min_size=1, max_size=200).filter(lambda t: t.strip()))
def test_a_thing_is_never_longer_than_20_and_short_ones_are_kept(text: str) -> None:
    out = fit_value("thing1", text)
    assert 1 <= len(out) <= 20
    squashed = " ".join(text.split())
    assert out == squashed if len(squashed) <= 20 else out == squashed[:19] + "…"


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=30))
def test_a_phrase_of_chinese_characters_is_cut_to_five(text: str) -> None:
    assert fit_value("phrase1", text) == text[:5]


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80))
def test_a_character_string_is_cut_to_32(text: str) -> None:
    assert fit_value("character_string1", text) == text[:32]


@given(st.integers(min_value=0, max_value=10**20))
def test_numbers_pass_unchanged(n: int) -> None:
    assert fit_value("number1", str(n)) == str(n)
