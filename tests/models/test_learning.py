"""Learning: a tiny recognizer overfits a handful of generated utterances."""

from __future__ import annotations

from functools import partial

import torch
from torch.nn.utils.rnn import pad_sequence

from avseq.data.synth.speech import synthesize
from avseq.decoding.align import word_timestamps
from avseq.decoding.ctc import ctc_greedy_texts
from avseq.features.audio import LogMel
from avseq.metrics.asr import ASRScore
from avseq.models.components.ctc_head import CTCHead, ctc_loss
from avseq.models.components.recognizer import SpeechRecognizer, build_recognizer
from avseq.models.components.rnn_encoder import RNNEncoder
from avseq.models.components.subsampling import Conv2dSubsampler
from avseq.text.tokenizer import CharTokenizer, SentencePieceTokenizer

from ..conftest import needs_espeak

PHRASES = [
    "turn on the lights",
    "call four two",
    "open the door",
    "play some jazz",
    "red apple",
    "seven thirty",
]


def overfit(
    waves: list[torch.Tensor], texts: list[str], max_steps: int = 600, tok=None
) -> tuple[SpeechRecognizer, float, list[str]]:
    """Trains a tiny recognizer on `waves` until greedy CER < 5% (or `max_steps`); returns the
    model (eval mode), the CER and the transcripts. `tok`: characters unless given."""
    torch.manual_seed(0)
    tok = tok or CharTokenizer()
    batch = pad_sequence(waves, batch_first=True)
    lengths = torch.tensor([w.numel() for w in waves])
    targets = pad_sequence([torch.tensor(tok.encode(p)) for p in texts], batch_first=True)
    target_lengths = torch.tensor([len(tok.encode(p)) for p in texts])
    model = build_recognizer(
        tok.vocab_size,
        frontend=partial(LogMel, n_mels=40),
        augment=None,
        subsampler=partial(Conv2dSubsampler, channels=8, out_dim=96),
        encoder=partial(RNNEncoder, hidden_size=96, num_layers=2, dropout=0.0),
        head=CTCHead,
    )
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    cer, hyps = 1.0, []
    for step in range(max_steps):
        model.train()
        logits, frames = model(batch, lengths)
        loss = ctc_loss(logits, frames, targets, target_lengths)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if step % 25 == 24:
            model.eval()
            with torch.no_grad():
                hyps = ctc_greedy_texts(*model(batch, lengths), tok)
            score = ASRScore()
            for ref, hyp in zip(texts, hyps, strict=True):
                score.add(ref, hyp)
            cer = score.chars.rate
            if cer < 0.05:
                break
    return model.eval(), cer, hyps


@needs_espeak
def test_tiny_model_overfits_generated_utterances() -> None:
    waves = [synthesize(p, "en-us", 170, 50, 16000) for p in PHRASES]
    _, cer, hyps = overfit(waves, PHRASES)
    assert cer < 0.05, f"CER {cer:.3f}: {hyps}"


@needs_espeak
def test_tiny_model_overfits_with_subword_units() -> None:
    """The same with SentencePiece pieces as output units: CTC learns them too."""
    tok = SentencePieceTokenizer.train(PHRASES * 10, vocab_size=40)
    assert any(len(u) > 2 for u in tok.units)
    waves = [synthesize(p, "en-us", 170, 50, 16000) for p in PHRASES]
    _, cer, hyps = overfit(waves, PHRASES, tok=tok)
    assert cer < 0.05, f"CER {cer:.3f}: {hyps}"


def trimmed(wave: torch.Tensor, threshold: float = 0.02) -> torch.Tensor:
    loud = (wave.abs() > threshold * wave.abs().max()).nonzero()
    return wave[int(loud[0]) : int(loud[-1]) + 1]


@needs_espeak
def test_word_timestamps_match_known_word_boundaries() -> None:
    """Utterances made of separately spoken words with silences between them, so every word's
    start and end are known; the recognizer's timestamps fall within 0.1 s of them. (The
    tiny overfit model's raw CTC spikes sit up to 0.8 s away; the pauses put them right.)"""
    rate = 16000
    phrases = ["open door now", "seven lights", "call mother", "play red jazz", "stop"]
    words = {w: trimmed(synthesize(w, "en-us", 160, 50, rate)) for p in phrases for w in p.split()}
    waves, truth = [], []
    for i, phrase in enumerate(phrases):
        parts, bounds, t = [torch.zeros(int(0.3 * rate))], [], 0.3
        for j, w in enumerate(phrase.split()):
            gap = torch.zeros(int((0.25 + 0.1 * ((i + j) % 3)) * rate))
            bounds.append((t, t + words[w].numel() / rate))
            t += (words[w].numel() + gap.numel()) / rate
            parts += [words[w], gap]
        waves.append(torch.cat(parts))
        truth.append(bounds)
    model, cer, hyps = overfit(waves, phrases, max_steps=800)
    assert cer < 0.05, f"CER {cer:.3f}: {hyps}"
    tok = CharTokenizer()
    lengths = torch.tensor([w.numel() for w in waves])
    with torch.no_grad():
        logits, frames = model(pad_sequence(waves, batch_first=True), lengths)
    errors = []
    for u, phrase in enumerate(phrases):
        timed = word_timestamps(
            logits[u].log_softmax(-1),
            int(frames[u]),
            phrase,
            tok,
            model.frame_seconds,
            wave=waves[u],
            sample_rate=rate,
        )
        assert [w.word for w in timed] == phrase.split()
        for w, (start, end) in zip(timed, truth[u], strict=True):
            errors += [abs(w.start - start), abs(w.end - end)]
    assert max(errors) <= 0.1, f"boundary errors (s): {sorted(errors)[-5:]}"


def test_tiny_video_model_overfits_a_handful_of_clips() -> None:
    """One clip per action (with distractors): frames, CNN, BiRNN and pooling learn together."""
    import random

    import torch.nn.functional as F

    from avseq.data.synth.video_plan import plan_clip
    from avseq.data.synth.video_render import render_clip
    from avseq.features.frames import FrameEncoder
    from avseq.media.clips import clip_views
    from avseq.models.components.attention import AttentionPoolingClassifier
    from avseq.models.components.video_encoder import build_video_model
    from avseq.text.video_language import ACTIONS

    torch.manual_seed(0)
    rng = random.Random(0)
    clips = []
    for action in ACTIONS:
        shape = rng.choice(["square", "triangle", "star"])
        frames, _ = render_clip(plan_clip(rng, action, "red", shape, size=32, distractor=True))
        clips.append(clip_views(frames, 8, 1, jitter=False)[0])
    frames = torch.stack(clips)  # (12, 8, 3, 32, 32)
    lengths = torch.full((len(ACTIONS),), 8)
    labels = torch.arange(len(ACTIONS))
    model = build_video_model(
        partial(FrameEncoder, channels=(8, 16, 32, 32), out_dim=64, image_size=32),
        partial(RNNEncoder, hidden_size=32, num_layers=1, dropout=0.0),
        partial(AttentionPoolingClassifier, dropout=0.0),
        num_classes=len(ACTIONS),
    )
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        logits, _ = model(frames, lengths)
        loss = F.cross_entropy(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        logits, _ = model(frames, lengths)
    assert (logits.argmax(-1) == labels).all(), logits.argmax(-1)


def test_tiny_captioner_overfits_a_few_clips_captions() -> None:
    """Six clips, each with its own colour, shape and action: encoder and attention decoder
    learn to write each clip's caption word for word."""
    import random

    import torch.nn.functional as F

    from avseq.data.synth.video_plan import plan_clip
    from avseq.data.synth.video_render import render_clip
    from avseq.decoding.beam import greedy_search
    from avseq.features.frames import FrameEncoder
    from avseq.media.clips import clip_views
    from avseq.models.components.attention import AttentionPoolingClassifier
    from avseq.models.components.attention_decoder import AttentionDecoder
    from avseq.models.components.video_encoder import build_video_model
    from avseq.text.video_language import caption_for, caption_words, parse_caption
    from avseq.text.vocab import WordVocab
    from avseq.utils.masks import frame_mask

    torch.manual_seed(0)
    rng = random.Random(1)
    vocab = WordVocab(caption_words())
    combos = [
        ("red", "square", "move_left"),
        ("blue", "star", "grow"),
        ("green", "triangle", "disappear"),
        ("yellow", "circle", "move_up"),
        ("white", "cross", "bounce"),
        ("orange", "square", "stay"),
    ]
    clips, captions = [], []
    for colour, shape, action in combos:
        frames, _ = render_clip(plan_clip(rng, action, colour, shape, size=32, distractor=False))
        clips.append(clip_views(frames, 8, 1, jitter=False)[0])
        captions.append(caption_for(colour, shape, action, rng))
    frames = torch.stack(clips)
    lengths = torch.full((len(clips),), 8)
    tokens = pad_sequence(
        [torch.tensor([1, *vocab.encode(c), 2]) for c in captions], batch_first=True
    )
    model = build_video_model(
        partial(FrameEncoder, channels=(8, 16, 32, 32), out_dim=64, image_size=32),
        partial(RNNEncoder, hidden_size=32, num_layers=1, dropout=0.0),
        partial(AttentionPoolingClassifier, dropout=0.0),
        partial(AttentionDecoder, embed_size=32, hidden_size=64, attn_size=32, dropout=0.0),
        vocab_size=len(vocab),
    )
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    mask = frame_mask(lengths, 8)
    for _ in range(200):
        states = model.encoder(frames, lengths)
        logits, _ = model.decoder(states, mask, tokens)
        loss = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        hyps = greedy_search(model.decoder, model.encoder(frames, lengths), mask, 20)
    written = [vocab.decode(h.tokens) for h in hyps]
    assert written == captions
    assert [parse_caption(w) for w in written] == combos
