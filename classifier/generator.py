"""The local `gpt2-demo`: a small GPT-2 trained here on the corpus's text, and generation from it.

No machine of ours reaches the hub, so there is no `gpt2` to download. The demo builds one in
miniature at build time (`manage.py build_generator`, a step of `make model`):
1. a byte-level BPE vocabulary (the `tokenizers` library, GPT-2's scheme, `<|endoftext|>` as its only
   special token) trained on the corpus's unlabelled text and train split, saved so
   `AutoTokenizer.from_pretrained(dir)` loads it as a `GPT2TokenizerFast`;
2. a randomly initialised `GPT2LMHeadModel` of an explicit small config, trained for a fixed
   number of causal-LM steps on the same text, then scored on the validation split (perplexity);
3. `TextGenerator`, which `classifier/serve.py` serves on the Hugging Face text-generation
   container contract, generating with the KV cache (`generate(use_cache=True)`).

It writes English that is reviews-shaped rather than good; the point is a real model on the
same path a real `gpt2` endpoint takes. No Django here: the serving container has this package only.
"""

from __future__ import annotations

import csv
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from classifier.exceptions import ModelLoadError, TrainingDataError
from classifier.hub import offline_by_default

END_OF_TEXT = "<|endoftext|>"
BUILD_FILE = "generator.json"


@dataclass(frozen=True)
class GeneratorSize:
    """Model and schedule. The defaults build in under 90 s on two otherwise idle CPU cores (79 s
    measured on a shared machine, docs/sagemaker.md), because `make run` and CI build it on first use."""

    vocab_size: int = 4096
    n_layer: int = 3
    n_embd: int = 128
    n_head: int = 4
    # Positions the model has; the server caps prompt plus new tokens below this.
    n_positions: int = 512
    steps: int = 300
    batch_size: int = 32
    seq_length: int = 64
    lr: float = 3e-3
    warmup_steps: int = 30


GENERATOR = GeneratorSize()
# For unit tests: builds in a couple of seconds; the text is nonsense.
TINY_GENERATOR = GeneratorSize(
    vocab_size=512, n_layer=1, n_embd=32, n_head=2, n_positions=128, steps=3, batch_size=8, seq_length=32
)


def corpus_texts(corpus: str | Path) -> tuple[list[str], list[str]]:
    """The training texts (unlabelled sentences and the train split) and the validation texts."""
    corpus = Path(corpus)
    unlabelled = corpus / "unlabelled.txt"
    if not unlabelled.is_file():
        raise TrainingDataError(f"{unlabelled} is missing: build the corpus first (manage.py build_demo_model).")
    train = [line.strip() for line in unlabelled.read_text(encoding="utf-8").splitlines() if line.strip()]
    train += _csv_texts(corpus / "train.csv")
    return train, _csv_texts(corpus / "validation.csv")


def _csv_texts(path: Path) -> list[str]:
    if not path.is_file():
        raise TrainingDataError(f"{path} is missing: build the corpus first (manage.py build_demo_model).")
    with path.open(newline="", encoding="utf-8") as handle:
        return [row["text"].strip() for row in csv.DictReader(handle) if row.get("text", "").strip()]


def tokenizer_train(texts: list[str], out: Path, *, vocab_size: int) -> Any:
    """Train GPT-2's byte-level BPE on `texts` and save it as a GPT-2 tokenizer directory (`AutoTokenizer`
    loads it as `GPT2TokenizerFast`)."""
    from tokenizers import ByteLevelBPETokenizer

    # GPT2TokenizerFast is this class in transformers 5 (the Rust tokenizer behind GPT-2's API).
    from transformers import GPT2Tokenizer

    bpe = ByteLevelBPETokenizer()
    # Byte-level: every byte is in the initial alphabet, so no input is ever out of vocabulary.
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[END_OF_TEXT])
    tokenizer = GPT2Tokenizer(tokenizer_object=bpe._tokenizer, bos_token=END_OF_TEXT, eos_token=END_OF_TEXT)
    tokenizer.pad_token = END_OF_TEXT
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out))
    return tokenizer


def _blocks(tokenizer: Any, texts: list[str], seq_length: int) -> list[list[int]]:
    """The texts as one stream, a line each, cut into blocks of `seq_length` tokens.

    Lines, not `<|endoftext|>` between them: the corpus's texts are single sentences, and a model that
    learns to end after each one answers most prompts with "." and nothing more."""
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream.extend(ids)
        stream.extend(newline)
    return [stream[i : i + seq_length] for i in range(0, len(stream) - seq_length + 1, seq_length)]


def generator_build(
    out: str | Path,
    *,
    corpus: str | Path,
    size: GeneratorSize = GENERATOR,
    seed: int = 0,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Build the generator into `out` and return what `out/generator.json` records about it."""
    offline_by_default()
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    started = time.perf_counter()
    out = Path(out)
    random.seed(seed)
    torch.manual_seed(seed)
    train_texts, validation_texts = corpus_texts(corpus)
    say(f"vocabulary: byte-level BPE of {size.vocab_size} tokens from {len(train_texts):,} texts")
    tokenizer = tokenizer_train(train_texts, out, vocab_size=size.vocab_size)
    tokenizer_seconds = time.perf_counter() - started
    blocks = _blocks(tokenizer, train_texts, size.seq_length)
    if not blocks:
        raise TrainingDataError(f"{corpus} has too little text for blocks of {size.seq_length} tokens")
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=size.n_positions,
        n_embd=size.n_embd,
        n_layer=size.n_layer,
        n_head=size.n_head,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = GPT2LMHeadModel(config)
    say(f"training {model.num_parameters():,} parameters for {size.steps} steps on {len(blocks):,} blocks")
    train_seconds, last_loss = _train(model, blocks, size, seed=seed, say=say)
    validation = _perplexity(model, _blocks(tokenizer, validation_texts, size.seq_length)[:64])
    model.save_pretrained(str(out))
    model.generation_config.save_pretrained(str(out))
    record = {
        "size": asdict(size),
        "vocab_size_actual": len(tokenizer),
        "parameters": model.num_parameters(),
        "train_blocks": len(blocks),
        "final_train_loss": round(last_loss, 3),
        "validation_perplexity": round(validation, 1),
        "build_seconds": {
            "tokenizer": round(tokenizer_seconds, 1),
            "training": round(train_seconds, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "corpus": str(corpus),
    }
    (out / BUILD_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return record


def _train(model: Any, blocks: list[list[int]], size: GeneratorSize, *, seed: int, say) -> tuple[float, float]:
    import torch

    started = time.perf_counter()
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=size.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / size.warmup_steps) * max(0.05, 1 - step / size.steps)
    )
    model.train()
    loss_value = float("nan")
    for step in range(size.steps):
        batch = torch.tensor([blocks[rng.randrange(len(blocks))] for _ in range(size.batch_size)])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())
        if (step + 1) % 100 == 0:
            say(f"  step {step + 1}/{size.steps}: loss {loss_value:.3f}")
    model.eval()
    return time.perf_counter() - started, loss_value


def _perplexity(model: Any, blocks: list[list[int]]) -> float:
    import math

    import torch

    if not blocks:
        return float("nan")
    with torch.inference_mode():
        batch = torch.tensor(blocks)
        loss = model(input_ids=batch, labels=batch).loss
    return math.exp(float(loss))


@dataclass(frozen=True)
class GenerationRequest:
    """One generation's parameters, already checked against the server's limits."""

    prompt: str
    max_new_tokens: int = 50
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    do_sample: bool = False
    return_full_text: bool = True
    seed: int | None = None


class TextGenerator:
    """A saved causal LM and its tokenizer, loaded once per process, for one generation at a time."""

    device = "cpu"
    dtype = "float32"

    def __init__(self, model_dir: str | Path) -> None:
        offline_by_default()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            self.model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"Cannot load the generator from {model_dir}: {error}") from error
        self.model_name = Path(model_dir).name
        self.max_positions = int(getattr(self.model.config, "n_positions", 1024))
        torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))

    def token_count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, request: GenerationRequest) -> str:
        """The continuation of `request.prompt` (after the prompt when `return_full_text`)."""
        import torch

        encoded = self.tokenizer(request.prompt, return_tensors="pt", add_special_tokens=False)
        if encoded["input_ids"].shape[1] == 0:  # a prompt of nothing but what the tokenizer drops
            encoded = self.tokenizer(END_OF_TEXT, return_tensors="pt", add_special_tokens=False)
        options: dict[str, Any] = {"max_new_tokens": request.max_new_tokens, "use_cache": True}
        if request.do_sample:
            options |= {"do_sample": True, "temperature": request.temperature, "top_p": request.top_p}
            options["top_k"] = request.top_k or None
        else:
            options |= {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        if request.seed is not None:
            torch.manual_seed(request.seed)
        with torch.inference_mode():
            output = self.model.generate(
                **encoded, pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id, **options
            )
        new_ids = output[0, encoded["input_ids"].shape[1] :]
        continuation = str(self.tokenizer.decode(new_ids, skip_special_tokens=True))
        return request.prompt + continuation if request.return_full_text else continuation
