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
     ("一个穿着绿色裙子的女人", "一个女人在市政厅前", "一个女人跳舞"), ("鞋子",)),
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
     ("一个穿红色外套的女人", "一个女人跳舞", "夜晚的女人"), ("雨伞",)),
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
    assert split_negations("a cat, no dogs, on a sofa") == ("a cat, on a sofa", ["dogs"], [])
    assert split_negations("no one on the street") == ("", [], ["on the street"])
    assert split_negations("a man without a hat walking a dog") == ("a man walking a dog", ["a hat"], [])
    assert tidy(" , and a cat ,  , with ") == "a cat"


@pytest.mark.parametrize("caption, ands", [
    # the malformed clauses: "this lady wears green sneakers She", "the woman dressed", "a young man has"
    ("This lady wears green sneakers. She is dressed in a red coat and has on a black cap.",
     ("a lady wearing green sneakers", "a lady wearing a red coat", "a lady wearing a black cap")),
    ("The woman is dressed in a white jacket.", ("the woman wearing a white jacket",)),
    ("A young man has long black hair. He has on purple shoes, puts on a grey hat and is wearing grey trousers.",
     ("a young man with long black hair", "a young man wearing purple shoes", "a young man wearing a grey hat",
      "a young man wearing grey trousers")),
    ("The female pedestrian has long brown hair. She is wearing a blue sweater with red stripes and carries a bag.",
     ("the female pedestrian with long brown hair", "the female pedestrian wearing a blue sweater with red stripes",
      "the female pedestrian carrying a bag")),
    ("She wears a red coat. Her shoes are white and her hair is in a bun.",
     ("a woman wearing a red coat", "a woman with white shoes", "a woman with her hair in a bun")),
    ("This person is a tall man in a grey suit. He is bald and has a beard; he holds a cup.",
     ("a tall man in a grey suit", "a bald tall man", "a tall man with a beard", "a tall man holding a cup")),
    ("A man in a black coat.\nWearing a red scarf and carrying an umbrella.",
     ("a man in a black coat", "a man wearing a red scarf", "a man carrying an umbrella")),
    # a verb whose object list ends before ", and he ..." leaves no bare "wearing"; "running" after a colour is
    # a noun modifier; a preposition after a participle stays in its phrase; a bare subject sentence adds nothing
    ("He wears glasses, a suit and brown shoes, and he holds a cup.",
     ("a man wearing glasses", "a man wearing a suit", "a man wearing brown shoes", "a man holding a cup")),
    ("A woman. She has grey hair tied in a bun and black running shoes.",
     ("a woman with grey hair tied in a bun", "a woman with black running shoes")),
    ("A boy in a school uniform: white shirt, navy blazer and grey trousers.",
     ("a boy in a school uniform", "a boy wearing white shirt", "a boy wearing navy blazer",
      "a boy wearing grey trousers")),
])
def test_rule_keeps_the_caption_subject_across_sentences(caption, ands):
    got = RULE.rewrite(caption)
    assert got.and_clauses == ands and got.not_clauses == ()


@pytest.mark.parametrize("query, ands, nots", [
    # the inversion: "no one wearing a hat" became AND "an orange cat wearing a hat"
    ("an orange cat on a sofa, no one wearing a hat", ("an orange cat on a sofa",), ("a person wearing a hat",)),
    ("no one wearing a hat or sunglasses", (), ("a person wearing a hat", "a person wearing sunglasses")),
    ("a cat sleeping on a windowsill with nobody else in the room", ("a cat sleeping", "a cat on a windowsill"),
     ("a person in the room",)),
    ("an empty street at night, no one", ("an empty street at night",), ("a person",)),
    ("A man in a blue shirt. He doesn't have a bag. There are no cars and he isn't wearing a hat.",
     ("a man in a blue shirt",), ("a bag", "cars", "a hat")),
    ("a woman without glasses holding an umbrella", ("a woman holding an umbrella",), ("glasses",)),
])
def test_rule_negation_never_reaches_the_and_side(query, ands, nots):
    got = RULE.rewrite(query)
    assert (got.and_clauses, got.not_clauses) == (ands, nots)


@pytest.mark.parametrize("query, ands, nots", [
    ("蓝天下的草原，不要风筝的照片", ("蓝天下的草原",), ("风筝",)),       # the issue: "风筝的照片" → "风筝"
    ("海边的日落，没有船的图片，也没有人的画面", ("海边的日落",), ("船", "人")),
    ("公园里的长椅，没有人坐着", ("公园里的长椅",), ("坐着的人",)),
    ("一个男人穿着黑色夹克和灰色裤子。他背着一个蓝色书包，没有戴帽子。",
     ("一个男人穿着黑色夹克", "一个男人穿着灰色裤子", "一个男人背着一个蓝色书包"), ("帽子",)),
    ("她是一位中年妇女，短卷发，身穿米色风衣！她的鞋子是黑色的",
     ("短卷发的中年妇女", "一位中年妇女身穿米色风衣", "黑色鞋子的中年妇女"), ()),
])
def test_rule_chinese_sentences_and_not_objects(query, ands, nots):
    got = RULE.rewrite(query, "zh")
    assert (got.and_clauses, got.not_clauses) == (ands, nots)


@pytest.mark.parametrize("query, ands", [
    ("这名男子身材高大，穿着黑色皮夹克。", ("这名男子身材高大", "这名男子穿着黑色皮夹克")),
    ("男孩穿着蓝白条纹的T恤，正在过马路", ("男孩穿着蓝白条纹的T恤", "男孩正在过马路")),
    ("一个女人，上身是白色T恤，下身是牛仔裤，长发披肩", ("一个女人上身穿着白色T恤", "一个女人下身穿着牛仔裤", "长发披肩的女人")),
    ("画面中的男人戴着一顶帽子", ("男人戴着一顶帽子",)),
    ("雪山下的小木屋，烟囱冒着烟", ("雪山下的小木屋", "烟囱冒着烟")),
])
def test_rule_chinese_person_descriptions(query, ands):
    assert RULE.rewrite(query, "zh").and_clauses == ands


def test_rule_optimized_query_joins_positive_sentences():
    got = RULE.rewrite("A man in a red coat. He has no bag! He wears a cap.")
    assert got.optimized == "A man in a red coat. He wears a cap"
    assert RULE.rewrite("一个男人。没有包。他戴着帽子", "zh").optimized == "一个男人。他戴着帽子"
