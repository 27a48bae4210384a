"""English word rules of the ``rule`` rewriter: one positive sentence → AND clauses that keep their subject.

Three steps, each on the sentence's words:

1. ``resolve``: a subject pronoun opening the sentence ("She wears green
   sneakers") becomes the caption's subject ("a lady"); one after "and"/","
   is dropped, as the subject is already there. "Her shoes are white" becomes
   "a lady with white shoes", "her hair is in a bun" "a lady with her hair in a bun".
2. ``normalise``: the verb forms captions use become the forms clauses use:
   "has on / have on / put on / is wearing / is dressed in / wears" → "wearing",
   "carries" → "carrying", "has" → "with"; a copula before such a verb or a
   preposition is dropped ("is carrying" → "carrying").
3. ``decompose``: the words are cut before prepositions, attribute verbs,
   ``-ing`` verbs, relative pronouns and and/commas; every piece keeps its
   subject: "a woman in a green dress dancing" → "a woman in a green dress",
   "a woman dancing". "X is ADJ" gives "the ADJ X"; "This person is a tall man"
   makes "a tall man" the subject.
"""
from __future__ import annotations

import re

WORD = re.compile(r"[\w'-]+|[,;:]")
PREPOSITIONS = frozenset(
    "in on at near by under beside behind inside outside above below next across along around through "
    "against among between over into onto toward towards beneath underneath".split())
PRONOUNS = frozenset("his her their its him them".split())
POSSESSIVE_VERBS = frozenset("with wearing holding carrying having has wears holds carries dressed".split())
RELATIVES = frozenset("who that which while whilst where".split())
_NEW_SUBJECT = frozenset("while whilst where".split())
COPULAS = frozenset("is are was were be being".split())
DETERMINERS = frozenset(
    "a an the this that these those his her their its my our your some two three four five six several "
    "many one another".split())
COLOURS = frozenset(
    "red blue green black white yellow orange purple pink brown grey gray gold silver beige dark light "
    "striped long short".split())
ING_NOUNS = frozenset(
    "building clothing ring king thing evening morning ceiling wedding spring string swing painting "
    "nothing something anything everything sibling pudding stocking railing awning parking ping".split())
SUBJECT_PRONOUNS = {"he": ("a", "man"), "she": ("a", "woman"), "they": ("people",)}
_POSSESSIVE_OF = {"his": "he", "her": "she", "their": "they"}
GENERIC_SUBJECTS = frozenset("person pedestrian individual someone this it he she they".split())
_BREAKS = frozenset("and , ; but while".split())
_VERB_FORMS = {
    "wears": "wearing", "wear": "wearing", "carries": "carrying", "carry": "carrying", "holds": "holding",
    "hold": "holding", "has": "with", "have": "with", "having": "with", "walks": "walking", "rides": "riding",
    "pushes": "pushing", "pulls": "pulling", "uses": "using", "sits": "sitting", "stands": "standing",
    "looks": "looking", "talks": "talking", "leads": "leading", "drags": "dragging", "plays": "playing",
    "runs": "running", "eats": "eating", "drinks": "drinking", "reads": "reading", "waits": "waiting"}
_TWO_WORD = {("has", "on"): "wearing", ("have", "on"): "wearing", ("had", "on"): "wearing",
             ("having", "on"): "wearing", ("put", "on"): "wearing", ("puts", "on"): "wearing",
             ("putting", "on"): "wearing", ("dressed", "in"): "wearing", ("dresses", "in"): "wearing",
             ("has", "got"): "with", ("have", "got"): "with"}
_THIS = frozenset("this that".split())
# nouns that describe a garment, so "with ..." ending in one stays with the garment ("a shirt with white stripes")
GARMENT_PARTS = frozenset(
    "stripes stripe dots logo logos print prints pattern patterns sleeves collar hood buttons zipper letters "
    "words flowers design designs checks trim pockets lace".split())
_NOT_ADJECTIVE = (DETERMINERS | PREPOSITIONS | POSSESSIVE_VERBS | COPULAS | RELATIVES | _BREAKS | PRONOUNS
                  | frozenset(SUBJECT_PRONOUNS) | frozenset(_VERB_FORMS))


def is_verb_ing(words: list[str], i: int) -> bool:
    """Whether ``words[i]`` is an ``-ing`` verb (not "building", not after a determiner or a colour:
    "black running shoes")."""
    word = words[i].lower()
    if len(word) <= 4 or not word.endswith("ing") or word in ING_NOUNS:
        return False
    return i == 0 or words[i - 1].lower() not in DETERMINERS | COLOURS


def opens_phrase(words: list[str], i: int) -> bool:
    """Whether ``words[i]`` starts an attribute, place or action phrase."""
    word = words[i].lower()
    if word in PREPOSITIONS and ((i + 1 < len(words) and words[i + 1].lower() in PRONOUNS)
                                 or (i >= 2 and words[i - 2].lower() in PRONOUNS)):
        return False  # "a cup in her hand", "with her hair in a bun": the place belongs to the object before
    return word in PREPOSITIONS or word in POSSESSIVE_VERBS or is_verb_ing(words, i)


def _describes_garment(words: list[str], i: int) -> bool:
    """Whether the "with" phrase at ``i`` ends in a garment part ("with red stripes", "with a white logo")."""
    j = i + 1
    while j < len(words) and words[j].lower() not in {",", ";", "and"} and not opens_phrase(words, j):
        j += 1
    return j > i + 1 and words[j - 1].lower() in GARMENT_PARTS


def _is_adjective(word: str) -> bool:
    low = word.lower()
    return bool(re.fullmatch(r"[a-z-]+", low)) and low not in _NOT_ADJECTIVE and not (
        len(low) > 4 and low.endswith("ing"))


def _possessive(words: list[str], i: int, subject: list[str]) -> tuple[list[str], int] | None:
    """"her shoes are white" at ``i`` → (replacement words, index after the span), else None."""
    copula = next((j for j in range(i + 1, min(i + 5, len(words))) if words[j].lower() in COPULAS), None)
    if copula is None or copula + 1 >= len(words) or not all(_is_adjective(w) for w in words[i + 1:copula]):
        return None
    nouns, end = words[i + 1:copula], copula + 1
    while end < len(words) and (_is_adjective(words[end]) or (
            words[end].lower() == "and" and end + 1 < len(words) and _is_adjective(words[end + 1]))):
        end += 1
    if end > copula + 1:                       # "her shoes are white" → "with white shoes"
        return [*subject, "with", *words[copula + 1:end], *nouns], end
    return [*subject, "with", words[i].lower(), *nouns], copula + 1   # "her hair is in a bun"


def resolve(words: list[str], subject: list[str] | None) -> list[str]:
    """Replace subject pronouns and possessive sentences by the caption's subject (see the module doc)."""
    out: list[str] = []
    i = 0
    while i < len(words):
        low = words[i].lower()
        start = not out or out[-1].lower() in _BREAKS
        if start and low in _POSSESSIVE_OF:
            who = (subject or list(SUBJECT_PRONOUNS[_POSSESSIVE_OF[low]])) if not out else []
            found = _possessive(words, i, who)
            if found:
                out.extend(found[0])
                i = found[1]
                continue
        if start and low in SUBJECT_PRONOUNS and (out or not _before_noun_phrase(words, i)):
            if not out:
                out.extend(subject or SUBJECT_PRONOUNS[low])   # "She wears .." → "a lady wears .."
            i += 1                                              # ", and she carries" → ", and carries"
            continue
        out.append(words[i])
        i += 1
    return out


def _before_noun_phrase(words: list[str], i: int) -> bool:
    """"She is a young woman": the pronoun stays, ``decompose`` takes the noun phrase as the subject."""
    return i + 2 < len(words) and words[i + 1].lower() in COPULAS and words[i + 2].lower() in DETERMINERS


def normalise(words: list[str]) -> list[str]:
    """Caption verb forms → clause forms, and copulas before them dropped (see the module doc)."""
    out: list[str] = []
    i = 0
    while i < len(words):
        low = words[i].lower()
        pair = (low, words[i + 1].lower() if i + 1 < len(words) else "")
        if pair in _TWO_WORD:
            out.append(_TWO_WORD[pair])
            i += 2
            continue
        if low == "there" and pair[1] in COPULAS:
            i += 2                              # "there is a dog" → "a dog"
            continue
        if not (low in COPULAS and i + 1 < len(words) and _drops_copula(words, i + 1)):
            out.append(_VERB_FORMS.get(low, words[i]))
        i += 1
    return out


def _drops_copula(words: list[str], i: int) -> bool:
    low = words[i].lower()
    nxt = words[i + 1].lower() if i + 1 < len(words) else ""
    return (low in POSSESSIVE_VERBS or low in _VERB_FORMS or (low, nxt) in _TWO_WORD
            or is_verb_ing(words, i) or (low in PREPOSITIONS and low != "next"))


class _Builder:
    """Accumulates subjects and their phrases while walking the words.

    A phrase starting with "=" is a predicate adjective ("is bald"); it is
    written before the subject's noun ("the bald man").
    """

    def __init__(self) -> None:
        self.groups: list[tuple[list[str], list[list[str]]]] = []
        self.new_subject()

    def new_subject(self) -> None:
        self.groups.append(([], []))

    @property
    def subject(self) -> list[str]:
        return self.groups[-1][0]

    @property
    def phrases(self) -> list[list[str]]:
        return self.groups[-1][1]

    def add(self, word: str) -> None:
        (self.phrases[-1] if self.phrases else self.subject).append(word)

    def clauses(self) -> list[str]:
        out = []
        for subject, phrases in self.groups:
            # a verb left without its object ("wearing" before ", and he holds") says nothing
            phrases = [p for p in phrases if p and not (len(p) == 1 and p[0].lower() in POSSESSIVE_VERBS | {"="})]
            for phrase in phrases or ([[]] if subject else []):
                if phrase[:1] == ["="]:
                    lead = 1 if subject and subject[0].lower() in DETERMINERS else 0
                    out.append(clause_text([*subject[:lead], *phrase[1:], *subject[lead:]]))
                else:
                    out.append(clause_text(subject + phrase))
        return list(dict.fromkeys(c for c in out if c))


def clause_text(words: list[str]) -> str:
    """Words → clause text; a leading determiner is lower-cased and "this"/"that" become "a"/"an"."""
    if words and words[0].lower() in DETERMINERS:
        first = words[0].lower()
        if first in _THIS:
            first = "an" if len(words) > 1 and words[1][:1].lower() in "aeiou" else "a"
        words = [first, *words[1:]]
    return " ".join(words)


def _after_and(builder: _Builder, words: list[str], i: int) -> bool:
    """Handle 'and'/',' before word ``i``; return True when it was a clause break."""
    if i >= len(words):
        return True
    nxt = words[i].lower()
    if nxt in COPULAS:
        builder.phrases.append([])                # "and is tall": the copula starts afresh
        return True
    if opens_phrase(words, i) or nxt in RELATIVES:
        return True
    phrase = builder.phrases[-1] if builder.phrases else []
    if phrase and phrase[0].lower() in POSSESSIVE_VERBS and phrase[-1].lower() not in COLOURS:
        builder.phrases.append([phrase[0]])       # "with a hat and a scarf" → "with a scarf"
        return True
    if nxt in DETERMINERS:
        builder.new_subject()
        return True
    return False


def _copula(builder: _Builder, words: list[str], i: int) -> None:
    """A copula after the subject: "this person is a man" (new subject) or "the man is bald" (predicate)."""
    nxt = words[i + 1].lower() if i + 1 < len(words) else ""
    head = builder.subject[-1].lower() if builder.subject else ""
    if nxt in DETERMINERS and head in GENERIC_SUBJECTS:
        builder.subject.clear()                    # "This person is a tall man" → subject "a tall man"
    elif nxt and nxt not in DETERMINERS:
        builder.phrases.append(["="])


def _after_participle(builder: _Builder, words: list[str], i: int) -> bool:
    """A preposition after a participle inside an attribute phrase stays in it ("hair tied in a bun");
    after the subject it opens a phrase ("a car parked | in front of a building")."""
    phrase = builder.phrases[-1] if builder.phrases else []
    return (words[i].lower() in PREPOSITIONS and len(phrase) > 2 and phrase[0].lower() in POSSESSIVE_VERBS
            and words[i - 1].lower().endswith("ed"))


def decompose(text: str, subject: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(AND clauses of a positive sentence, the subject words of its first group).

    ``subject`` is used when the sentence opens with a phrase ("Wearing a cap").
    """
    words = normalise(WORD.findall(text))
    builder = _Builder()
    i = 0
    while i < len(words):
        word, low = words[i], words[i].lower()
        if low == ":" and builder.phrases and builder.phrases[-1][:1] and \
                builder.phrases[-1][0].lower() in {"in", "wearing", "dressed"}:
            builder.phrases.append(["wearing"])    # "in a school uniform: white shirt, navy blazer"
        elif low in {"and", ",", ";", ":"}:
            if not _after_and(builder, words, i + 1):
                builder.add(word if low == "and" else "and")
        elif low in _NEW_SUBJECT and i + 1 < len(words) and words[i + 1].lower() in DETERMINERS:
            builder.new_subject()                  # "while their parents watch"
        elif low in RELATIVES and builder.subject:
            builder.phrases.append([])
            if i + 1 < len(words) and words[i + 1].lower() in COPULAS:
                i += 1
        elif low in COPULAS and builder.subject and not (builder.phrases and builder.phrases[-1]):
            _copula(builder, words, i)
        elif low == "with" and builder.phrases and builder.phrases[-1] and _describes_garment(words, i):
            builder.add(word)                      # "wearing a blue sweater with red stripes"
        elif _after_participle(builder, words, i):
            builder.add(word)                      # "with grey hair tied in a bun"
        elif opens_phrase(words, i) and (builder.subject or subject):
            if not builder.subject:                # "Wearing a red scarf." continues the caption's subject
                builder.subject.extend(subject or [])
                word = word.lower()
            builder.phrases.append([word])
        else:
            builder.add(word)
        i += 1
    return builder.clauses(), list(builder.groups[0][0])
