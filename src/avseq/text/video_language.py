"""The language of the built-in video corpus: its actions, shapes and colours, the captions
that describe them, and the parser that reads the (colour, shape, action) slots back out of a
caption (what caption slot accuracy checks). The generator, the metrics and the evaluation all
speak it; it knows nothing of rendering."""

from __future__ import annotations

import random

from avseq.errors import AvseqError

ACTIONS = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "rotate_clockwise",
    "rotate_counterclockwise",
    "grow",
    "shrink",
    "appear",
    "disappear",
    "bounce",
    "stay",
)
_REVERSE_PAIRS = (
    ("move_left", "move_right"),
    ("move_up", "move_down"),
    ("rotate_clockwise", "rotate_counterclockwise"),
    ("grow", "shrink"),
    ("appear", "disappear"),
)
REVERSED_ACTION: dict[str, str] = {
    **{a: b for a, b in _REVERSE_PAIRS},
    **{b: a for a, b in _REVERSE_PAIRS},
}
SHAPES = ("circle", "square", "triangle", "star", "cross")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (235, 45, 45),
    "green": (45, 205, 70),
    "blue": (60, 125, 255),
    "yellow": (245, 225, 45),
    "purple": (180, 75, 235),
    "orange": (255, 140, 25),
    "white": (245, 245, 245),
}
CAPTIONS_PER_CLIP = 10

_PREDICATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # action: (present tense, progressive)
    "move_left": (
        (
            "moves to the left",
            "moves left",
            "slides to the left",
            "goes to the left",
            "travels to the left",
            "drifts to the left",
            "slides left",
            "moves towards the left side",
        ),
        (
            "is moving to the left",
            "is moving towards the left side",
            "is sliding to the left",
            "is heading left",
            "is travelling to the left",
        ),
    ),
    "move_right": (
        (
            "moves to the right",
            "moves right",
            "slides to the right",
            "goes to the right",
            "travels to the right",
            "drifts to the right",
            "slides right",
            "moves towards the right side",
        ),
        (
            "is moving to the right",
            "is moving towards the right side",
            "is sliding to the right",
            "is heading right",
            "is travelling to the right",
        ),
    ),
    "move_up": (
        (
            "moves up",
            "moves upwards",
            "slides up",
            "goes up",
            "travels upwards",
            "drifts up",
            "rises",
            "moves towards the top",
        ),
        (
            "is moving up",
            "is moving towards the top",
            "is sliding upwards",
            "is going up",
            "is rising",
        ),
    ),
    "move_down": (
        (
            "moves down",
            "moves downwards",
            "slides down",
            "goes down",
            "travels downwards",
            "drifts down",
            "sinks",
            "moves towards the bottom",
        ),
        (
            "is moving down",
            "is moving towards the bottom",
            "is sliding downwards",
            "is going down",
            "is sinking",
        ),
    ),
    "rotate_clockwise": (
        (
            "rotates clockwise",
            "spins clockwise",
            "turns clockwise",
            "rotates in a clockwise direction",
            "turns around clockwise",
        ),
        (
            "is rotating clockwise",
            "is spinning clockwise",
            "is turning clockwise",
            "is rotating in a clockwise direction",
        ),
    ),
    "rotate_counterclockwise": (
        (
            "rotates counterclockwise",
            "spins counterclockwise",
            "turns counterclockwise",
            "rotates anticlockwise",
            "rotates in a counterclockwise direction",
        ),
        (
            "is rotating counterclockwise",
            "is spinning anticlockwise",
            "is turning counterclockwise",
            "is rotating in a counterclockwise direction",
        ),
    ),
    "grow": (
        (
            "grows",
            "gets bigger",
            "expands",
            "increases in size",
            "grows larger",
            "becomes larger",
        ),
        ("is growing", "is getting bigger", "is expanding", "is growing in size"),
    ),
    "shrink": (
        (
            "shrinks",
            "gets smaller",
            "contracts",
            "decreases in size",
            "becomes smaller",
            "shrinks in size",
        ),
        ("is shrinking", "is getting smaller", "is contracting", "is becoming smaller"),
    ),
    "appear": (
        (
            "appears",
            "fades in",
            "comes into view",
            "shows up",
            "becomes visible",
            "appears out of nowhere",
        ),
        ("is appearing", "is fading in", "is coming into view", "is becoming visible"),
    ),
    "disappear": (
        (
            "disappears",
            "fades out",
            "vanishes",
            "fades away",
            "goes out of view",
            "becomes invisible",
        ),
        ("is disappearing", "is fading out", "is vanishing", "is fading away"),
    ),
    "bounce": (
        (
            "bounces",
            "bounces up and down",
            "hops",
            "jumps up and down",
            "bounces like a ball",
            "hops up and down",
        ),
        ("is bouncing", "is bouncing up and down", "is hopping", "is jumping up and down"),
    ),
    "stay": (
        (
            "stays still",
            "does not move",
            "remains in place",
            "sits still",
            "stays in the same place",
            "remains motionless",
        ),
        ("is standing still", "is not moving", "is staying in place", "is resting in one place"),
    ),
}

# {a}: "a" or "an"; {obj}: "<colour> <shape>"; {pres}/{prog}: a predicate of the action
CAPTION_TEMPLATES = (
    "{a} {obj} {pres}",
    "the {obj} {pres}",
    "{a} {obj} {prog}",
    "the {obj} {prog}",
    "there is {a} {obj} that {pres}",
    "in this video {a} {obj} {pres}",
    "in the clip the {obj} {pres}",
    "we see {a} {obj} that {pres}",
    "{a} {obj} {prog} on a dark background",
    "a video of {a} {obj} that {pres}",
)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption_for(colour: str, shape: str, action: str, rng: random.Random) -> str:
    """One lowercase English sentence describing a `colour` `shape` doing `action`."""
    if action not in _PREDICATES or colour not in COLOURS or shape not in SHAPES:
        raise AvseqError(f"video corpus: no caption for {colour!r} {shape!r} {action!r}")
    present, progressive = _PREDICATES[action]
    template = rng.choice(CAPTION_TEMPLATES)
    return template.format(
        a=_article(colour),
        obj=f"{colour} {shape}",
        pres=rng.choice(present),
        prog=rng.choice(progressive),
    )


def captions_for(
    colour: str, shape: str, action: str, rng: random.Random, n: int = CAPTIONS_PER_CLIP
) -> list[str]:
    """`n` distinct captions (deterministic for a given `rng` state)."""
    out: list[str] = []
    for _ in range(50 * n):
        caption = caption_for(colour, shape, action, rng)
        if caption not in out:
            out.append(caption)
            if len(out) == n:
                break
    return out


def caption_words() -> list[str]:
    """Every word a built-in caption can hold (the built-in captioner's vocabulary)."""
    phrases = [t.format(a="a an", obj="", pres="", prog="") for t in CAPTION_TEMPLATES]
    phrases += [p for forms in _PREDICATES.values() for group in forms for p in group]
    found = {w for phrase in [*phrases, *COLOURS, *SHAPES] for w in phrase.split()}
    return sorted(found)


_ACTION_PHRASES = sorted(
    ((f" {p} ", a) for a, forms in _PREDICATES.items() for group in forms for p in group),
    key=lambda item: -len(item[0]),
)


def caption_slots(text: str) -> tuple[str | None, str | None, str | None]:
    """(colour, shape, action) a built-in-style caption names, each None where it names none
    or more than one."""
    padded = f" {' '.join(text.lower().split())} "
    tokens = padded.split()
    colours = [c for c in COLOURS if c in tokens]
    shapes = [s for s in SHAPES if s in tokens]
    action = next((a for phrase, a in _ACTION_PHRASES if phrase in padded), None)
    return (
        colours[0] if len(colours) == 1 else None,
        shapes[0] if len(shapes) == 1 else None,
        action,
    )


def parse_caption(text: str) -> tuple[str, str, str] | None:
    """(colour, shape, action) named by a built-in-style caption, or None when it names no
    single colour, shape and action (the slots the slot accuracy checks)."""
    colour, shape, action = caption_slots(text)
    if colour is None or shape is None or action is None:
        return None
    return colour, shape, action
