"""Trigger-name checks with the real tokenizer, suggestions, and the starting vectors."""

import pytest
import torch

from ti_tui.sd.tokenizer import load_tokenizer
from ti_tui.sd.tokens import check_trigger, initial_vectors, suggest_triggers, suggest_vector_count


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return load_tokenizer(tiny_model_dir / "tokenizer")


@pytest.fixture(scope="module")
def token_table(tiny_model_dir):
    from transformers import CLIPTextModel

    return CLIPTextModel.from_pretrained(tiny_model_dir / "text_encoder").get_input_embeddings()


def messages(trigger, tokenizer) -> str:
    return " ".join(finding.what for finding in check_trigger(trigger, tokenizer))


def test_a_made_up_word_passes(tokenizer):
    assert check_trigger("zorbot", tokenizer) == []
    assert check_trigger("wdnsdy", tokenizer) == []


def test_a_word_the_model_knows_is_flagged_with_the_reason(tokenizer):
    findings = check_trigger("woman", tokenizer)
    assert [finding.severity for finding in findings] == ["warning"]
    assert "'woman' is already a single token the model knows; training would fight its old meaning" in findings[0].what


def test_a_known_word_in_other_letter_case_is_flagged(tokenizer):
    assert "'Robot' is read as 'robot' (prompts are lower-cased)" in messages("Robot", tokenizer)


def test_a_common_word_is_called_common():
    class FrequencyOrderedTokenizer:
        """CLIP's vocabulary shape: 512 byte tokens, then merges by frequency; "the" came early."""

        def tokenize(self, text):
            return [text + "</w>"]

        def convert_tokens_to_ids(self, token):
            return 600

        def __len__(self):
            return 49408

    assert "a common word the model knows well" in messages("the", FrequencyOrderedTokenizer())


@pytest.mark.parametrize("trigger", ["zor bot", "zor/bot", "zorbot!", "[zorbot]", "_zorbot", "zör:bot", "zorbot.", "zorbot-"])
def test_characters_that_uis_strip_from_file_names_are_errors(tokenizer, trigger):
    findings = check_trigger(trigger, tokenizer)
    assert findings[0].severity == "error"
    assert "UIs drop or change such characters in file names" in findings[0].what


def test_a_long_trigger_is_flagged(tokenizer):
    assert "is long (24 characters" in messages("zorbotzorbotzorbotzorbot", tokenizer)


def test_names_windows_refuses_for_files_are_errors(tokenizer):
    assert "a name Windows does not allow for files" in messages("con", tokenizer)
    assert "a name Windows does not allow for files" in messages("LPT1", tokenizer)


def test_letters_beyond_ascii_are_a_warning(tokenizer):
    findings = check_trigger("zörbot", tokenizer)
    assert [finding.severity for finding in findings] == ["warning"]
    assert "beyond plain ASCII" in findings[0].what


def test_a_very_long_trigger_is_refused_before_it_is_tokenized(tokenizer, capfd):
    findings = check_trigger("zorbot" * 100, tokenizer)
    assert findings[0].what == "The trigger is 600 characters long; keep it under 64."
    assert "Token indices sequence length" not in capfd.readouterr().err


def test_an_empty_trigger_asks_for_one(tokenizer):
    assert check_trigger("", tokenizer)[0].what.startswith("No trigger word yet")


@pytest.mark.parametrize("trigger", ["woman", "Robot", "zor bot", "x"])
def test_three_suggestions_that_pass_every_check(tokenizer, trigger):
    suggestions = suggest_triggers(trigger, tokenizer)
    assert len(suggestions) == 3 and len(set(suggestions)) == 3
    for suggestion in suggestions:
        assert check_trigger(suggestion, tokenizer) == []
    assert suggest_triggers(trigger, tokenizer) == suggestions  # the same every time


def test_initial_vectors_repeat_the_init_words_to_fill(tokenizer, token_table):
    robot = tokenizer("robot", add_special_tokens=False).input_ids
    assert len(robot) == 1
    vectors = initial_vectors("robot", 3, tokenizer, token_table, seed=1)
    assert vectors.shape == (3, 768) and vectors.dtype == torch.float32
    for row in vectors:
        assert torch.equal(row, token_table.weight[robot[0]])

    two_words = tokenizer("oil painting", add_special_tokens=False).input_ids
    vectors = initial_vectors("oil painting", 4, tokenizer, token_table, seed=1)
    expected = token_table.weight[[two_words[0], two_words[0], two_words[1], two_words[1]]]
    assert torch.equal(vectors, expected)


def test_fewer_vectors_than_words_average_neighbouring_words(tokenizer, token_table):
    ids = tokenizer("a red robot", add_special_tokens=False).input_ids
    assert len(ids) == 3
    vectors = initial_vectors("a red robot", 1, tokenizer, token_table, seed=1)
    assert torch.allclose(vectors[0], token_table.weight[ids].mean(dim=0))


def test_empty_init_text_gives_small_seeded_random_vectors(tokenizer, token_table):
    first = initial_vectors("", 2, tokenizer, token_table, seed=7)
    again = initial_vectors("  ", 2, tokenizer, token_table, seed=7)
    other = initial_vectors("", 2, tokenizer, token_table, seed=8)
    typical = token_table.weight.norm(dim=1).mean()
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.allclose(first.norm(dim=1), typical * 0.1)


@pytest.mark.parametrize(
    ("images", "kind", "vectors"), [(5, "face", 1), (20, "face", 2), (40, "subject", 5), (500, "face", 8), (10, "style", 2)]
)
def test_suggested_vector_count_grows_with_the_images(images, kind, vectors):
    count, reason = suggest_vector_count(images, kind)
    assert count == vectors
    assert f"{images} images" in reason
