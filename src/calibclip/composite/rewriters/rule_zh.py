"""Chinese rules for the ``rule`` rewriter.

The query is split into sentences (。！？；); negation cues (不/没有/无/除了/未,
没穿/不戴-style verb forms, 看不到) open a negated span that runs to the next
punctuation; its items become NOT clauses, without photo words ("风筝的照片" →
"风筝"), monosyllabic nouns in their usual form ("没有穿鞋" → "鞋子") and
"没有人戴口罩" → "戴口罩的人". The rest is cut on punctuation and conjunctions
(并且/同时/以及/而且/，/；). A segment is read as
``[quantifier][attributes 的][head][在 place][action]``: every attribute,
place and action becomes a clause that keeps the subject
("一个穿着绿色裙子的女人在市政厅前跳舞" → 一个穿着绿色裙子的女人, 一个女人在市政厅前,
一个女人跳舞); listed items share their verb ("穿着黑色夹克和灰色裤子" → 穿着黑色夹克,
穿着灰色裤子). A later segment without its own subject borrows it: one that
opens with a pronoun, a verb ("身穿…", "手里拿着…"), or a bare attribute
("短发" → "短发的男子"); "她的鞋子是黑色的" → "黑色鞋子的女人". "她是一位中年妇女"
and "这个人是一个年轻男性" make the noun phrase the subject.
"""
from __future__ import annotations

import re

from calibclip.composite.rewriters.rule import cut_negated
from calibclip.composite.rewriters.sentences import split_sentences
from calibclip.types import Clauses

GENERIC_QUERY = "一张照片"

_NEG = re.compile(r"(?:除了|没有穿|没有戴|没有带|没有拿|没穿|没戴|没带|不穿|不戴|不带|不拿|不要|不含|不是|看不到|看不见|"
                  r"没有|没|无|未|不)(?!同|锈|人机|来|线|久|错|少|论)")
_SPAN_END = re.compile(r"[，,。；;！!？?]|但是|但|而是|同时|并且")
_LIST = re.compile(r"[、，,]|或者|以及|和|或|及|与")
_NOT_LEAD = re.compile(r"^(?:穿着|戴着|带着|拿着|打着|穿|戴|带|拿|打|有|任何)+")
_NOT_TAIL = re.compile(r"(?:以外|之外|的东西|的?(?:照片|图片|画面|图像|场景|镜头))+$")
_NOUN_FORMS = {"鞋": "鞋子", "伞": "雨伞", "帽": "帽子", "裙": "裙子", "袜": "袜子"}
_SEGMENTS = re.compile(r"[，,；;。！!？?]|并且|而且|同时|以及|并")
_QUANT = re.compile(r"^[一二两三四五六七八九十几这那每该][个位只条辆件把张名群对头匹座栋艘架]")
_QUANT_ANY = re.compile(r"[一二两三四五六七八九十几][个位只条辆件把张名群对头匹座栋艘架双顶副根块杯碗]")
_WHO = "(?:他们|她们|他|她|它)"
_PRONOUN = re.compile(f"^{_WHO}")
_PRONOUN_NOUN = {"他们": "人们", "她们": "女人们", "他": "男人", "她": "女人", "它": "它"}
_POSSESSIVE = re.compile(f"^{_WHO}的(.+?)是(.+?)的?$")
_IS_A = re.compile(r"^(?:他们|她们|他|她|这|这是|这个人|这位|此人|该行人|行人|这名行人|图中的人|画面中的人)是(?=.)")
_LOCATIVE = "(?:旁边|左边|右边|前面|后面|身边|身后|身旁|附近|周围)"
_LOCATIVE_START = re.compile(f"^{_LOCATIVE}")
_EXISTS = re.compile(f"^({_WHO}?{_LOCATIVE}?)有(.+)$")
_TIME = re.compile(r"^(?:夜晚|晚上|夜里|白天|早上|清晨|傍晚|黄昏|中午|雨天|雪天)$")
# what may stand right before a negation cue and goes with it ("附近无汽车", "也没有戴眼镜", "画面中没有人")
_NEG_LEAD = re.compile(f"(?:[，,；;]?\\s*{_LOCATIVE}|也|还|都|(?:画面|图片|照片|图)[中里])$")
_MARKER = re.compile(r"正在|位于|[站坐躺走停住睡]?在")
_PLACE = re.compile(r"^([站坐躺走停住睡]?在.+?(?:前面|后面|旁边|里面|上面|下面|附近|对面|中间|前|后|里|上|下|旁|边|中|外))(.*)$")
_VERBS = "穿戴拿背提牵骑站坐躺走跑跳看抱推拉吃喝玩开弹唱读写踢打正留扎挎拄撑挂系披握举遛"
_BODY = "(?:上身|下身|身上|手里|手上|手中|脚上|肩上|背上|头上|脖子上|左手|右手|双手|身|头|手|脚)"
_VERB_START = re.compile(f"^{_BODY}?[{_VERBS}]")
_VERB_CHAR = re.compile(f"[{_VERBS}]")
_BODY_END = re.compile(f"{_BODY}$")
_LEADING_VERB = re.compile(f"^{_BODY}?[{_VERBS}][着了]?")
_ITEMS = re.compile(r"、|和|以及|还有")
_ATTRIBUTE_MAX = 8      # a bare attribute segment ("短发", "白色上衣") is at most this long
_DESCRIPTOR = "(?:身材|个子|个头|头发|皮肤|体型|长发|短发|卷发|长卷发|短卷发|胡子|光头|马尾)"
_DESCRIPTOR_START = re.compile(f"^{_DESCRIPTOR}")
_DESCRIPTOR_ANY = re.compile(_DESCRIPTOR)
_BODY_IS = re.compile(f"^({_BODY})是")                 # "下身是牛仔裤" → "下身穿着牛仔裤"
_SUBJECT_ACTS = re.compile(f"^([^的]{{1,6}}?)({_BODY}?[{_VERBS}]着)")   # "男孩穿着蓝白条纹的T恤"
_FRAME_ATTRIBUTE = re.compile(r"^(?:图|画面|照片|图片|图像|视频)[中里上内]$")


def _tidy(text: str) -> str:
    text = re.sub(r"([，,；;、])(?:\s*[，,；;、])+", r"\1", text.strip())
    return re.sub(r"^[，,；;、。\s]+|[，,；;、。\s和并且同时]+$", "", text)


def _not_item(part: str) -> str:
    """One NOT item: "有人的照片" → "人", "穿鞋" → "鞋子", "人戴口罩" → "戴口罩的人"."""
    part = _NOT_TAIL.sub("", _NOT_LEAD.sub("", part.strip()))
    if part.startswith("人") and _VERB_START.match(part[1:]):
        return f"{part[1:]}的人"
    return _NOUN_FORMS.get(part, part)


def split_negations_zh(text: str) -> tuple[str, list[str]]:
    """Cut negated spans out of one sentence → (positive text, NOT clauses)."""
    positive, spans = cut_negated(text, _NEG, _SPAN_END, _NEG_LEAD)
    nots: list[str] = []
    for part in (_not_item(p) for span in spans for p in _LIST.split(span)):
        if part and part not in nots:
            nots.append(part)
    return _tidy("".join(positive)), nots


def _action_start(text: str, start: int = 1) -> int | None:
    """Where the action begins in ``text``: a verb (with a body part before it: "女士身穿…" → 2), or a
    description of the body ("男子身材高大" → 2)."""
    found = [m.start() for m in (_VERB_CHAR.search(text, start), _DESCRIPTOR_ANY.search(text, 2)) if m]
    if not found:
        return None
    verb = min(found)
    body = _BODY_END.search(text, 0, verb)
    return body.start() if body and body.start() >= 2 else verb


def _split_items(text: str) -> list[str]:
    """"穿着黑色夹克和灰色裤子" → ["穿着黑色夹克", "穿着灰色裤子"]: listed items share the first verb."""
    parts = [p for p in _ITEMS.split(text) if p]
    verb = _LEADING_VERB.match(parts[0]) if parts else None
    if not verb:
        return [text] if text else []
    return [p if _VERB_START.match(p) else verb.group(0) + p for p in parts]


def _subject_clauses(subject: str) -> tuple[list[str], str, str]:
    """``一个穿着绿色裙子的女人牵着狗`` → (attribute clauses, short subject ``一个女人``, rest ``牵着狗``).

    A subject acting with 着 before any 的 keeps the 的 in its action ("男孩穿着蓝白条纹的T恤").
    """
    quant_match = _QUANT.match(subject)
    quant = quant_match.group(0) if quant_match else ""
    body = subject[len(quant):]
    acts = None if _VERB_START.match(body) else _SUBJECT_ACTS.match(body)
    attrs, _, head = ("", "", body) if acts else body.rpartition("的")
    verb = _action_start(head)
    head, rest = (head[:verb], head[verb:]) if verb else (head, "")
    short = quant + head
    return [f"{quant}{a}的{head}" for a in _split_items(attrs) if not _FRAME_ATTRIBUTE.match(a)], short, rest


def _head(subject: str) -> str:
    quant = _QUANT.match(subject)
    return subject[quant.end():] if quant else subject


def _existential(segment: str, subject: str) -> str | None:
    """"旁边有一辆黄色汽车" → "一辆黄色汽车"; "他左边有一只狗" → "男人左边的狗" (the object is its own clause)."""
    match = _EXISTS.match(segment)
    if not match:
        return None
    where, thing = match.groups()
    if not _PRONOUN.match(where):
        return thing
    quant = _QUANT.match(thing)
    return f"{_PRONOUN.sub(_head(subject), where)}的{thing[quant.end():] if quant else thing}"


def _borrowed(segment: str, subject: str) -> list[str] | None:
    """Clauses of a segment that continues ``subject`` without naming it, else None."""
    found = _existential(segment, subject)
    if found:
        return [found]
    possessive = _POSSESSIVE.match(segment)
    if possessive:                                      # "她的鞋子是黑色的" → "黑色鞋子的女人"
        return [f"{possessive.group(2)}{possessive.group(1)}的{_head(subject)}"]
    if _PRONOUN.match(segment):
        segment = _PRONOUN.sub("", segment)
        if not _VERB_START.match(segment):
            return [_head(subject) + segment]
    if _QUANT.match(segment):
        return None
    segment = _BODY_IS.sub(r"\1穿着", segment)
    if _VERB_START.match(segment) or _LOCATIVE_START.match(segment):
        return [subject + item for item in _split_items(segment)]
    if _DESCRIPTOR_START.match(segment) or (len(segment) <= _ATTRIBUTE_MAX and not re.search(
            f"[{_VERBS}着了是]", segment) and not _QUANT_ANY.search(segment) and not _MARKER.search(segment)):
        return [f"{segment}的{_head(subject)}"]        # "短发" → "短发的男子", "长发披肩" → "长发披肩的女性"
    return None


def _segment_clauses(segment: str, subject: str | None) -> tuple[list[str], str | None]:
    """Clauses of one segment and the subject later segments may borrow."""
    found = _borrowed(segment, subject) if subject else None
    if found:
        return found, subject
    segment = _IS_A.sub("", segment)                    # "她是一位中年妇女" → "一位中年妇女"
    pronoun = _PRONOUN.match(segment)
    if pronoun:                                         # no subject yet: "她穿着…" → "女人穿着…"
        segment = _PRONOUN_NOUN[pronoun.group(0)] + segment[pronoun.end():]
    marker = _MARKER.search(segment)
    own = segment[:marker.start()] if marker else segment
    rest = segment[marker.start():] if marker else ""
    if not own:
        return [segment], subject
    clauses, short, verb_rest = _subject_clauses(own)
    rest = verb_rest + rest
    place = _PLACE.match(rest)
    if place and not rest.startswith("正在"):
        clauses.append(short + place.group(1))
        rest = place.group(2)
    clauses += [short + item for item in _split_items(rest)]
    return clauses or [short], short


def decompose_zh(text: str) -> list[str]:
    """Split a positive Chinese query into AND clauses that keep their subject."""
    clauses: list[str] = []
    subject, times, subjects = None, [], set()
    for segment in _SEGMENTS.split(text):
        segment = _tidy(segment)
        if _TIME.match(segment):
            times.append(segment)                       # "夜晚，一个男人…" → "夜晚的男人"
        elif segment:
            found, subject = _segment_clauses(segment, subject)
            subjects.add(subject)
            clauses.extend(c for c in found if c not in clauses)
    clauses.extend(f"{t}的{_head(subject)}" if subject else t for t in times)
    # a segment that only named the subject ("她是一位中年妇女") adds nothing once others describe it
    return [c for c in clauses if not (c in subjects and any(_head(c) in o for o in clauses if o != c))]


def rewrite_zh(query: str) -> Clauses:
    """Decompose a Chinese query (``query`` already validated), sentence by sentence."""
    positives: list[str] = []
    nots: list[str] = []
    for sentence in split_sentences(query, "zh"):
        positive, found = split_negations_zh(sentence)
        nots += [n for n in found if n not in nots]
        if positive:
            positives.append(positive)
    positive = "。".join(positives)
    return Clauses(raw=query, optimized=positive or GENERIC_QUERY,
                   and_clauses=tuple(decompose_zh(positive)) if positive else (), not_clauses=tuple(nots))
