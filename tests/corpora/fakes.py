"""Tiny fake corpora in each distributor's exact folder and file layout, with generated audio
(sine plus noise) and video (a moving square): nothing downloaded."""

from __future__ import annotations

import csv
from pathlib import Path

import av
import numpy as np
import soundfile as sf

RATE = 16000


def tone(seconds: float, freq: float = 440.0, rate: int = RATE) -> np.ndarray:
    rng = np.random.default_rng(int(freq))
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(
        np.float32
    )


def write_audio(path: Path, seconds: float, freq: float = 440.0, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(seconds, freq), RATE, **kwargs)
    return path


def write_sphere(path: Path, seconds: float, freq: float = 330.0) -> Path:
    """A NIST SPHERE file as TED-LIUM ships them: a 1024-byte text header, then 16-bit PCM."""
    pcm = (tone(seconds, freq) * 32767).astype("<i2")
    header = (
        "NIST_1A\n   1024\n"
        f"sample_count -i {pcm.size}\nsample_n_bytes -i 2\nchannel_count -i 1\n"
        f"sample_byte_format -s2 01\nsample_rate -i {RATE}\nsample_coding -s3 pcm\nend_head\n"
    ).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.ljust(1024, b" ") + pcm.tobytes())
    return path


def write_video(path: Path, frames: int = 8, fps: int = 8, size: int = 32) -> Path:
    """A short MPEG-4 video (mp4 or avi by the suffix): a bright square moving right."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            img = np.full((size, size, 3), 20, np.uint8)
            x = i * (size - 8) // max(1, frames - 1)
            img[8:16, x : x + 8] = (230, 200, 40)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def librispeech(root: Path) -> Path:
    """LibriSpeech/{train-clean-100,dev-clean}/<spk>/<chapter>/: 2 + 2 utterances, one more
    transcript line whose flac is missing."""
    base = root / "LibriSpeech"
    lines = {
        ("train-clean-100", "19", "198"): ["HELLO WORLD", "IT'S NINETEEN EIGHTY FOUR", None],
        ("dev-clean", "84", "121"): ["THE CAT SAT ON THE MAT", "A DOG RAN HOME"],
    }
    for (split, spk, chapter), texts in lines.items():
        folder = base / split / spk / chapter
        rows = []
        for i, text in enumerate(texts):
            utt = f"{spk}-{chapter}-{i:04d}"
            if text is None:  # listed, but its audio is missing
                rows.append(f"{utt} LOST UTTERANCE")
                continue
            write_audio(folder / f"{utt}.flac", 1.0 + 0.25 * i, 300 + 50 * i)
            rows.append(f"{utt} {text}")
        (folder / f"{spk}-{chapter}.trans.txt").write_text("\n".join(rows) + "\n")
    return base


COMMONVOICE_SENTENCES = {
    "train": ['"Hello," she said.', "It costs $5 — 50% off!", "Café au lait", "漢字です"],
    "dev": ["The 3rd of May, 1999."],
    "test": ["Rock & roll."],
}


def commonvoice(root: Path, locale: str = "en") -> Path:
    """cv-corpus/<locale>/{train,dev,test}.tsv + clips/*.mp3 (Common Voice's header, quoting)."""
    base = root / "cv-corpus-17.0" / locale
    header = ["client_id", "path", "sentence_id", "sentence", "up_votes", "down_votes", "locale"]
    n = 0
    for split, sentences in COMMONVOICE_SENTENCES.items():
        rows = ["\t".join(header)]
        for sentence in sentences:
            name = f"common_voice_{locale}_{n:05d}.mp3"
            write_audio(base / "clips" / name, 1.2, 250 + 40 * n, format="MP3")
            rows.append("\t".join([f"client{n % 2}", name, str(n), sentence, "2", "0", locale]))
            n += 1
        (base / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return base


def speechcommands(root: Path) -> Path:
    """speech_commands_v0.02/: yes/, no/, _background_noise_/, the two list files."""
    base = root / "speech_commands_v0.02"
    for w, word in enumerate(("yes", "no")):
        for s, speaker in enumerate(("0a7c2a8d", "1b4c9b89", "2c3e8e11")):
            write_audio(base / word / f"{speaker}_nohash_0.wav", 1.0, 400 + 100 * w + 30 * s)
    write_audio(base / "_background_noise_" / "white_noise.wav", 2.0, 1000)
    (base / "validation_list.txt").write_text(
        "yes/1b4c9b89_nohash_0.wav\nno/1b4c9b89_nohash_0.wav\n"
    )
    (base / "testing_list.txt").write_text("yes/2c3e8e11_nohash_0.wav\nno/2c3e8e11_nohash_0.wav\n")
    return base


def kaldi(root: Path) -> Path:
    """data/train (two recordings cut by `segments`) and data/test (whole files)."""
    data = root / "s5" / "data"
    train, test = data / "train", data / "test"
    train.mkdir(parents=True)
    test.mkdir(parents=True)
    rec_a = write_audio(root / "wav" / "rec_a.wav", 4.0, 300)
    rec_b = write_audio(root / "wav" / "rec_b.flac", 3.0, 500)
    (train / "wav.scp").write_text(f"rec_a {rec_a}\nrec_b {rec_b}\n")
    (train / "segments").write_text(
        "spk1-a-000 rec_a 0.00 1.50\nspk1-a-001 rec_a 1.50 4.00\nspk2-b-000 rec_b 0.50 -1\n"
    )
    (train / "text").write_text(
        "spk1-a-000 HELLO <UNK> WORLD\nspk1-a-001 [NOISE] GOOD MORNING\nspk2-b-000 I HAVE 2 CATS\n"
    )
    (train / "utt2spk").write_text("spk1-a-000 spk1\nspk1-a-001 spk1\nspk2-b-000 spk2\n")
    utt = write_audio(root / "wav" / "utt_c.wav", 1.5, 700)
    (test / "wav.scp").write_text(f"spk3-c {utt}\n")
    (test / "text").write_text("spk3-c GOOD NIGHT\n")
    return data


def tedlium(root: Path) -> Path:
    """TEDLIUM_release-3/legacy/{train,dev}/{stm,sph}: a talk each, one ignored gap."""
    base = root / "TEDLIUM_release-3"
    for split, talk in (("train", "AlGore_2009"), ("dev", "BillGates_2010")):
        folder = base / "legacy" / split
        write_sphere(folder / "sph" / f"{talk}.sph", 5.0)
        (folder / "stm").mkdir(parents=True)
        (folder / "stm" / f"{talk}.stm").write_text(
            f"{talk} 1 {talk} 0.50 2.20 <o,f0,male> it 's a good day\n"
            f"{talk} 1 inter_segment_gap 2.20 2.60 <o,,unknown> ignore_time_segment_in_scoring\n"
            f"{talk} 1 {talk} 2.60 4.90 <o,f0,male> we don 't know {{NOISE}} why\n"
        )
    return base


KINETICS = [  # youtube_id, start, end, label, split
    ("abc123XYZ_0", 10, 20, "abseiling", "train"),
    ("def456UVW_1", 0, 10, "abseiling", "train"),
    ("ghi789RST_2", 5, 15, "air drumming", "train"),
    ("jkl012OPQ_3", 30, 40, "air drumming", "train"),
    ("mno345LMN_4", 1, 11, "abseiling", "val"),
    ("pqr678IJK_5", 2, 12, "air drumming", "val"),
    ("stu901FGH_6", 3, 13, "air drumming", "val"),  # never downloaded
]


def kinetics(root: Path) -> Path:
    """kinetics400/annotations/{train,validate}.csv + train/<label>/ and a flat val/ folder
    (label folders with spaces turned into underscores, as downloaders write them)."""
    base = root / "kinetics400"
    (base / "annotations").mkdir(parents=True)
    for split, name in (("train", "train.csv"), ("val", "validate.csv")):
        with (base / "annotations" / name).open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
            for yid, start, end, label, s in KINETICS:
                if s == split:
                    writer.writerow([label, yid, start, end, "validate" if s == "val" else s])
    for yid, start, end, label, split in KINETICS[:-1]:
        folder = base / split / label.replace(" ", "_") if split == "train" else base / split
        write_video(folder / f"{yid}_{start:06d}_{end:06d}.mp4")
    return base


HMDB51 = {"brush_hair": ["April_09_brush_hair_u_nm_np1_ba_goo_0.avi", "Brushing_my_hair_0.avi",
                         "hair_care_b_nm_np1_fr_med_1.avi"],
          "cartwheel": ["Acrobacias_cartwheel_f_cm_np1_ba_med_0.avi", "Bodenturnen_cartwheel_0.avi",
                        "cartwheel_f_cm_np1_le_bad_2.avi"]}  # fmt: skip


def hmdb51(root: Path) -> Path:
    """hmdb51/{testTrainMulti_7030_splits,hmdb51_org/<class>}: 1 = train, 2 = test, 0 unused
    (fold 1); in fold 2 the roles swap."""
    base = root / "hmdb51"
    splits = base / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for label, videos in HMDB51.items():
        for video in videos:
            write_video(base / "hmdb51_org" / label / video)
        for fold, marks in ((1, "120"), (2, "210")):
            lines = [f"{v} {m} \n" for v, m in zip(videos, marks, strict=True)]
            (splits / f"{label}_test_split{fold}.txt").write_text("".join(lines))
    return base


MSVD_CLIPS = ["-4wsuPCjDBc_5_15", "0lh_UWF9ZP4_62_69", "1dfR0A_BXjw_590_600", "2Wo6hCXkQz4_8_15"]


def msvd(root: Path) -> Path:
    """MSVD/AllVideoDescriptions.txt (comment header, several captions a clip) + YouTubeClips/;
    the last clip's file is missing."""
    base = root / "MSVD"
    lines = ["# Description of the corpus", "# VideoID Description"]
    for i, clip in enumerate(MSVD_CLIPS):
        lines += [f"{clip} a man is playing a guitar {i}", f"{clip} Someone plays music."]
        if i < len(MSVD_CLIPS) - 1:
            write_video(base / "YouTubeClips" / f"{clip}.avi")
    lines.append(f"{MSVD_CLIPS[0]} ...")  # a caption with no words
    (base / "AllVideoDescriptions.txt").write_text("\n".join(lines) + "\n")
    return base
