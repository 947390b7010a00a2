"""Speech decoding: location-aware attention, joint CTC/attention beam search, CTC beam search,
the language model, word timestamps and subtitles."""

from __future__ import annotations

import pickle
import random
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from avseq.data.speech.lm_text import lm_batch, unigram_perplexity
from avseq.data.synth.sentences import SentenceGenerator
from avseq.decoding.align import (
    WordTime,
    snap_to_pauses,
    speech_segments,
    srt_cues,
    to_srt,
    word_timestamps,
)
from avseq.decoding.attention import CTCPrefixScorer, joint_beam_search
from avseq.decoding.beam import greedy_search
from avseq.decoding.ctc import CTCBeamSearch, ctc_greedy
from avseq.decoding.ngram import (
    kneser_ney,
    log10prob,
    read_arpa_words,
    sentence_log10prob,
)
from avseq.decoding.ngram import (
    write_arpa as write_ngram_arpa,
)
from avseq.features.audio import LogMel, SpecAugment
from avseq.models.components.attention import AdditiveAttention
from avseq.models.components.attention_decoder import AttentionDecoder
from avseq.models.components.ctc_head import CTCHead
from avseq.models.components.lm import RNNLanguageModel
from avseq.models.components.recognizer import SpeechRecognizer, build_recognizer
from avseq.models.components.rnn_encoder import RNNEncoder
from avseq.models.components.subsampling import Conv2dSubsampler
from avseq.text.tokenizer import CharTokenizer, SentencePieceTokenizer, tokenizer_from_dict
from avseq.utils.masks import frame_mask

TOK = CharTokenizer()


def tiny_joint(seed: int = 0) -> SpeechRecognizer:
    torch.manual_seed(seed)
    return build_recognizer(
        TOK.vocab_size,
        frontend=partial(LogMel, n_mels=20),
        augment=SpecAugment,
        subsampler=partial(Conv2dSubsampler, channels=4, out_dim=24),
        encoder=partial(RNNEncoder, hidden_size=24, num_layers=1),
        head=CTCHead,
        decoder=partial(
            AttentionDecoder,
            embed_size=8,
            hidden_size=24,
            attn_size=16,
            location_filters=4,
            location_kernel=5,
        ),
    ).eval()


def test_location_aware_attention_never_looks_at_padding() -> None:
    torch.manual_seed(0)
    att = AdditiveAttention(6, 8, query_size=5, location_filters=3, location_kernel=5)
    keys = torch.randn(2, 9, 6)
    lengths = torch.tensor([9, 4])
    mask = frame_mask(lengths, 9)
    previous = mask.float() / lengths[:, None]
    query = torch.randn(2, 5)
    ctx, w = att(keys, mask, query, previous=previous)
    assert torch.all(w[1, 4:] == 0)
    torch.testing.assert_close(w.sum(-1), torch.ones(2))
    # the short sequence alone, without padding, attends (and reads) exactly the same
    ctx1, w1 = att(keys[1:2, :4], mask[1:2, :4], query[1:2], previous=previous[1:2, :4])
    torch.testing.assert_close(w1[0], w[1, :4])
    torch.testing.assert_close(ctx1[0], ctx[1])
    with pytest.raises(ValueError, match="previous"):
        att(keys, mask, query)


def test_joint_model_loss_and_attention_targets() -> None:
    model = tiny_joint()
    tokens = pad_sequence([torch.tensor(TOK.encode(t)) for t in ["ab c", "de"]], batch_first=True)
    lengths = torch.tensor([4, 2])
    states = torch.randn(2, 7, model.encoder.output_size)
    logits, targets = model.attention_logits(states, torch.tensor([7, 5]), tokens, lengths)
    eos = TOK.vocab_size + 1
    assert logits.shape == (2, 5, TOK.vocab_size + 2)
    assert targets[0].tolist() == [*TOK.encode("ab c"), eos]
    assert targets[1].tolist() == [*TOK.encode("de"), eos, 0, 0]


def test_ctc_prefix_scores_add_up_to_the_ctc_likelihood() -> None:
    """With ctc_weight=1 a finished hypothesis's score is exactly log P(y | x) under CTC."""
    model = tiny_joint()
    torch.manual_seed(1)
    logits = torch.randn(3, 12, TOK.vocab_size) * 3
    frames = torch.tensor([12, 9, 6])
    states = torch.zeros(3, 12, model.encoder.output_size)
    results = joint_beam_search(model, states, frames, logits, beam=4, ctc_weight=1.0)
    log_probs = logits.log_softmax(-1).transpose(0, 1)
    for u, hyps in enumerate(results):
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        y = torch.tensor([hyps[0].tokens])
        nll = F.ctc_loss(
            log_probs[:, u : u + 1],
            y,
            frames[u : u + 1],
            torch.tensor([y.numel()]),
            reduction="sum",
        )
        assert hyps[0].score == pytest.approx(-float(nll), abs=1e-3)


def peaky_emissions(texts: list[str], seed: int, frames_per_char: int = 3, tok=TOK) -> torch.Tensor:
    """CTC logits that spell `texts` with some noise, blanks between units (characters, or
    the pieces of another tokenizer `tok`)."""
    g = torch.Generator().manual_seed(seed)
    t = max(len(x) for x in texts) * frames_per_char + 4
    logits = 0.5 * torch.randn(len(texts), t, tok.vocab_size, generator=g)
    logits[:, :, 0] += 7.0
    for u, text in enumerate(texts):
        for i, tok_id in enumerate(tok.encode(text)):
            bump = 10.0 + 2 * torch.rand(1, generator=g).item()
            logits[u, 2 + i * frames_per_char, tok_id] += bump
    return logits


def test_joint_decoding_with_ctc_weight_1_reproduces_ctc_beam_search() -> None:
    model = tiny_joint()
    texts = ["open the door", "call four two", "seven", "red apple"]
    logits = peaky_emissions(texts, seed=2)
    frames = torch.full((len(texts),), logits.size(1))
    states = torch.zeros(len(texts), logits.size(1), model.encoder.output_size)
    joint = joint_beam_search(model, states, frames, logits, beam=8, ctc_weight=1.0)
    beam = CTCBeamSearch(TOK, beam=8)(logits, frames)
    greedy = [TOK.decode(ids) for ids in ctc_greedy(logits, frames)]
    assert [TOK.decode(r[0].tokens) for r in joint] == beam
    assert beam == greedy == texts


def test_beam_width_one_equals_greedy_attention_decoding() -> None:
    model = tiny_joint(seed=3)
    torch.manual_seed(3)
    states = torch.randn(3, 10, model.encoder.output_size)
    frames = torch.tensor([10, 7, 4])
    beam = joint_beam_search(model, states, frames, None, beam=1, ctc_weight=0.0)
    greedy = [  # no longer than the utterance's frames, as in the beam search
        greedy_search(model.decoder, states[u : u + 1], frame_mask(frames[u : u + 1], 10), n)[0]
        for u, n in enumerate(frames.tolist())
    ]
    assert [r[0].tokens for r in beam] == [h.tokens for h in greedy]
    for r, h in zip(beam, greedy, strict=True):
        assert r[0].score == pytest.approx(h.logprob, abs=1e-4)


def test_greedy_attention_output_does_not_depend_on_the_batch() -> None:
    model = tiny_joint(seed=4)
    torch.manual_seed(4)
    states = torch.randn(3, 12, model.encoder.output_size)
    frames = torch.tensor([12, 5, 2])
    batched = greedy_search(model.decoder, states, frame_mask(frames, 12), max_len=frames)
    for u, n in enumerate(frames.tolist()):
        alone = greedy_search(
            model.decoder, states[u : u + 1, :n], frame_mask(frames[u : u + 1], n), n
        )
        assert batched[u].tokens == alone[0].tokens
        assert len(batched[u].tokens) <= n


def test_lexicon_restricts_ctc_beam_output_to_known_words() -> None:
    logits = peaky_emissions(["opan the door"], seed=4)  # a misspelt word
    frames = torch.tensor([logits.size(1)])
    free = CTCBeamSearch(TOK, beam=16)(logits, frames)
    fixed = CTCBeamSearch(TOK, beam=16, lexicon=["open", "the", "door", "close"])(logits, frames)
    assert free == ["opan the door"]
    assert fixed == ["open the door"]


def train_tiny_lm(sentences: list[list[int]], steps: int = 80) -> RNNLanguageModel:
    torch.manual_seed(0)
    lm = RNNLanguageModel(TOK.vocab_size, embed_size=16, hidden_size=48, num_layers=1, dropout=0)
    opt = torch.optim.AdamW(lm.parameters(), lr=1e-2)
    rng = random.Random(0)
    for _ in range(steps):
        inputs, targets = lm_batch(rng.sample(sentences, 16), lm.bos, lm.eos)
        loss = F.cross_entropy(lm(inputs).flatten(0, 1), targets.flatten(), ignore_index=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return lm.eval()


def lm_perplexity(lm: RNNLanguageModel, sentences: list[list[int]]) -> float:
    inputs, targets = lm_batch(sentences, lm.bos, lm.eos)
    with torch.no_grad():
        nll = F.cross_entropy(lm(inputs).flatten(0, 1), targets.flatten(), ignore_index=0)
    return float(nll.exp())


def test_lm_perplexity_beats_unigram_and_steps_match_forward() -> None:
    gen, rng = SentenceGenerator(), random.Random(5)
    train = [TOK.encode(gen.sample(rng)) for _ in range(400)]
    held_out = [TOK.encode(gen.sample(rng)) for _ in range(60)]
    lm = train_tiny_lm(train)
    unigram = unigram_perplexity(train, held_out, lm.eos)
    ppl = lm_perplexity(lm, held_out)
    assert ppl < 0.8 * unigram, (ppl, unigram)
    # the step-by-step interface used in beam search agrees with the batched forward
    inputs, _ = lm_batch([held_out[0]], lm.bos, lm.eos)
    with torch.no_grad():
        full = lm(inputs).log_softmax(-1)[0]
        state = lm.start(1)
        for i, tok in enumerate(inputs[0].tolist()):
            step, state = lm.step(torch.tensor([tok]), state)
            torch.testing.assert_close(step[0], full[i], atol=1e-5, rtol=1e-5)


def test_word_timestamps_from_alignment_and_srt() -> None:
    frames, fs = 60, 0.04
    lp = torch.full((frames, TOK.vocab_size), -9.0)
    lp[:, 0] = 0.0
    space = TOK.alphabet.index(" ") + 1
    for f, tok in [(10, "a"), (12, "b"), (20, None), (30, "c"), (33, "d"), (34, "d")]:
        lp[f] = -9.0
        lp[f, space if tok is None else TOK.encode(tok)[0]] = 0.0
    words = word_timestamps(lp.log_softmax(-1), frames, "ab cd", TOK, fs, offset=10.0)
    assert [w.word for w in words] == ["ab", "cd"]
    assert words[0].start == pytest.approx(10.4) and words[0].end == pytest.approx(10.52)
    assert words[1].start == pytest.approx(11.2) and words[1].end == pytest.approx(11.4)
    assert all(0.9 < w.confidence <= 1.0 for w in words)
    assert word_timestamps(lp.log_softmax(-1), 3, "abcdef", TOK, fs) is None  # cannot fit
    timed = [WordTime(f"w{i}", i * 0.5, i * 0.5 + 0.3, 1.0) for i in range(12)]
    timed.append(WordTime("late", 30.0, 30.4, 1.0))
    cues = srt_cues(timed, max_words=10)
    assert [len(c[2].split()) for c in cues] == [10, 2, 1]
    srt = to_srt(timed)
    assert srt.startswith("1\n00:00:00,000 --> 00:00:04,800\nw0 w1")
    assert "3\n00:00:30,000 --> 00:00:30,400\nlate\n" in srt


def test_prefix_scorer_handles_padding_frames() -> None:
    """Frames past an utterance's length change nothing: the same utterance alone and padded
    in a batch gets the same prefix scores."""
    torch.manual_seed(7)
    lp = torch.randn(1, 8, TOK.vocab_size).log_softmax(-1)
    padded = torch.cat([lp, torch.randn(1, 5, TOK.vocab_size).log_softmax(-1)], 1)
    alone = CTCPrefixScorer(lp, torch.tensor([8]))
    batch = CTCPrefixScorer(padded, torch.tensor([8]))
    for scorer in (alone, batch):
        psi, _ = scorer.scores()
        scorer.advance(torch.tensor([0]), torch.tensor([3]), psi[:, 3])
        scorer.psi_next, scorer.ends_next = scorer.scores()
    torch.testing.assert_close(alone.psi_next, batch.psi_next)
    torch.testing.assert_close(alone.ends_next, batch.ends_next)


def write_arpa(path, logprobs: dict[str, float]) -> str:
    """A KenLM ARPA file: unigrams with the given log10 probabilities (and one bigram, as
    KenLM needs at least two orders)."""
    entries = {"<s>": -99.0, "</s>": -1.0, "<unk>": -5.0, **logprobs}
    lines = ["\\data\\", f"ngram 1={len(entries)}", "ngram 2=1", "", "\\1-grams:"]
    lines += [f"{p:.4f}\t{w}\t0.0" for w, p in entries.items()]
    lines += ["", "\\2-grams:", "-0.1\tthe door", "", "\\end\\", ""]
    path.write_text("\n".join(lines))
    return str(path)


def test_kenlm_word_model_decides_between_lexicon_words(tmp_path) -> None:
    """An ambiguous word (p or v heard equally) is resolved by the ARPA model's preference."""
    logits = peaky_emissions(["open the door"], seed=5)
    p, v = TOK.encode("p")[0], TOK.encode("v")[0]
    frame = 2 + 1 * 3  # the second character's frame
    logits[0, frame, v] = logits[0, frame, p]
    frames = torch.tensor([logits.size(1)])
    lexicon = ["open", "oven", "the", "door"]
    texts = {}
    for favoured, other in [("open", "oven"), ("oven", "open")]:
        arpa = write_arpa(
            tmp_path / f"{favoured}.arpa", {favoured: -1.0, other: -3.0, "the": -1.0, "door": -1.0}
        )
        search = CTCBeamSearch(TOK, beam=16, lexicon=lexicon, lm=arpa, lm_weight=1.0)
        texts[favoured] = search(logits, frames)[0]
    assert texts == {"open": "open the door", "oven": "oven the door"}


def bursts(spans: list[tuple[float, float]], total: float, rate: int = 8000, seed: int = 0):
    """Noise at -45 dB with tone bursts (speech stand-ins) at the given (start, end) seconds."""
    g = torch.Generator().manual_seed(seed)
    wave = 0.005 * torch.randn(int(total * rate), generator=g)
    t = torch.arange(wave.numel()) / rate
    for a, b in spans:
        inside = (t >= a) & (t < b)
        wave[inside] += 0.3 * torch.sin(2 * torch.pi * 220 * t[inside])
    return wave


def test_speech_segments_find_the_stretches_between_pauses() -> None:
    spans = [(0.3, 0.8), (0.85, 1.2), (1.6, 2.1)]  # a 50 ms gap is not a pause
    segments = speech_segments(bursts(spans, 2.5), 8000)
    assert len(segments) == 2
    for (a, b), (ta, tb) in zip(segments, [(0.3, 1.2), (1.6, 2.1)], strict=True):
        assert abs(a - ta) <= 0.02 and abs(b - tb) <= 0.02
    flat = 0.3 * torch.randn(8000)  # no pause anywhere: nothing to snap to
    assert speech_segments(flat, 8000) is None


def test_word_edges_move_onto_the_speech() -> None:
    """Aligned spikes late or early (in a chunk that starts 10 s into the file) are put back
    on the speech, a distant noise no word is near stays unclaimed, and two words sharing a
    stretch keep their aligned inner boundary."""
    segments = [(0.3, 0.7), (1.5, 2.4), (3.6, 3.8)]  # seconds into the chunk; the last: a cough
    words = [
        WordTime("open", 10.55, 10.95, 0.9),  # late
        WordTime("the", 11.3, 11.6, 0.9),  # early
        WordTime("door", 11.9, 12.1, 0.9),
    ]
    snapped = snap_to_pauses(words, segments, offset=10.0)
    times = [(round(w.start - 10, 6), round(w.end - 10, 6)) for w in snapped]
    assert times == [(0.3, 0.7), (1.5, 1.6), (1.9, 2.4)]
    assert [w.word for w in snapped] == ["open", "the", "door"]


def kn_sentences() -> list[list[str]]:
    return [s.split() for s in ["open the door"] * 4 + ["close the door", "the oven is hot"]]


def test_kneser_ney_is_a_distribution_with_continuation_counts() -> None:
    model = kneser_ney(kn_sentences(), order=3)
    vocab = [w for (w,) in model[0] if w != "<s>"]
    for history in [(), ("<s>",), ("the",), ("<s>", "open"), ("oven", "the"), ("hot", "door")]:
        total = sum(10 ** log10prob(model, history, w) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-6), history
    # "door" follows only "the"; "the" follows three different words: continuation counts
    # give "the" the larger unigram share although "door" is as frequent
    assert model[0][("the",)][0] > model[0][("door",)][0]
    seen = sentence_log10prob(model, ["open", "the", "door"])
    assert seen > sentence_log10prob(model, ["door", "the", "open"])


def test_word_ngram_arpa_resolves_an_ambiguous_word_by_context(tmp_path) -> None:
    """p or v heard equally in "o?en the door": a model of the transcripts picks the word
    its text supports."""
    logits = peaky_emissions(["open the door"], seed=5)
    p, v = TOK.encode("p")[0], TOK.encode("v")[0]
    frame = 2 + 1 * 3
    logits[0, frame, v] = logits[0, frame, p]
    frames = torch.tensor([logits.size(1)])
    texts = {}
    for favoured in ["open", "oven"]:
        sentences = [f"{favoured} the door".split()] * 3 + [["the", "oven", "is", "hot"]]
        sentences += [["open", "the", "box"]]
        arpa = write_ngram_arpa(kneser_ney(sentences, 3), tmp_path / f"{favoured}.arpa")
        lexicon = read_arpa_words(arpa)
        assert sorted(lexicon) == sorted({w for s in sentences for w in s})
        search = CTCBeamSearch(TOK, beam=16, lexicon=lexicon, lm=str(arpa), lm_weight=1.0)
        texts[favoured] = search(logits, frames)[0]
    assert texts == {"open": "open the door", "oven": "oven the door"}


def test_word_score_moves_word_breaks_in_lexicon_free_search() -> None:
    """A space heard as likely as silence: a word bonus splits the words, a penalty joins
    them (lexicon-free decoding scores words through the space token)."""
    logits = peaky_emissions(["red apple"], seed=3)
    space = TOK.alphabet.index(" ") + 1
    frame = 2 + 3 * 3  # the space's frame
    logits[0, frame, space] = logits[0, frame, 0]
    frames = torch.tensor([logits.size(1)])
    split = CTCBeamSearch(TOK, beam=16, word_score=3.0)(logits, frames)[0]
    joined = CTCBeamSearch(TOK, beam=16, word_score=-3.0)(logits, frames)[0]
    assert (split, joined) == ("red apple", "redapple")


SUBWORD_TEXT = [
    "open the door please",
    "close the window",
    "open the window please",
    "the door is open",
    "please close the door",
    "turn the light on",
    "turn off the light please",
] * 20


@pytest.fixture(scope="module")
def pieces() -> SentencePieceTokenizer:
    return SentencePieceTokenizer.train(SUBWORD_TEXT, vocab_size=40, model_type="unigram")


def test_sentencepiece_units_round_trip_and_travel(pieces: SentencePieceTokenizer) -> None:
    assert any(len(u) > 2 for u in pieces.units)  # whole words or word parts, not characters
    ids = pieces.encode("Open  the DOOR")
    assert 0 not in ids and max(ids) < pieces.vocab_size  # 0 stays the CTC blank
    assert pieces.decode(ids) == "open the door"
    assert len(pieces.word_groups(ids)) == 3
    restored = tokenizer_from_dict(pieces.to_dict())
    assert restored.encode("close the light") == pieces.encode("close the light")
    assert pickle.loads(pickle.dumps(pieces)).units == pieces.units  # DataLoader workers
    with pytest.raises(ValueError, match=r"\['z'\]"):
        pieces.encode("open the zoo")  # no piece holds a "z"


def test_ctc_beam_search_with_subword_units(pieces: SentencePieceTokenizer, tmp_path) -> None:
    """Lexicon-free search spells what the pieces say; a lexicon (words spelled in pieces)
    and a word LM work as with characters."""
    logits = peaky_emissions(["open the door please", "close the window"], 3, tok=pieces)
    frames = torch.full((2,), logits.size(1))
    assert CTCBeamSearch(pieces, beam=8)(logits, frames) == [
        "open the door please",
        "close the window",
    ]
    lexicon = ["open", "the", "door", "close", "window"]  # no "please"
    arpa = write_arpa(tmp_path / "w.arpa", {w: -1.0 for w in lexicon})
    fixed = CTCBeamSearch(pieces, beam=16, lexicon=lexicon, lm=arpa, lm_weight=0.5)
    texts = fixed(logits, frames)
    assert texts[1] == "close the window"
    assert texts[0].startswith("open the door") and set(texts[0].split()) <= set(lexicon)


def test_word_timestamps_with_subword_units(pieces: SentencePieceTokenizer) -> None:
    """A word spans the frames from its first piece to its last."""
    text = "open the window"
    ids = pieces.encode(text)
    groups = pieces.word_groups(ids)
    assert len(groups) == 3
    frames, fs = 12 + 4 * len(ids), 0.04
    lp = torch.full((frames, pieces.vocab_size), -9.0)
    lp[:, 0] = 0.0
    at = [6 + 4 * i for i in range(len(ids))]
    for f, tok in zip(at, ids, strict=True):
        lp[f] = -9.0
        lp[f, tok] = 0.0
    words = word_timestamps(lp.log_softmax(-1), frames, text, pieces, fs)
    assert [w.word for w in words] == text.split()
    for w, g in zip(words, groups, strict=True):
        assert w.start == pytest.approx(at[g[0]] * fs)
        assert w.end == pytest.approx((at[g[-1]] + 1) * fs)
