"""Captioning: vocabulary, MSR-VTT-style captions files, the attention decoder, beam search,
caption metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from avseq.data.video.captions import load_captions
from avseq.decoding.beam import decoder_beam_search, greedy_search
from avseq.errors import AnnotationError
from avseq.metrics.captioning import caption_scores, cider_d, slot_counts
from avseq.models.components.attention_decoder import AttentionDecoder
from avseq.text.video_language import caption_words, captions_for, parse_caption
from avseq.text.vocab import WordVocab, words
from avseq.utils.masks import frame_mask

# ---------------------------------------------------------------------------------------------
# vocabulary


def test_vocab_builds_with_min_count_and_round_trips() -> None:
    vocab = WordVocab.build(["A red circle.", "a red star", "a blue star!"], min_count=2)
    assert vocab.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert vocab.itos[4:] == ["a", "red", "star"]  # most frequent first, then alphabetical
    ids = vocab.encode("A red CIRCLE")
    assert ids == [vocab.stoi["a"], vocab.stoi["red"], WordVocab.unk]
    assert vocab.decode([WordVocab.bos, *ids, WordVocab.eos, 5]) == "a red <unk>"
    assert vocab.encode("a red star a red", max_len=3) == vocab.encode("a red star")
    again = WordVocab.from_dict(vocab.to_dict())
    assert again.itos == vocab.itos
    assert words("Don't stop… the man’s car") == ["don't", "stop", "the", "man's", "car"]


def test_builtin_caption_words_cover_every_generated_caption() -> None:
    import random

    vocab = WordVocab(caption_words())
    rng = random.Random(0)
    for action in ("move_left", "rotate_counterclockwise", "appear", "stay"):
        for caption in captions_for("orange", "triangle", action, rng):
            assert WordVocab.unk not in vocab.encode(caption), caption
            assert parse_caption(caption) == ("orange", "triangle", action), caption


# ---------------------------------------------------------------------------------------------
# MSR-VTT-style captions files


def make_msrvtt(tmp_path: Path, sentences: list[dict] | None = None) -> Path:
    videos = tmp_path / "TrainValVideo"
    videos.mkdir()
    for name in ("video0", "video1", "video2"):
        (videos / f"{name}.mp4").write_bytes(b"not decoded here")
    data = {
        "info": {},
        "videos": [
            {"video_id": "video0", "split": "train"},
            {"video_id": "video1", "split": "validate"},
            {"video_id": "video2", "split": "test"},
        ],
        "sentences": sentences
        if sentences is not None
        else [
            {"video_id": "video0", "caption": "A man is singing."},
            {"video_id": "video0", "caption": "someone sings a song"},
            {"video_id": "video1", "caption": "a dog runs"},
            {"video_id": "video2", "caption": "a car drives"},
        ],
    }
    path = tmp_path / "train_val_videodatainfo.json"
    path.write_text(json.dumps(data, indent=1))
    return path


def test_msrvtt_layout_finds_videos_by_id_and_normalises_splits(tmp_path) -> None:
    path = make_msrvtt(tmp_path)
    videos, problems = load_captions(path)
    assert problems == []
    assert {v.split for v in videos.values()} == {"train", "val", "test"}
    assert videos["video0"].path == tmp_path / "TrainValVideo" / "video0.mp4"
    assert videos["video0"].captions == ("a man is singing", "someone sings a song")


@pytest.mark.parametrize(
    ("sentences", "message"),
    [
        ([{"video_id": "video0", "caption": "  "}], "empty caption for video 'video0'"),
        ([{"video_id": "video9", "caption": "a cat"}], "caption for unknown video 'video9'"),
        ([{"video_id": "video0", "caption": "a cat"}], "video 'video1' has no captions"),
    ],
)
def test_bad_caption_entries_are_named_or_skipped(tmp_path, sentences, message) -> None:
    path = make_msrvtt(tmp_path, sentences)
    with pytest.raises(AnnotationError, match=message):
        load_captions(path)
    _, problems = load_captions(path, on_error="skip")
    assert any(message in p for p in problems), problems
    assert all(str(path) in p for p in problems)


def test_missing_video_and_unparsable_json_are_one_line_errors(tmp_path) -> None:
    path = make_msrvtt(tmp_path)
    (tmp_path / "TrainValVideo" / "video2.mp4").unlink()
    with pytest.raises(AnnotationError, match=r"videos\[2\]: no video file for id 'video2'"):
        load_captions(path)
    videos, problems = load_captions(path, on_error="skip")
    assert set(videos) == {"video0", "video1"} and len(problems) == 1
    broken = tmp_path / "broken.json"
    broken.write_text('{"videos": [\n  {"video_id": "a",}\n]}')
    with pytest.raises(AnnotationError, match=r"broken.json:2:\d+: not valid JSON") as err:
        load_captions(broken)
    assert "\n" not in str(err.value)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"annotations": []}')
    with pytest.raises(AnnotationError, match="'videos' and 'sentences'"):
        load_captions(wrong)


# ---------------------------------------------------------------------------------------------
# decoder


def tiny_decoder(vocab_size: int = 12, state_size: int = 10) -> AttentionDecoder:
    torch.manual_seed(0)
    return AttentionDecoder(vocab_size, state_size, embed_size=8, hidden_size=16, attn_size=8)


def test_decoder_shapes_and_attention_never_looks_at_padding() -> None:
    dec = tiny_decoder().eval()
    states = torch.randn(3, 7, 10)
    lengths = torch.tensor([7, 4, 2])
    mask = frame_mask(lengths, 7)
    tokens = torch.tensor([[1, 5, 6, 2, 0], [1, 7, 2, 0, 0], [1, 4, 4, 4, 2]])
    logits, attention = dec(states, mask, tokens)
    assert logits.shape == (3, 4, 12) and attention.shape == (3, 4, 7)
    assert torch.allclose(attention.sum(-1), torch.ones(3, 4))
    assert (attention[1, :, 4:] == 0).all() and (attention[2, :, 2:] == 0).all()
    garbage = states.clone()
    garbage[1, 4:] = 1e3
    garbage[2, 2:] = -1e3
    again, _ = dec(garbage, mask, tokens)
    assert torch.allclose(logits, again, atol=1e-6)
    clean, dirty = greedy_search(dec, states, mask, 6), greedy_search(dec, garbage, mask, 6)
    assert [h.tokens for h in clean] == [h.tokens for h in dirty]
    beams = (
        decoder_beam_search(dec, states, mask, 3, 6),
        decoder_beam_search(dec, garbage, mask, 3, 6),
    )
    assert [[h.tokens for h in b] for b in beams[0]] == [[h.tokens for h in b] for b in beams[1]]
    for h, b, n in zip(dirty, beams[1], lengths.tolist(), strict=True):
        assert (h.attention[:, n:] == 0).all() and (b[0].attention[:, n:] == 0).all()


def logprob_of(dec: AttentionDecoder, states, mask, tokens: list[int]) -> float:
    """Teacher-forced log-probability of `tokens` then `<eos>`, as the search scores it
    (`<pad>` and `<bos>` are never generated; only `<eos>` after the last allowed word)."""
    seq = torch.tensor([[1, *tokens, 2]])
    with torch.no_grad():
        logits, _ = dec(states, mask, seq)
    logp = logits.log_softmax(-1)[0]
    return float(logp.gather(1, seq[0, 1:, None]).sum())


def test_beam_of_width_one_equals_greedy() -> None:
    dec = tiny_decoder(vocab_size=9).eval()
    states = torch.randn(4, 5, 10)
    mask = frame_mask(torch.tensor([5, 3, 5, 1]), 5)
    greedy = greedy_search(dec, states, mask, max_len=8)
    beam = decoder_beam_search(dec, states, mask, beam=1, max_len=8)
    assert [h.tokens for h in greedy] == [b[0].tokens for b in beam]
    for g, b in zip(greedy, beam, strict=True):
        assert g.logprob == pytest.approx(b[0].logprob, abs=1e-4)
        assert torch.allclose(g.attention, b[0].attention, atol=1e-6)


def test_beam_search_returns_hypotheses_best_first_with_their_true_scores() -> None:
    dec = tiny_decoder(vocab_size=7).eval()
    # make <eos> likely enough that beams finish at different lengths
    with torch.no_grad():
        dec.out.bias[2] += 1.5
    states = torch.randn(3, 6, 10)
    mask = frame_mask(torch.tensor([6, 4, 2]), 6)
    results = decoder_beam_search(dec, states, mask, beam=4, max_len=6)
    greedy = greedy_search(dec, states, mask, max_len=6)
    for i, hyps in enumerate(results):
        assert len(hyps) == 4
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in hyps}) == 4  # distinct hypotheses
        assert hyps[0].logprob >= greedy[i].logprob - 1e-4  # never worse than greedy
        for h in hyps:
            assert 1 not in h.tokens and 0 not in h.tokens and len(h.tokens) <= 6
            expected = logprob_of(dec, states[i : i + 1], mask[i : i + 1], h.tokens)
            assert h.logprob == pytest.approx(expected, abs=1e-4)
    # a length penalty favours longer hypotheses: the best one is never shorter
    long = decoder_beam_search(dec, states, mask, beam=4, max_len=6, alpha=2.0)
    for a, b in zip(results, long, strict=True):
        assert len(b[0].tokens) >= len(a[0].tokens)


def test_scheduled_sampling_feeds_the_models_own_words() -> None:
    dec = tiny_decoder().eval()
    states = torch.randn(2, 4, 10)
    mask = frame_mask(torch.tensor([4, 3]), 4)
    greedy = greedy_search(dec, states, mask, max_len=5)
    truth = torch.tensor([[1, 4, 5, 6, 7, 8, 2], [1, 8, 7, 6, 5, 4, 2]])
    logits, _ = dec(states, mask, truth, sample_prob=1.0)
    own = logits.argmax(-1)
    for i, h in enumerate(greedy):
        n = len(h.tokens)
        assert own[i, :n].tolist() == h.tokens[: min(n, 6)]
    forced, _ = dec(states, mask, truth, sample_prob=0.0)
    assert not torch.allclose(forced, logits)


# ---------------------------------------------------------------------------------------------
# metrics

REFS = [
    [
        "a red circle slides to the left",
        "the red circle moves left",
        "a red circle is moving to the left",
    ],
    [
        "a blue star rotates clockwise",
        "the blue star spins clockwise",
        "a blue star is turning clockwise",
    ],
    ["a green square grows", "the green square gets bigger", "a green square is growing"],
]
HYPS = [
    "a red circle moves to the left",
    "a blue star spins counterclockwise",
    "the green square gets bigger",
]


def test_caption_metrics_match_the_coco_caption_reference_values() -> None:
    # values computed with pycocoevalcap 1.2 (Bleu(4), Rouge(), Cider()) on the same pairs
    scores = caption_scores(HYPS, REFS)
    assert scores["bleu1"] == pytest.approx(0.9411764705, abs=1e-6)
    assert scores["bleu2"] == pytest.approx(0.8981774262, abs=1e-6)
    assert scores["bleu3"] == pytest.approx(0.8371575361, abs=1e-6)
    assert scores["bleu4"] == pytest.approx(0.6188571251, abs=1e-6)
    assert scores["rouge_l"] == pytest.approx(0.8190476190, abs=1e-6)
    total, per_video = cider_d(HYPS, REFS)
    assert total == pytest.approx(4.143863343067767, abs=1e-9)
    assert per_video == pytest.approx([4.250807017976139, 3.446257439824776, 4.734525571402386])
    # slot accuracy: the star turns the wrong way
    assert scores["slot_accuracy"] == pytest.approx(2 / 3) and scores["slot_videos"] == 3


def test_perfect_and_empty_captions() -> None:
    perfect = caption_scores([r[0] for r in REFS], REFS)
    assert perfect["bleu4"] == pytest.approx(1.0) and perfect["slot_accuracy"] == 1.0
    assert perfect["cider_d"] > caption_scores(HYPS, REFS)["cider_d"]
    empty = caption_scores(["", "", ""], REFS)
    assert empty["bleu4"] == 0.0 and empty["cider_d"] == 0.0 and empty["slot_accuracy"] == 0.0


def test_slot_accuracy_needs_colour_shape_and_action_of_the_main_object() -> None:
    refs = [["a red star rotates clockwise", "the red star is spinning clockwise"]] * 5
    hyps = [
        "the red star turns around clockwise",  # right
        "a red star rotates counterclockwise",  # wrong action
        "a blue star rotates clockwise",  # wrong colour
        "a red cross rotates clockwise",  # wrong shape
        "a red star",  # no action
    ]
    # all three right, and each slot on its own: which one fails
    counts = slot_counts(hyps, refs)
    assert counts == {"all": 1, "colour": 4, "shape": 4, "action": 3, "total": 5}
    not_builtin = slot_counts(["a man sings"], [["a man is singing"]])
    assert (not_builtin["all"], not_builtin["total"]) == (0, 0)  # not built-in captions
    scores = caption_scores(hyps, refs)
    assert scores["slot_shape"] == 0.8 and scores["slot_action"] == 0.6


def test_concept_targets_are_the_words_every_reference_uses() -> None:
    """The concept detector learns what all annotators named (the object's colour and shape),
    not one annotator's phrasing: words in some references only are left out of its loss."""
    from functools import partial

    from avseq.features.frames import FrameEncoder
    from avseq.models.components.attention import AttentionPoolingClassifier
    from avseq.models.components.rnn_encoder import RNNEncoder
    from avseq.models.components.video_encoder import build_video_model
    from avseq.models.tasks.video import VideoTask

    refs = ["a red star moves left", "the red star slides to the left", "a red star goes left"]
    vocab = WordVocab.build([*refs, "a blue square grows"], min_count=1)
    task = VideoTask(
        [],
        optimizer=torch.optim.AdamW,
        vocab=vocab.to_dict()["tokens"],
        net=partial(
            build_video_model,
            frame_encoder=partial(FrameEncoder, channels=(4, 4, 4, 4), out_dim=8),
            encoder=partial(RNNEncoder, hidden_size=4, num_layers=1),
            head=AttentionPoolingClassifier,
            frame_skip=True,
        ),
        action_weight=0.0,
        caption_weight=1.0,
        concept_weight=1.0,
    )
    target, weight = task.concept_targets([refs], torch.device("cpu"))
    ids = {w: vocab.encode(w)[0] for w in ("red", "star", "left", "a", "the", "blue", "grows")}
    assert {w for w, i in ids.items() if target[0, i] == 1} == {"red", "star", "left"}
    assert {w for w, i in ids.items() if weight[0, i] == 0} == {"a", "the"}  # some refs only
    assert target[0, ids["blue"]] == 0 and weight[0, ids["blue"]] == 1  # in none: absent
    assert target[0, : WordVocab.unk + 1].sum() == 0  # special tokens are never concepts
