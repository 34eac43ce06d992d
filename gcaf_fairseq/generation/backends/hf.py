"""Batched greedy generation with a local Hugging Face causal LM (transformers).

Prompts are tokenized (once), sorted by length (longest first, so an out-of-memory shows
at once) within windows of consecutive prompts, left-padded with an attention mask and
decoded greedily (``do_sample=False``, one beam) for at most ``max_new_tokens`` tokens.
With left padding every row's new tokens start at the same column and the model's
position ids follow the mask, so a batch gives the same tokens as one prompt at a time
(up to floating-point reordering in half precision).

Models load from a local folder only (never from the hub); ``trust_remote_code`` only
when the user asks.
"""

import glob
import hashlib
import os
from typing import Iterator, List, Optional, Sequence, Tuple

from ...data.fingerprints import update_with_file
from .base import BackendError, Completion

DTYPE_NAMES = ("auto", "float32", "float16", "bfloat16")
# Prompts are sorted by length within windows of this many batches.
SORT_WINDOW_BATCHES = 64
# Bytes read from each end of every weight file for the fingerprint.
FINGERPRINT_BYTES = 1 << 20
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth")


def weights_fingerprint(model_path: str) -> str:
    """A cheap content digest of a model folder: config.json, and the name, size and the
    first and last MiB of every weight file. Two copies of one model agree; a retrained
    model (other weights under the same folder name) does not."""
    digest = hashlib.sha256()
    config_path = os.path.join(model_path, "config.json")
    if os.path.isfile(config_path):
        update_with_file(digest, config_path)
    weight_files = {path for pattern in WEIGHT_PATTERNS for path in glob.glob(os.path.join(model_path, pattern))}
    for path in sorted(weight_files):
        size = os.path.getsize(path)
        digest.update(f"{os.path.basename(path)}:{size}".encode())
        with open(path, "rb") as stream:
            digest.update(stream.read(FINGERPRINT_BYTES))
            stream.seek(max(0, size - FINGERPRINT_BYTES))
            digest.update(stream.read(FINGERPRINT_BYTES))
    return digest.hexdigest()[:16]


def resolve_dtype(dtype: str, device):
    """``auto``: bfloat16 on a GPU that supports it, else float16 on GPU, float32 on CPU."""
    import torch

    if dtype not in DTYPE_NAMES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPE_NAMES)}, got {dtype!r}")
    if dtype != "auto":
        return getattr(torch, dtype)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_hf_backend(
    model_path: str,
    batch_size: int = 16,
    max_new_tokens: int = 256,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
) -> "HFBackend":
    """Load the model and tokenizer in the local folder ``model_path`` into an :class:`HFBackend`.

    ``device``: ``auto`` (cuda when there is one), ``cpu``, ``cuda:1``, ...; ``dtype``:
    one of :data:`DTYPE_NAMES`.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ...embedding.text_encoder import resolve_device

    if not os.path.isdir(model_path):
        raise BackendError(
            f"model {model_path!r} is not a local folder: the hf backend needs a local Hugging Face model "
            "folder (config.json, weights, tokenizer files); models are never downloaded. For a served "
            "model use --backend openai"
        )
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True, trust_remote_code=trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(
        model_path, local_files_only=True, trust_remote_code=trust_remote_code, dtype=torch_dtype
    )
    model.to(torch_device)
    return HFBackend(
        model,
        tokenizer,
        model_name=os.path.basename(os.path.normpath(model_path)),
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        model_location=os.path.abspath(model_path),
        model_fingerprint=weights_fingerprint(model_path),
    )


class HFBackend:
    """Greedy batched generation with an in-memory ``model`` and ``tokenizer``.

    ``model_name`` and ``model_fingerprint`` (:func:`weights_fingerprint`, None for a model
    that is not from a folder) are what the generation file header records as the model
    and compares on append; ``model_location`` is recorded only.
    """

    name = "hf"

    def __init__(
        self,
        model,
        tokenizer,
        model_name: str,
        batch_size: int = 16,
        max_new_tokens: int = 256,
        model_location: Optional[str] = None,
        model_fingerprint: Optional[str] = None,
    ):
        from transformers import GenerationConfig

        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(f"batch_size and max_new_tokens must be positive, got {batch_size}, {max_new_tokens}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.model_location = model_location
        self.model_fingerprint = model_fingerprint
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        tokenizer.padding_side = "left"
        eos_ids = model.generation_config.eos_token_id
        if eos_ids is None:
            eos_ids = tokenizer.eos_token_id
        self.eos_ids = set([eos_ids] if isinstance(eos_ids, int) else (eos_ids or []))
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token is None:
                raise BackendError(
                    f"the tokenizer of {model_name!r} has neither a padding nor an end-of-sequence token"
                )
            tokenizer.pad_token = tokenizer.eos_token  # padding is masked out, any id will do
        self.generation_config = GenerationConfig(
            do_sample=False,
            num_beams=1,
            max_new_tokens=max_new_tokens,
            eos_token_id=sorted(self.eos_ids) or None,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=model.generation_config.bos_token_id,
        )

    def settings(self) -> dict:
        """What the generation file header records about the backend and decoding."""
        return {
            "backend": self.name,
            "model": self.model_name,
            "weights_fingerprint": self.model_fingerprint,
            "dtype": str(self.model.dtype).replace("torch.", ""),
            "decoding": "greedy",
            "max_new_tokens": self.max_new_tokens,
        }

    def info(self) -> dict:
        """Recorded in the header, not compared: where the model is and what it runs on."""
        return {"model_location": self.model_location, "device": str(self.model.device)}

    def _token_ids(self, prompts: Sequence) -> List[List[int]]:
        """The token ids of every prompt (:class:`~..templates.RenderedPrompt`), unpadded."""
        if any(prompt.messages is not None for prompt in prompts):
            raise BackendError("the hf backend sends text; the 'server' template needs the openai backend")
        add_special_tokens = {prompt.add_special_tokens for prompt in prompts}
        if len(add_special_tokens) > 1:
            raise BackendError("the prompts mix texts with and without the tokenizer's special tokens")
        encoded = self.tokenizer(
            [prompt.text for prompt in prompts], add_special_tokens=add_special_tokens.pop(), verbose=False
        )
        return encoded["input_ids"]

    def generate_batch(self, prompts: Sequence) -> List[Completion]:
        """Greedy completions of ``prompts`` (:class:`~..templates.RenderedPrompt`) as one batch."""
        return self._generate_token_ids(self._token_ids(prompts))

    def _generate_token_ids(self, rows: Sequence[Sequence[int]]) -> List[Completion]:
        """Greedy completions of prompts given as token ids, left-padded into one batch."""
        import torch

        width = max(map(len, rows))
        pad_id = self.tokenizer.pad_token_id
        batch = {
            "input_ids": torch.tensor([[pad_id] * (width - len(row)) + list(row) for row in rows]),
            "attention_mask": torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows]),
        }
        batch = {name: tensor.to(self.model.device) for name, tensor in batch.items()}
        with torch.no_grad():
            sequences = self.model.generate(**batch, generation_config=self.generation_config)
        prompt_width = batch["input_ids"].shape[1]
        prompt_lengths = batch["attention_mask"].sum(dim=1).tolist()
        completions = []
        for row, prompt_length in zip(sequences[:, prompt_width:].tolist(), prompt_lengths):
            end = next((k for k, token in enumerate(row) if token in self.eos_ids), None)
            kept = row if end is None else row[:end]
            completions.append(
                Completion(
                    text=self.tokenizer.decode(kept, skip_special_tokens=True).strip(),
                    finish_reason="length" if end is None else "stop",
                    prompt_tokens=int(prompt_length),
                    completion_tokens=len(row) if end is None else end + 1,
                )
            )
        return completions

    def iterate_completions(self, prompts: Sequence) -> Iterator[List[Tuple[int, Completion]]]:
        """Yield, batch by batch, ``(index in prompts, completion)`` pairs: every prompt once,
        in batches of similar lengths. Each prompt is tokenized once, for sorting and
        generating alike."""
        if len({prompt.add_special_tokens for prompt in prompts}) > 1:
            raise BackendError("the prompts mix texts with and without the tokenizer's special tokens")
        window_size = self.batch_size * SORT_WINDOW_BATCHES
        for window_start in range(0, len(prompts), window_size):
            window = range(window_start, min(len(prompts), window_start + window_size))
            ids_of_index = dict(zip(window, self._token_ids([prompts[k] for k in window])))
            ordered = sorted(window, key=lambda k: -len(ids_of_index[k]))
            for batch_start in range(0, len(ordered), self.batch_size):
                indices = ordered[batch_start : batch_start + self.batch_size]
                yield list(zip(indices, self._generate_token_ids([ids_of_index[k] for k in indices])))
