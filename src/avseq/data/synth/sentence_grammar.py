"""A small English grammar for the synthetic corpus: statements, questions, conversation.

Word classes come from `resources/grammar.txt` (hand-listed nouns by kind, verbs with their
irregular forms grouped by the kind of object they take, adjectives, adverbs, times) and
conversational phrases from `resources/phrases.txt`. To reach beyond those lists, part of the
adjectives, manner adverbs and abstract nouns are drawn from the whole vocabulary by suffix
("-ous", "-ful", "-ive" ...; "-ly" of a listed stem; "-tion", "-ment", "-ness" ...).
Agreement, tense and time expressions are kept consistent; meaning is not checked.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache

from avseq.data.synth.sentence_vocab import load_words, parse_sections, read_resource
from avseq.text.normalize import number_to_words

_PRONOUNS = {"i": "1s", "you": "2", "we": "p", "they": "p", "he": "3s", "she": "3s"}
_OBJECT = {"i": "me", "you": "you", "we": "us", "they": "them", "he": "him", "she": "her"}
_BE = {"1s": ("am", "was"), "2": ("are", "were"), "p": ("are", "were"), "3s": ("is", "was")}
_POSSESSIVE = ("my", "your", "his", "her", "our", "their")
_SG_DET = ("the", "the", "the", "this", "that", "another", *_POSSESSIVE)
_PL_DET = ("the", "the", "some", "many", "these", "those", "several", "a few", *_POSSESSIVE)
_MASS_DET = ("the", "some", "my", "our", "this", "your")
_IDEA_DET = ("the", "this", "our", "their", "that")
_PLACE_DET = ("the", "the", "my", "our", "this")
_MODALS = ("can", "could", "should", "might", "must", "would", "will")
_SLOT_RE = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Verb:
    base: str
    s: str
    past: str
    pp: str
    ing: str


def _verb(token: str) -> Verb:
    forms = token.split("/")
    base = forms[0].rstrip("*")
    last = base[-1] if token.split("/")[0].endswith("*") else ""
    if base.endswith(("s", "x", "z", "ch", "sh", "o")):
        s = base + "es"
    elif base.endswith("y") and base[-2] not in "aeiou":
        s = base[:-1] + "ies"
    else:
        s = base + "s"
    if base.endswith("ie"):
        ing = base[:-2] + "ying"
    elif base.endswith("e") and not base.endswith(("ee", "ye", "oe")):
        ing = base[:-1] + "ing"
    else:
        ing = base + last + "ing"
    if len(forms) == 3:
        return Verb(base, s, forms[1], forms[2], ing)
    if base.endswith("e"):
        past = base + "d"
    elif base.endswith("y") and base[-2] not in "aeiou":
        past = base[:-1] + "ied"
    else:
        past = base + last + "ed"
    return Verb(base, s, past, past, ing)


def _plural(noun: str) -> str:
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _noun(token: str) -> tuple[str, str]:
    sg, _, pl = token.partition("/")
    return sg, pl or " ".join([*sg.split()[:-1], _plural(sg.split()[-1])])


_AN_EXCEPTIONS = ("uni", "use", "usu", "eur", "one", "uti")


def with_article(phrase: str) -> str:
    """ "a" or "an" before `phrase`, by its first letters ("an apple", "a useful tool")."""
    an = phrase[0] in "aeiou" and not phrase.startswith(_AN_EXCEPTIONS)
    return f"{'an' if an or phrase.startswith(('hour', 'honest')) else 'a'} {phrase}"


@cache
def _sections() -> dict[str, tuple[str, ...]]:
    return parse_sections(read_resource("grammar.txt"))


@cache
def _phrases() -> tuple[str, ...]:
    lines = read_resource("phrases.txt").splitlines()
    return tuple(p.strip() for line in lines if not line.startswith("#") for p in line.split("|"))


def grammar_vocabulary() -> set[str]:
    """Every word the grammar can write, besides the suffix-chosen vocabulary words."""
    words = set(_POSSESSIVE) | set(_MODALS) | set(_PRONOUNS)
    words |= set(_OBJECT.values()) | {w for forms in _BE.values() for w in forms}
    for name, items in _sections().items():
        for item in () if name.startswith("not_") else items:
            if name.startswith("verb_"):
                v = _verb(item)
                words |= {v.base, v.s, v.past, v.pp, v.ing}
            elif name in ("person", "animal", "thing", "food", "place", "idea"):
                words |= {w for form in _noun(item) for w in form.split()}
            else:
                words |= set(item.split())
    for phrase in _phrases():
        words |= {w for w in _SLOT_RE.sub(" ", phrase).split()}
    return words


_ADJECTIVE_ENDINGS = ("ous", "ful", "ive", "able", "ible", "ical", "ional", "less")
_ABSTRACT_ENDINGS = ("tion", "sion", "ment", "ness", "ity", "ance", "ence", "ship", "ism")


@cache
def suffix_classes() -> dict[str, tuple[str, ...]]:
    """Vocabulary words picked by suffix: "adjective", "adverb" and "abstract" (nouns)."""
    words, sections = load_words(), _sections()
    vocab, not_adjectives = set(words), set(sections["not_adjective"])

    def adverb(w: str) -> bool:
        stems = (w[:-2], w[:-3] + "y", w[:-4], w[:-2] + "e")
        return (
            len(w) >= 6
            and w not in sections["not_adverb"]
            and any(len(s) >= 4 and s in vocab for s in stems)
        )

    return {
        "adjective": tuple(
            w
            for w in words
            if len(w) >= 7 and w.endswith(_ADJECTIVE_ENDINGS) and w not in not_adjectives
        ),
        "adverb": tuple(w for w in words if w.endswith("ly") and adverb(w)),
        "abstract": tuple(w for w in words if len(w) >= 7 and w.endswith(_ABSTRACT_ENDINGS)),
    }


class Grammar:
    """Samples statements (`prose`), questions and conversational phrases.

    Args:
        suffix_share: Probability that an adjective, a manner adverb or an abstract object
            noun comes from the suffix-chosen vocabulary rather than the hand lists.
        fixed_share: Probability that a conversational phrase is a fixed one ("thank you
            very much") rather than one built around a clause or verb phrase.
    """

    def __init__(self, suffix_share: float = 0.35, fixed_share: float = 0.25) -> None:
        s = _sections()
        self.suffix_share, self.fixed_share = suffix_share, fixed_share
        self.suffix = suffix_classes()
        self.nouns = {
            k: tuple(_noun(t) for t in s[k])
            for k in ("person", "animal", "thing", "food", "place", "idea")
        }
        self.verbs = {
            k[5:]: tuple(_verb(t) for t in v) for k, v in s.items() if k.startswith("verb_")
        }
        self.words = s
        phrases = _phrases()
        self.phrases = tuple(tuple(p for p in phrases if ("{" in p) == slots) for slots in (0, 1))

    # ----- noun phrases
    def _adj(self, rng: random.Random) -> str:
        pool = self.suffix["adjective"] if rng.random() < self.suffix_share else None
        return rng.choice(pool or self.words["adjective"])

    def noun_phrase(self, rng: random.Random, kind: str, plural: bool | None = None) -> str:
        """A noun phrase of kind "person", "animal", "thing", "food", "place", "idea" or "mass"."""
        if kind == "mass":
            noun = rng.choice(self.words["mass"] + self.words["abstract"])
            head = f"{self._adj(rng)} {noun}" if rng.random() < 0.25 else noun
            return f"{rng.choice(_MASS_DET)} {head}"
        if kind == "idea" and rng.random() < self.suffix_share:
            return f"{rng.choice(_IDEA_DET)} {rng.choice(self.suffix['abstract'])}"
        sg, pl = rng.choice(self.nouns[kind])
        plural = rng.random() < 0.3 if plural is None else plural
        head = pl if plural else sg
        r = rng.random()
        if r < 0.3:
            head = f"{self._adj(rng)} {head}"
        elif r < 0.37:
            head = f"{self._adj(rng)} {self._adj(rng)} {head}"
        elif r < 0.42:
            head = f"very {self._adj(rng)} {head}"
        r = rng.random()
        if plural:
            det = number_to_words(rng.randint(2, 12)) if r < 0.2 else rng.choice(_PL_DET)
            phrase = f"{det} {head}"
        elif r < 0.35:
            phrase = with_article(head)
        else:
            phrase = f"{rng.choice(_SG_DET)} {head}"
        if rng.random() < 0.07 and kind in ("person", "animal", "thing"):
            phrase += f" {self.location(rng)}"
        return phrase

    def location(self, rng: random.Random) -> str:
        prep = rng.choice(self.words["location"])
        return f"{prep} {rng.choice(_PLACE_DET)} {rng.choice(self.nouns['place'])[0]}"

    def subject(self, rng: random.Random) -> tuple[str, str]:
        """A subject and its person: "1s", "2", "3s" or "p"."""
        r = rng.random()
        if r < 0.45:
            pronoun = rng.choice(tuple(_PRONOUNS))
            return pronoun, _PRONOUNS[pronoun]
        if r < 0.6:
            return rng.choice(self.words["name"]), "3s"
        plural = rng.random() < 0.3
        phrase = self.noun_phrase(rng, rng.choice(("person", "person", "animal")), plural)
        return phrase, "p" if plural else "3s"

    # ----- verb phrases
    def _object(self, rng: random.Random, kind: str) -> str:
        if kind == "food" and rng.random() < 0.4:
            return self.noun_phrase(rng, "mass")
        if kind == "person":
            r = rng.random()
            if r < 0.25:
                return rng.choice(tuple(_OBJECT.values()))
            if r < 0.45:
                return rng.choice(self.words["name"])
        return self.noun_phrase(rng, kind)

    def verb_phrase(self, rng: random.Random, nested: bool = False) -> tuple[Verb, str]:
        """A verb and what follows it ("" for none)."""
        r = rng.random()
        if r < 0.6:
            kind = rng.choice(("thing", "thing", "food", "person", "place", "idea"))
            verb, tail = rng.choice(self.verbs[kind]), self._object(rng, kind)
            if rng.random() < 0.2:
                tail += f" {self.location(rng)}"
        elif r < 0.75:
            verb, tail = rng.choice(self.verbs["intransitive"]), ""
            if rng.random() < 0.35:
                tail = self.location(rng)
        elif r < 0.88 or nested:
            verb = rng.choice(self.verbs["motion"])
            place = rng.choice(self.nouns["place"])[0]
            motion = rng.choice(self.words["motion"])
            tail = "home" if rng.random() < 0.15 else f"{motion} the {place}"
        else:
            inner, inner_tail = self.verb_phrase(rng, nested=True)
            verb, tail = rng.choice(self.verbs["to"]), f"to {inner.base} {inner_tail}".strip()
        if rng.random() < 0.12:
            pool = self.suffix["adverb"] if rng.random() < self.suffix_share else None
            tail = f"{tail} {rng.choice(pool or self.words['adverb'])}".strip()
        return verb, tail

    def base_vp(self, rng: random.Random, form: str = "base") -> str:
        verb, tail = self.verb_phrase(rng)
        return f"{getattr(verb, form)} {tail}".strip()

    # ----- statements
    def clause(self, rng: random.Random, time_prob: float = 0.3) -> str:
        """One statement, e.g. "my old friend found a key in the kitchen yesterday"."""
        subj, person = self.subject(rng)
        if rng.random() < 0.05 and person == "3s" and subj not in _PRONOUNS:
            subj = f"{subj} who {self.base_vp(rng, 'past')}"
        be_now, be_past = _BE[person]
        r, when = rng.random(), None
        if r < 0.14:
            rest = rng.choice(
                (f"very {self._adj(rng)}", self._adj(rng), self.location(rng),
                 with_article(f"{self._adj(rng)} {rng.choice(self.nouns['person'])[0]}"))
            )  # fmt: skip
            if person != "3s" and rest.startswith(("a ", "an ")):
                rest = self._adj(rng)
            be, when = rng.choice(((be_now, None), (be_past, "past"), ("will be", "future")))
            return self._timed(rng, f"{subj} {be} {rest}", when, time_prob)
        verb, tail = self.verb_phrase(rng)
        third = person == "3s"
        tenses = (
            (verb.s if third else verb.base, "habit"),
            (verb.past, "past"),
            (f"will {verb.base}", "future"),
            (f"{be_now} going to {verb.base}", "future"),
            (f"{be_now} {verb.ing}", None),
            (f"{be_past} {verb.ing}", "past"),
            (f"{'has' if third else 'have'} {verb.pp}", None),
            (f"{rng.choice(_MODALS)} {verb.base}", None),
            (f"{rng.choice(('doesn' if third else 'don', 'didn'))}'t {verb.base}", None),
            (f"{'does' if third else 'do'} not {verb.base}", None),
        )
        group, when = rng.choices(tenses, weights=(5, 7, 3, 1, 2, 1, 2, 3, 2, 1))[0]
        if when == "habit" and rng.random() < 0.3:
            group = f"{rng.choice(self.words['frequency'])} {group}"
        return self._timed(rng, f"{subj} {group} {tail}".strip(), when, time_prob)

    def _timed(self, rng: random.Random, text: str, when: str | None, prob: float) -> str:
        if when is None or rng.random() >= prob:
            return text
        time = rng.choice(self.words[f"{when}_time"])
        return f"{time} {text}" if rng.random() < 0.25 else f"{text} {time}"

    def prose(self, rng: random.Random) -> str:
        """A read-prose-like sentence: one clause or two joined by a conjunction."""
        first = self.clause(rng)
        if rng.random() < 0.4:
            return f"{first} {rng.choice(self.words['conjunction'])} {self.clause(rng, 0.15)}"
        return first

    # ----- questions
    def question(self, rng: random.Random) -> str:
        """A wh-question or a yes/no question."""
        subj, person = self.subject(rng) if rng.random() < 0.6 else ("you", "2")
        third = person == "3s"
        do = rng.choice(("does" if third else "do", "did"))
        be = _BE[person][0] if rng.random() < 0.7 else _BE[person][1]
        verb, tail = self.verb_phrase(rng)
        r = rng.random()
        if r < 0.14:
            return f"{do} {subj} {verb.base} {tail}"
        if r < 0.24:
            modal = rng.choice(("can", "could", "will", "would", "should"))
            return f"{modal} {subj} {verb.base} {tail}"
        if r < 0.32:
            return f"{be} {subj} {verb.ing} {tail}"
        if r < 0.38:
            ever = "ever " if rng.random() < 0.3 else ""
            return f"{'has' if third else 'have'} {subj} {ever}{verb.pp} {tail}"
        if r < 0.45:
            return f"{be} {subj} {rng.choice((self._adj(rng), self.location(rng)))}"
        if r < 0.57:
            kind = rng.choice(("thing", "food", "idea"))
            obj_verb = rng.choice(self.verbs[kind])
            where = f" {self.location(rng)}" if rng.random() < 0.3 else ""
            return f"what {do} {subj} {obj_verb.base}{where}"
        if r < 0.75:
            wh = rng.choice(("where", "when", "why", "how"))
            aux = rng.choice((do, do, "will", "can", "should"))
            if wh == "why" and rng.random() < 0.3:
                aux = f"{aux}n't" if aux in ("does", "do", "did", "should") else aux
            return f"{wh} {aux} {subj} {verb.base} {tail}"
        if r < 0.83:
            return f"who {rng.choice((verb.past, verb.s, 'will ' + verb.base))} {tail}"
        if r < 0.91:
            kind = rng.choice(("thing", "food", "animal", "place"))
            sg, pl = rng.choice(self.nouns[kind])
            obj_verb = rng.choice(self.verbs["thing" if kind == "animal" else kind])
            if rng.random() < 0.5:
                return f"how many {pl} {do} {subj} {obj_verb.base}"
            return f"{rng.choice(('which', 'what kind of'))} {sg} {do} {subj} {obj_verb.base}"
        thing = rng.choice(self.nouns["thing"])
        return rng.choice(
            (
                f"where is {self.noun_phrase(rng, 'thing', False)}",
                f"where are {self.noun_phrase(rng, 'thing', True)}",
                f"what is {self.noun_phrase(rng, 'place', False)} like",
                f"whose {thing[0]} is this",
                f"is there {with_article(thing[0])} {self.location(rng)}",
                f"how much {rng.choice(self.words['mass'])} do we need",
            )
        )

    # ----- conversation
    def conversation(self, rng: random.Random) -> str:
        """A greeting, a reply or a conversational phrase around a clause or verb phrase."""
        fixed = rng.random() < self.fixed_share
        phrase = rng.choice(self.phrases[0] if fixed else self.phrases[1])
        return _SLOT_RE.sub(lambda m: self._slot(m.group(1), rng), phrase)

    def _slot(self, name: str, rng: random.Random) -> str:
        if name in ("vp", "vp_ing"):
            return self.base_vp(rng, "base" if name == "vp" else "ing")
        if name == "clause":
            return self.clause(rng, 0.2)
        if name == "np":
            return self.noun_phrase(rng, rng.choice(("thing", "food", "animal", "place", "mass")))
        if name == "thing":
            return rng.choice(self.nouns["thing"])[0]
        if name == "adj":
            return self._adj(rng)
        if name == "when":
            return rng.choice(self.words["future_time"])
        return rng.choice(self.words[name])
