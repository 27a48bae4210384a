import pytest

from calibclip.composite.rewriters.rule import RuleRewriter, split_negations, tidy

RULE = RuleRewriter()


@pytest.mark.parametrize("query, optimized, ands, nots", [
    ("a woman in a green dress dancing in front of City Hall, no shoes",
     "a woman in a green dress dancing in front of City Hall",
     ("a woman in a green dress", "a woman dancing", "a woman in front of City Hall"), ("shoes",)),
    ("A woman in a green dress dancing in front of York City Hall with no shoes",
     "A woman in a green dress dancing in front of York City Hall",
     ("a woman in a green dress", "a woman dancing", "a woman in front of York City Hall"), ("shoes",)),
    ("a man wearing a red coat and blue jeans walking a dog without a hat",
     "a man wearing a red coat and blue jeans walking a dog",
     ("a man wearing a red coat", "a man wearing blue jeans", "a man walking a dog"), ("a hat",)),
    ("a man and a woman on a bench, not wearing hats or scarves", "a man and a woman on a bench",
     ("a man", "a woman on a bench"), ("hats", "scarves")),
    ("a person who is holding an umbrella and standing near a bus stop",
     "a person who is holding an umbrella and standing near a bus stop",
     ("a person holding an umbrella", "a person standing", "a person near a bus stop"), ()),
    ("kids playing on the beach while their parents watch", "kids playing on the beach while their parents watch",
     ("kids playing", "kids on the beach", "their parents watch"), ()),
    ("a red and blue kite over the sea", "a red and blue kite over the sea", ("a red and blue kite over the sea",), ()),
    ("a dog with red and white stripes, except cats", "a dog with red and white stripes",
     ("a dog with red and white stripes",), ("cats",)),
    ("a parking lot at night", "a parking lot at night", ("a parking lot at night",), ()),
    ("a cat that isn't sleeping", "a cat", ("a cat",), ("sleeping",)),
    ("a man with a dog on his left, with no car around and without a ball", "a man with a dog on his left",
     ("a man with a dog on his left",), ("car", "a ball")),
])
def test_rule_english(query, optimized, ands, nots):
    got = RULE.rewrite(query)
    assert (got.raw, got.optimized, got.and_clauses, got.not_clauses) == (query, optimized, ands, nots)


@pytest.mark.parametrize("query, optimized, ands, nots", [
    ("一个穿着绿色裙子的女人在市政厅前跳舞，没有穿鞋", "一个穿着绿色裙子的女人在市政厅前跳舞",
     ("一个穿着绿色裙子的女人", "一个女人在市政厅前", "一个女人跳舞"), ("鞋",)),
    ("一个穿红色外套、戴着帽子的男人牵着一只狗，不戴眼镜", "一个穿红色外套、戴着帽子的男人牵着一只狗",
     ("一个穿红色外套的男人", "一个戴着帽子的男人", "一个男人牵着一只狗"), ("眼镜",)),
    ("一个男孩在公园里踢足球，同时拿着一个红色的气球", "一个男孩在公园里踢足球，同时拿着一个红色的气球",
     ("一个男孩在公园里", "一个男孩踢足球", "一个男孩拿着一个红色的气球"), ()),
    ("一辆红色的汽车停在路边，除了卡车以外", "一辆红色的汽车停在路边", ("一辆红色的汽车", "一辆汽车停在路边"), ("卡车",)),
    ("两只猫在沙发上睡觉并且没有人和狗", "两只猫在沙发上睡觉", ("两只猫在沙发上", "两只猫睡觉"), ("人", "狗")),
    ("一架无人机在不同的建筑上", "一架无人机在不同的建筑上", ("一架无人机在不同的建筑上",), ()),
    ("一个穿黑色衬衫的男人，旁边有一辆自行车，他左边有一只狗，附近无汽车", "一个穿黑色衬衫的男人，旁边有一辆自行车，他左边有一只狗",
     ("一个穿黑色衬衫的男人", "一辆自行车", "男人左边的狗"), ("汽车",)),
    ("夜晚，一个穿红色外套的女人跳舞，没有打伞", "夜晚，一个穿红色外套的女人跳舞",
     ("一个穿红色外套的女人", "一个女人跳舞", "夜晚的女人"), ("伞",)),
])
def test_rule_chinese(query, optimized, ands, nots):
    got = RULE.rewrite(query, lang="zh")
    assert (got.optimized, got.and_clauses, got.not_clauses) == (optimized, ands, nots)


@pytest.mark.parametrize("query, lang, generic, nots", [
    ("no dogs", "en", "a photo", ("dogs",)),
    ("without people or cars", "en", "a photo", ("people", "cars")),
    ("没有狗", "zh", "一张照片", ("狗",)),
    ("no dogs", "zh", "a photo", ("dogs",)),
])
def test_negation_only_query_gets_generic_optimized_query(query, lang, generic, nots):
    got = RULE.rewrite(query, lang)
    assert (got.optimized, got.and_clauses, got.not_clauses) == (generic, (), nots)


def test_huge_query_is_decomposed_without_error():
    query = ", ".join(["a man in a red coat walking a dog"] * 160)[:5000]
    got = RULE.rewrite(query)
    assert len(query) == 5000
    assert got.and_clauses[:2] == ("a man in a red coat", "a man walking a dog")
    assert len(got.and_clauses) == len(set(got.and_clauses))


def test_split_negations_and_tidy():
    assert split_negations("a cat, no dogs, on a sofa") == ("a cat, on a sofa", ["dogs"])
    assert split_negations("no one on the street") == ("no one on the street", [])
    assert tidy(" , and a cat ,  , with ") == "a cat"
