"""Sentences of the built-in spoken corpus.

Transcripts only use the characters in `ALPHABET`. `SentenceGenerator` mixes assistant-style
commands, numbers spoken as words, digit strings, read-prose-like statements, questions and
conversational phrases (the grammar of `sentence_grammar`), and a small share of free word
sequences drawn from the bundled vocabulary (`sentence_vocab`: about 10,000 frequent English
words, without number words, which `number_to_words` and the digit phrases produce instead).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from functools import cache

from avseq.data.synth.sentence_grammar import Grammar
from avseq.data.synth.sentence_vocab import load_words

__all__ = ["COMMAND_TEMPLATES", "NUMBER_TEMPLATES", "SentenceGenerator", "load_words"]
from avseq.text.normalize import (
    DIGIT_WORDS,
    normalize_text,
    number_to_words,
)

# Template slot fillers: "name:" starts a slot, "_" stands for a space inside one filler and
# repeats weight a filler. "function" holds the frequent words mixed into free sequences.
_SLOT_SPEC = """
room: kitchen bedroom bathroom garage hallway office basement attic living_room closet porch
  balcony garden
place: city town village beach mountains valley island desert forest park harbor country coast
venue: restaurant cafe hotel cinema bakery pharmacy supermarket library museum bank hospital
  airport station gym pool school market zoo
object: table chair lamp sofa desk shelf mirror rug pillow blanket box basket bucket bottle vase
  plant stool bench ladder toaster kettle radio
container: door window box fridge oven drawer cupboard cabinet bottle jar gate garage_door
personal: wallet phone keys umbrella hat coat jacket bag glasses laptop charger
food: apples bananas cherries grapes lemons mangoes peaches tomatoes potatoes carrots onions
  garlic cheese bread butter milk rice pasta soup cake cookies chocolate honey sugar eggs
  chicken beef bacon yogurt cereal olives tofu
drink: coffee tea juice milk water lemonade soda
animal: dog cat horse cow pig sheep goat duck rabbit mouse bird fish frog turtle lion tiger bear
  wolf fox deer monkey elephant giraffe zebra penguin owl parrot whale dolphin squirrel puppy
  kitten
color: red blue green yellow orange purple pink brown black white gray silver golden violet
genre: jazz rock blues classical pop folk dance piano opera country
relation: mother father brother sister friend uncle cousin grandmother grandfather husband wife
  daughter neighbor teacher doctor boss
event: meeting party appointment dinner lunch lesson exam trip concert wedding class
when: today tomorrow tonight later soon this_evening this_afternoon tomorrow_morning next_week
  in_the_morning
plant: flowers tree grass garden roses tulips plants
plural: apples eggs bottles chairs cups books tickets cookies friends cars boxes children
  students houses trees birds dogs cats plates bags photos songs flowers games plants keys
  people glasses pages steps points shoes
updown: up down
side: left right
landmark: corner bridge church bank station park school tower lights
function: the the the a a and and of of in on with is my your it we i you that this at from but or
  was not very
"""


def _parse_slots(spec: str) -> dict[str, tuple[str, ...]]:
    lines = spec.replace("\n  ", " ").strip().splitlines()
    return {
        name: tuple(f.replace("_", " ") for f in fillers.split())
        for name, _, fillers in (line.partition(":") for line in lines)
    }


_SLOTS = _parse_slots(_SLOT_SPEC)

_COMMANDS = """
turn on the {room} lights|turn off the lights in the {room}|dim the {room} lights
switch off the {room} lights|set a {small} minute timer|start a {small} second timer
wake me up at {time}|set an alarm at {time}|call {digits}|call my {relation}
send my {relation} a message|text my {relation} that i will be late|play some {genre} music
play the next song|pause the music|skip this song|turn the volume {updown}
turn the volume {updown} by {small} percent|set the thermostat at {temp} degrees
move the {object} into the {room}|put the {object} in the {room}|where is my {personal}
bring me the {personal} from the {room}|i can't find my {personal}|open the {container}
close the {container}|lock the front door|what is the weather like in the {place}
what is the weather like {when}|will it rain {when}|will it snow in the {place} {when}
remind me {when} about the {event}|cancel my {event}|what time is it|make me a cup of {drink}
put {food} and {food} on the shopping list|order some {food}|book a table at the {venue}
find a {venue} nearby|how far is the {venue}|show me a map of the {place}
turn {side} at the {landmark}|take me home|how do you spell {word}|what does {word} mean
say the word {word}|look up the word {word}|feed the {animal}|take a picture of the {animal}
show me a picture of the {color} {animal}|paint the {object} {color}|clean the {room}
water the {plant}|read me the news|what is the price of {food}|is the {venue} open {when}
let's meet at the {venue} at {time}|record a video of the {animal}|the {object} is in the {room}
"""
_NUMBERS = """
it costs {price} dollars|the total is {price} dollars|that will be {price} pounds
the price is {price} dollars|we need {count} {plural}|there are {n} {plural} in the {room}
i have {count} {plural}|it was in {year}|back in {year}|the year was {year}|it is {time}
meet me at {time}|the train is at {time}|dinner is at {time}|the meeting is at {time}
the temperature is {temp} degrees|it is {temp} degrees outside|he is {age} years old
she is {age} years old|read page {n}|open page {n}|the score is {small} {small}
it is {n} miles away|the road is {n} kilometers long|about {big} people live in the city
the city has {big} people|the house costs {big} dollars|wait {small} minutes
the battery is at {percent} percent|room {n}|the answer is {n}|chapter {small}
we have {count} days left|number {n}|{n}|{year}|{big}|{time}|{n} {plural}
"""
_DIGIT_CARRIERS = (
    "",
    "call",
    "dial",
    "my number is",
    "the code is",
    "the pin is",
    "flight",
    "room",
    "enter",
    "my account number is",
    "the password is",
)
_SLOT_RE = re.compile(r"\{(\w+)\}")


def _templates(block: str) -> tuple[str, ...]:
    return tuple(t.strip() for line in block.strip().splitlines() for t in line.split("|"))


COMMAND_TEMPLATES: tuple[str, ...] = _templates(_COMMANDS)
NUMBER_TEMPLATES: tuple[str, ...] = _templates(_NUMBERS)


def _quantity(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.45:
        return rng.randint(0, 20)
    if r < 0.75:
        return rng.randint(21, 99)
    return rng.randint(100, 999) if r < 0.9 else rng.randint(1000, 99_999)


def _big(rng: random.Random) -> int:
    n = rng.randint(1, 999) * 10 ** rng.randint(3, 6)
    return n if rng.random() < 0.5 else min(n + rng.randint(0, n), 999_999_999)


def _year(rng: random.Random) -> str:
    year = rng.randint(1900, 2039)
    century, rest = divmod(year, 100)
    if 2000 <= year < 2010 or (year >= 2010 and rng.random() < 0.5):
        return number_to_words(year)
    if rest == 0:
        return f"{number_to_words(century)} hundred"
    tail = f"oh {DIGIT_WORDS[rest]}" if rest < 10 else number_to_words(rest)
    return f"{number_to_words(century)} {tail}"


_NUMBER_SLOTS: dict[str, Callable[[random.Random], int]] = {
    "n": _quantity,
    "big": _big,
    "small": lambda rng: rng.randint(1, 60),
    "count": lambda rng: rng.randint(2, 99),
    "price": lambda rng: rng.randint(1, 999),
    "age": lambda rng: rng.randint(1, 99),
    "percent": lambda rng: rng.randint(0, 100),
    "temp": lambda rng: rng.randint(0, 40) if rng.random() < 0.5 else rng.randint(50, 95),
}


def _time(rng: random.Random) -> str:
    hour, r = number_to_words(rng.randint(1, 12)), rng.random()
    if r < 0.2:
        return f"{hour} o'clock"
    if r < 0.3:
        return f"{rng.choice(('half', 'a quarter'))} past {hour}"
    minute = rng.randint(1, 59)
    return f"{hour} {'oh ' if minute < 10 else ''}{number_to_words(minute)}"


def template_vocabulary() -> set[str]:
    """Every word the command, number and digit templates write, besides {word}."""
    words = {w for fillers in _SLOTS.values() for f in fillers for w in f.split()}
    for template in (*COMMAND_TEMPLATES, *NUMBER_TEMPLATES, *_DIGIT_CARRIERS):
        words |= set(_SLOT_RE.sub(" ", template).split())
    return words | {"o'clock", "half", "a", "quarter", "past", "hundred", "oh"}


@cache
def _grammar() -> Grammar:
    return Grammar()


class SentenceGenerator:
    """Samples normalized utterances for the synthetic speech corpus.

    Utterances have 2 to 15 words, read-prose statements up to 20.

    Args:
        words: Vocabulary of the free word sequences and of the {word} slot; defaults to
            `load_words()`. The templates and the grammar use their own words, all of
            which are in the bundled vocabulary.
        command_prob: Weight of command-like template phrases.
        number_prob: Weight of phrases with numbers, years, times or prices spoken as words.
        digit_prob: Weight of digit strings spoken digit by digit ("four oh one").
        free_prob: Weight of free word sequences.
        prose_prob: Weight of read-prose-like statements.
        question_prob: Weight of wh- and yes/no questions.
        conversation_prob: Weight of greetings, replies and conversational phrases.
        oh_prob: Probability that a digit string reads zero as "oh" instead of "zero".
        function_word_prob: Probability that a free-sequence word is a frequent function word.

    Raises:
        ValueError: If a word is not one normalized word or the weights are invalid.
    """

    KINDS = ("command", "number", "digits", "free", "prose", "question", "conversation")
    MAX_WORDS = 15
    MAX_PROSE_WORDS = 20

    def __init__(
        self,
        words: list[str] | None = None,
        *,
        command_prob: float = 0.20,
        number_prob: float = 0.12,
        digit_prob: float = 0.10,
        free_prob: float = 0.05,
        prose_prob: float = 0.25,
        question_prob: float = 0.14,
        conversation_prob: float = 0.14,
        oh_prob: float = 0.3,
        function_word_prob: float = 0.3,
    ) -> None:
        self.words = list(load_words() if words is None else words)
        bad = [w for w in self.words if not w or " " in w or normalize_text(w) != w]
        if bad or not self.words:
            raise ValueError(f"words must be non-empty normalized single words, got {bad[:5]}")
        weights = (
            command_prob,
            number_prob,
            digit_prob,
            free_prob,
            prose_prob,
            question_prob,
            conversation_prob,
        )
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"mix weights must be >= 0 with a positive sum, got {weights}")
        self.weights = weights
        self.oh_prob, self.function_word_prob = oh_prob, function_word_prob
        vocab = set(self.words)
        self._function = [w for w in _SLOTS["function"] if w in vocab] or self.words
        self.grammar = _grammar()
        self._kinds: tuple[Callable[[random.Random], str], ...] = (
            lambda rng: self._fill(rng.choice(COMMAND_TEMPLATES), rng),
            lambda rng: self._fill(rng.choice(NUMBER_TEMPLATES), rng),
            self._digit_phrase,
            self._free_sequence,
            self.grammar.prose,
            self.grammar.question,
            self.grammar.conversation,
        )

    def sample(self, rng: random.Random) -> str:
        """Draws one utterance; the same `rng` state always gives the same text.

        Args:
            rng: Source of all randomness.

        Returns:
            A normalized utterance of 2 to 15 words (read prose: up to 20).
        """
        return self.sample_kind(rng)[1]

    def sample_kind(self, rng: random.Random) -> tuple[str, str]:
        """Like `sample`, also naming the kind of utterance (one of `KINDS`)."""
        while True:
            index = rng.choices(range(len(self._kinds)), weights=self.weights)[0]
            text = normalize_text(self._kinds[index](rng))
            kind = self.KINDS[index]
            limit = self.MAX_PROSE_WORDS if kind == "prose" else self.MAX_WORDS
            if 2 <= len(text.split()) <= limit:
                return kind, text

    def _fill(self, template: str, rng: random.Random) -> str:
        return _SLOT_RE.sub(lambda m: self._slot(m.group(1), rng), template)

    def _slot(self, name: str, rng: random.Random) -> str:
        if name in _NUMBER_SLOTS:
            return number_to_words(_NUMBER_SLOTS[name](rng))
        if name == "year":
            return _year(rng)
        if name == "time":
            return _time(rng)
        if name == "digits":
            return self._digits(rng, rng.randint(3, 11))
        if name == "word":
            return rng.choice(self.words)
        return rng.choice(_SLOTS[name])

    def _digits(self, rng: random.Random, count: int) -> str:
        zero = "oh" if rng.random() < self.oh_prob else "zero"
        return " ".join(zero if d == 0 else DIGIT_WORDS[d] for d in rng.choices(range(10), k=count))

    def _digit_phrase(self, rng: random.Random) -> str:
        carrier = rng.choice(_DIGIT_CARRIERS)
        return f"{carrier} {self._digits(rng, rng.randint(3, 11))}"

    def _free_sequence(self, rng: random.Random) -> str:
        return " ".join(
            rng.choice(self._function)
            if rng.random() < self.function_word_prob
            else rng.choice(self.words)
            for _ in range(rng.randint(2, 15))
        )
