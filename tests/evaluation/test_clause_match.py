import pytest

from calibclip.evaluation.clause_match import clause_agreement, content_tokens, count_matches, token_f1
from calibclip.types import Clauses


def test_content_tokens_drop_function_words():
    assert content_tokens("A woman in a green dress") == {"woman", "green", "dress"}
    assert content_tokens("一个穿绿色裙子的女人") == set("穿绿色裙子女人")


def test_token_f1_hand_values():
    assert token_f1("a woman in a green dress", "a woman wearing a green dress") == 1.0
    # {man, bicycle} vs {bicycle}: P 1/2, R 1 → F1 2/3
    assert token_f1("a man with a bicycle", "a bicycle") == pytest.approx(2 / 3)
    assert token_f1("the", "a") == 1.0
    assert token_f1("cat", "dog") == 0.0


def test_count_matches_is_one_to_one():
    assert count_matches(["a dog", "a dog"], ["a dog"]) == 1
    assert count_matches(["a red car", "a dog"], ["dog", "red car", "cat"]) == 2
    assert count_matches(["a man with a bicycle"], ["a bicycle"]) == 0
    assert count_matches(["a man with a bicycle"], ["a bicycle"], threshold=0.6) == 1


def test_clause_agreement_micro_average():
    gold = [Clauses("q1", "q1", ("a woman", "a dog"), ("shoes",)), Clauses("q2", "q2 x", ("a cat",), ())]
    pred = [Clauses("q1", "q1", ("a woman", "a cat", "a hat"), ("shoes", "socks")), Clauses("q2", "q2", (), ())]
    got = clause_agreement(pred, gold)
    # AND: 1 of 3 predicted match, 1 of 3 gold found; NOT: 1 of 2 predicted, 1 of 1 gold
    assert got["AND-P"] == pytest.approx(100 / 3) and got["AND-R"] == pytest.approx(100 / 3)
    assert got["NOT-P"] == 50.0 and got["NOT-R"] == 100.0
    assert got["NOT-F1"] == pytest.approx(2 * 50 * 100 / 150)
    # both kinds together: 2 of 5 predicted, 2 of 4 gold
    assert got["P"] == 40.0 and got["R"] == 50.0 and got["F1"] == pytest.approx(2 * 40 * 50 / 90)
    # optimized: "q1"=="q1" matches; {"q2"} vs {"q2","x"}: F1 2/3 < 0.8
    assert got["optimized"] == 50.0 and got["queries"] == 2
    with pytest.raises(ValueError, match="must pair up"):
        clause_agreement(pred, gold[:1])
