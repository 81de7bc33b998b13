"""libinfer: Python binding of the libinfer C library (include/infer.h).

    from libinfer import Llama
    llm = Llama("model.gguf", n_ctx=2048)
    print(llm("Once upon a time", max_tokens=32)["choices"][0]["text"])

`Llama` mirrors llama-cpp-python's class; `Model`, `Context`, `Sampler`, `Detokenizer`,
`ChatStream` and `Gguf` wrap the C handles one to one; `libinfer._lib.lib` is the raw
ctypes library. Library calls release the GIL while they run.
"""
from ._core import (ChatStream, Context, Detokenizer, Gguf, LibinferError, Model, Sampler, logprobs,
                    status_str, version)
from ._lib import path as library_path, has as library_has
from .llama import LLAMA_DEFAULT_SEED, Llama, LlamaGrammar

__version__ = "0.1.0"
__all__ = ["Llama", "LlamaGrammar", "LibinferError", "Model", "Context", "Sampler", "Detokenizer", "ChatStream",
           "Gguf", "logprobs", "status_str", "version", "library_path", "library_has", "LLAMA_DEFAULT_SEED"]
