"""libinfer: Python binding of the libinfer C library (include/infer.h).

    from libinfer import Llama
    llm = Llama("model.gguf", n_ctx=2048)
    print(llm("Once upon a time", max_tokens=32)["choices"][0]["text"])

`Llama` mirrors llama-cpp-python's class; `Model`, `Context`, `Sampler`, `Detokenizer`,
`ChatStream` and `Gguf` wrap the C handles one to one; `libinfer._lib.lib` is the raw
ctypes library. Library calls release the GIL while they run.
"""
from ._core import LibinferError, status_str, version
from ._lib import path as library_path, has as library_has
from .context import Context
from .gguf import Gguf
from .model import Model
from .sampling import Grammar, Sampler, json_schema_to_grammar, logprobs
from .text import ChatStream, Detokenizer, parse_reply, template_render
from ._openai import LlamaGrammar
from .llama import LLAMA_DEFAULT_SEED, Llama

__version__ = "0.1.0"
__all__ = ["Llama", "LlamaGrammar", "LibinferError", "Model", "Context", "Sampler", "Detokenizer", "ChatStream",
           "Gguf", "Grammar", "template_render", "logprobs", "json_schema_to_grammar", "parse_reply", "status_str", "version", "library_path",
           "library_has", "LLAMA_DEFAULT_SEED"]
