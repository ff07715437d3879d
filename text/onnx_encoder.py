"""ONNX Runtime backend of the bundled e5: exported and quantised once at set-up, run without torch.

`ensure_onnx_model` (run by `needcast model install`, offline) traces the converted bundle — BERT, mean
pooling and L2 normalisation in one graph — with torch's TorchScript ONNX exporter, then stores the weight
matmuls as int8 (per output channel; ONNX Runtime quantises activations per batch at run time). The 12 FFN
down-projections stay float32: their GELU inputs carry outlier channels that per-tensor int8 activations
crush (layer 4's alone gave half of the error). On 1,000 Kursk appeals this keeps mean cosine 0.999 to torch
fp32 and NMI within 0.01 at ~3x the speed (docs/benchmarks.md, "Embedding speed"). Word embeddings stay
float32; the weights (~430 MB) sit in `model.onnx.data`, which ONNX Runtime memory-maps, so a process holds
only the pages it touches. The tokenizer is saved as transformers builds it, so tokens equal the torch
path's. `OnnxSentenceModel` needs only onnxruntime, tokenizers and numpy at run time.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from text.e5_bundle import BUNDLE_NAME, PROMPTS, ensure_bundled_model
from text.staged_folder import build_folder

if TYPE_CHECKING:
    import torch

RECIPE = "int8-ffnout-fp32"
"""Names the quantisation: part of the folder name and of the cache key, so a new recipe never mixes."""
ONNX_DIR_NAME = f"{BUNDLE_NAME}-onnx-{RECIPE}"
ONNX_MARKER = "needcast_onnx.json"
"""Written last into a finished export, after the check against torch; a folder without it is unfinished."""
CONFIG_FILE = "onnx_config.json"
"""Prompt, embedding size and position limit of the export, read by `OnnxSentenceModel`."""
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
OPSET = 20
KEEP_FLOAT = "/output/dense/MatMul"
"""Suffix of the FFN down-projection MatMuls in the traced graph (`.../layer.N/output/dense/MatMul`)."""
MIN_EXPORT_COSINE = 0.99
"""The export is refused below this cosine to torch on the check sentences (measured: >= 0.997)."""
CHECK_SENTENCES = [
    "На улице Ленина уже неделю не горят фонари, вечером очень темно.",
    "Третьи сутки отключено горячее водоснабжение в нашем доме.",
    "The streetlight in front of my house is broken and the street is dark.",
    "Trash pickup was missed, the waste containers are full.",
]


class OnnxExportError(RuntimeError):
    """The ONNX export of the embedding model failed or disagrees with the torch model."""


def onnx_model_dir(models_dir: Path) -> Path:
    """Where `ensure_onnx_model` puts the export of the bundled model."""
    return Path(models_dir) / ONNX_DIR_NAME


def has_onnx_model(models_dir: Path) -> bool:
    """Whether a finished export is in place (`needcast model install` has run)."""
    return (onnx_model_dir(models_dir) / ONNX_MARKER).is_file()


def ensure_onnx_model(models_dir: Path) -> Path:
    """The int8 ONNX export of the bundled model under `models_dir`, made once (~20 s, ~3.5 GB peak RSS).

    Converts the bundle first if needed. Written into a temporary sibling and renamed into place, as the
    bundle is, so loaders never see half a file.
    """
    target = onnx_model_dir(models_dir)
    if (target / ONNX_MARKER).is_file():
        return target
    bundle = ensure_bundled_model(Path(models_dir))
    return build_folder(target, ONNX_MARKER, lambda staging: _export(bundle, staging))


def _export(bundle: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(bundle), local_files_only=True)
    # transformers rebuilds XLM-R's pipeline (whitespace split first); save that one, not the bundle's file.
    tokenizer.backend_tokenizer.save(str(out / TOKENIZER_FILE))
    bert = AutoModel.from_pretrained(str(bundle), local_files_only=True, attn_implementation="eager").eval()
    pooled = _mean_pooled_unit(bert)
    prompt = PROMPTS["query"]
    batch = tokenizer([prompt + s for s in CHECK_SENTENCES], padding=True, return_tensors="pt")
    fp32 = out / "fp32.onnx"
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        expected = pooled(batch["input_ids"], batch["attention_mask"]).numpy()
        torch.onnx.export(
            pooled, (batch["input_ids"], batch["attention_mask"]), str(fp32),
            input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "sentence_embedding": {0: "batch"}},
            opset_version=OPSET, dynamo=False,
        )
    _quantize(fp32, out / MODEL_FILE)
    fp32.unlink()
    _write_json(out / CONFIG_FILE, {"prompt": prompt, "dim": int(expected.shape[1]),
                                    "max_positions": int(tokenizer.model_max_length)})
    model = OnnxSentenceModel(out, max_seq_length=tokenizer.model_max_length, threads=1)
    cosine = float((model.run(batch["input_ids"].numpy(), batch["attention_mask"].numpy()) * expected).sum(1).min())
    if cosine < MIN_EXPORT_COSINE:
        raise OnnxExportError(f"ONNX export disagrees with torch: cosine {cosine:.4f} < {MIN_EXPORT_COSINE}")
    _write_json(out / ONNX_MARKER, {"bundle": BUNDLE_NAME, "recipe": RECIPE, "check_cosine": round(cosine, 5)})


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def _quantize(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src), load_external_data=False).graph
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and n.name.endswith(KEEP_FLOAT)
            and "/attention/" not in n.name]
    if len(keep) != 12:
        raise OnnxExportError(f"expected 12 FFN output MatMuls to keep in float32, found {len(keep)}")
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # its advice to pre-process is for static quantisation of CNNs
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=keep,
                         use_external_data_format=True)  # weights in model.onnx.data, which ORT maps lazily
    finally:
        logging.disable(previous)


def _mean_pooled_unit(bert: torch.nn.Module) -> torch.nn.Module:
    """BERT -> mean over real tokens -> unit length, as the bundle's Pooling and Normalize modules do."""
    import torch

    class MeanPooledUnit(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    return MeanPooledUnit().eval()


class OnnxSentenceModel:
    """The exported model in an ONNX Runtime session, with its tokenizer and prompt."""

    def __init__(self, folder: Path, *, max_seq_length: int, threads: int,
                 providers: Sequence[str] = ("CPUExecutionProvider",)) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        self.folder = folder
        self.prompt: str = config["prompt"]
        self.dim: int = config["dim"]
        self.max_seq_length = min(max_seq_length, int(config["max_positions"]))
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.pad_id = self.tokenizer.token_to_id("<pad>") or 0
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(folder / MODEL_FILE), options, providers=list(providers))
        self.provider: str = self.session.get_providers()[0]  # what ONNX Runtime could start, best first

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """One padded batch of token ids -> (batch, dim) float32 unit vectors."""
        feed = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64)}
        return self.session.run(None, feed)[0]

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Embed `texts` -> (len(texts), dim) float32 unit rows, batching texts of similar token counts."""
        out = np.empty((len(texts), self.dim), np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self.tokenizer.encode_batch([self.prompt + t for t in texts])]
        order = np.argsort([-len(x) for x in ids], kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = len(ids[rows[0]])  # the longest of this batch: rows are sorted by length
            batch = np.full((len(rows), width), self.pad_id, np.int64)
            mask = np.zeros((len(rows), width), np.int64)
            for i, r in enumerate(rows):
                batch[i, : len(ids[r])] = ids[r]
                mask[i, : len(ids[r])] = 1
            out[rows] = self.run(batch, mask)
        return out
