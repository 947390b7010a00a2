# avseq — run `make help` for the targets. Every target installs what it needs first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
AVSEQ := $(VENV)/bin/avseq
STAMP := $(VENV)/.installed
ARGS ?=
CKPT ?= runs/speech/latest/checkpoints/best.ckpt
# the word 3-gram LM the speech recipes write beside their checkpoints; evaluate-speech decodes
# with it (lexicon-constrained CTC beam search) when it is there, else greedily
WORD_LM ?= $(abspath $(dir $(CKPT))../words-3gram.arpa)
DECODE ?= $(if $(wildcard $(WORD_LM)),--decoder ctc-beam --lm $(WORD_LM),--decoder greedy)
# the splits evaluate-speech scores: the espeak-ng test split and the flite voice never trained on
SPEECH_SPLITS ?= test test_unseen_voice
VIDEO_CKPT ?= runs/video/latest/checkpoints/best.ckpt
# further splits evaluate-video scores: the built-in clips drawn by another renderer
VIDEO_SPLITS ?= test_other
JOINT_CKPT ?= runs/speech_joint/latest/checkpoints/best.ckpt
LM_CKPT ?= runs/speech_lm/latest/checkpoints/best.ckpt
JOINT_WORD_LM ?= $(abspath $(dir $(JOINT_CKPT))../words-3gram.arpa)

.DEFAULT_GOAL := help
.PHONY: help setup test lint format data-speech train-speech evaluate-speech bench-speech \
	train-speech-joint train-speech-lm bench-decoders \
	data-video train-video evaluate-video bench-video train-frames evaluate-frames \
	export-speech export-video export-check \
	serve bench-export bench-serve bench-data study-rnn clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv, install avseq with pinned packages and system packages (espeak-ng)

$(STAMP): pyproject.toml scripts/system_deps.sh
	@bash scripts/system_deps.sh
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

test: setup ## Run the test suite (CPU, a few minutes)
	$(PY) -m pytest -q

lint: setup ## Lint and check formatting with ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup ## Format the code with ruff
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

data-speech: setup ## Generate the built-in spoken corpus (cached; ARGS="data.corpus.train_hours=20")
	$(AVSEQ) data-speech $(ARGS)

train-speech: setup ## Train the speech recognizer (ARGS="trainer=gpu model.net.encoder.rnn_type=lstm")
	$(AVSEQ) train experiment=speech $(ARGS)

evaluate-speech: setup ## Evaluate a checkpoint on the built-in test split and the unseen flite voice: CTC beam search with the run's word LM when it has one (CKPT=path/to.ckpt DECODE="--decoder greedy" SPEECH_SPLITS=test)
	@set -e; for split in $(SPEECH_SPLITS); do \
	  echo "== $$split"; \
	  $(AVSEQ) evaluate --checkpoint $(CKPT) $(DECODE) --split $$split $(ARGS); \
	done

train-speech-joint: setup ## Train the joint CTC/attention recognizer (same encoder and data as train-speech; 1 epoch, ~20 min on 2 cores)
	$(AVSEQ) train experiment=speech_joint $(ARGS)

train-speech-lm: setup ## Train the character LSTM language model on the built-in transcripts (ARGS="data.train_text=my.txt ...")
	$(AVSEQ) train experiment=speech_lm $(ARGS)

bench-decoders: setup ## Compare speech decoders on the test split: WER/CER/speed (JOINT_CKPT=..., LM_CKPT=...)
	$(PY) -m avseq.bench.decoding --checkpoint $(JOINT_CKPT) --lm $(LM_CKPT) \
		$(if $(wildcard $(JOINT_WORD_LM)),--word-lm $(JOINT_WORD_LM),) $(ARGS)

bench-speech: setup ## Training throughput (Lightning vs plain PyTorch) and transcription speed (ARGS="--preset deepspeech2 --device cuda": 5x1024 BiLSTM, 64 x 10 s)
	$(PY) -m avseq.bench.speech $(ARGS)

data-video: setup ## Generate the built-in clips with captions (cached; ARGS="data.corpus.n_train=10000")
	$(AVSEQ) data-video $(ARGS)

train-video: setup ## Train the joint action recognizer + captioner (ARGS="trainer=gpu ...")
	$(AVSEQ) train experiment=video $(ARGS)

evaluate-video: setup ## Evaluate a video checkpoint: test split (+ the compositional split for built-in captions) and the clips of the held-out renderer (VIDEO_CKPT=path/to.ckpt VIDEO_SPLITS=)
	$(AVSEQ) evaluate --checkpoint $(VIDEO_CKPT) $(ARGS)
	@set -e; for split in $(VIDEO_SPLITS); do \
	  echo "== $$split"; \
	  $(AVSEQ) evaluate --checkpoint $(VIDEO_CKPT) --split $$split $(ARGS); \
	done

bench-video: setup ## Training throughput (Lightning vs plain PyTorch), data wait, classify and caption speed
	$(PY) -m avseq.bench.video $(ARGS)

FRAMES_CKPT ?= runs/video_frames/latest/checkpoints/best.ckpt
train-frames: setup ## Train the frame predictor on the built-in clips: 8 frames seen, 4 predicted (ARGS="trainer=gpu ...")
	$(AVSEQ) train experiment=video_frames $(ARGS)

evaluate-frames: setup ## PSNR/SSIM per horizon of a frame predictor vs copy-last and linear extrapolation on the test split, with example GIFs (FRAMES_CKPT=path/to.ckpt)
	$(AVSEQ) evaluate --checkpoint $(FRAMES_CKPT) $(ARGS)

EXPORT_FORMAT ?= onnx
export-speech: setup ## Export the speech checkpoint to ONNX (EXPORT_FORMAT=torchscript) in runs/export/speech, checked against PyTorch on a few test items
	$(AVSEQ) export --checkpoint $(CKPT) --format $(EXPORT_FORMAT) --output runs/export/speech $(ARGS)

export-video: setup ## Export the video checkpoint (action classifier, caption encoder + decoder step) in runs/export/video
	$(AVSEQ) export --checkpoint $(VIDEO_CKPT) --format $(EXPORT_FORMAT) --output runs/export/video $(ARGS)

export-check: setup ## Export both checkpoints and compare onnxruntime with PyTorch on the whole built-in test splits
	$(AVSEQ) export --checkpoint $(CKPT) --format $(EXPORT_FORMAT) --output runs/export/speech --check 100000 $(ARGS)
	$(AVSEQ) export --checkpoint $(VIDEO_CKPT) --format $(EXPORT_FORMAT) --output runs/export/video --check 100000 $(ARGS)

bench-export: setup ## onnxruntime vs PyTorch CPU speed: transcription and classification of the same files
	$(PY) -m avseq.bench.export --speech-checkpoint $(CKPT) --video-checkpoint $(VIDEO_CKPT) $(ARGS)

SERVE_ARGS ?=
serve: setup ## Serve the trained models: web page and JSON API on http://127.0.0.1:8000 (SERVE_ARGS="--port 9000")
	$(AVSEQ) serve $(if $(wildcard $(CKPT)),--speech-checkpoint $(CKPT),) \
		$(if $(wildcard $(VIDEO_CKPT)),--video-checkpoint $(VIDEO_CKPT),) $(SERVE_ARGS)

bench-serve: setup ## Load check of the server: concurrent clients on loopback, throughput, p50/p95 latency, errors, memory
	$(PY) -m avseq.bench.serve $(ARGS)

bench-data: setup ## Data at scale: read and start training on a generated 1,000,000-line manifest (time, peak memory); word LM builder speed
	$(PY) -m avseq.bench.data $(ARGS)

STUDY_OUT ?= runs/study_rnn
study-rnn: setup ## RNN vs LSTM vs GRU on the adding problem and the built-in speech corpus (make data-speech first): gradient flow, spans learned, clipping, CER; report in STUDY_OUT (~11 min on 2 cores; ARGS="--no-speech", "--size gpu --device cuda")
	$(AVSEQ) study gradients --output $(STUDY_OUT) $(ARGS)

clean: ## Remove runs and generated data (keeps .venv)
	rm -rf runs outputs lightning_logs
	find data -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
