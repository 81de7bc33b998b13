"""Llama: the high-level class, shaped like llama-cpp-python's for the calls most code
uses, so such code runs with `from libinfer import Llama` instead.

Completions and chat completions return (or, with stream=True, yield) the same dicts as
llama-cpp-python (OpenAI's text_completion / chat.completion / chat.completion.chunk
shapes). Each token costs two foreign calls (a decode and a sampling step) which
release the GIL while they run; the prompt is evaluated in one call.
"""
import codecs
import json
import os
import secrets
import time
import uuid

from . import _core, _lib
from ._core import LibinferError
from ._openai import StopText, collect_chat, constraints, normalize_message, refuse
from .context import Context
from .model import Model
from .sampling import Sampler, logprobs
from .text import ChatStream, parse_reply

LLAMA_DEFAULT_SEED = 0xFFFFFFFF   # llama-cpp-python's "pick a random seed"


def _random_seed():
    return secrets.randbits(32)


# llama-cpp-python constructor arguments that only tune its speed or memory (never the
# results): accepted with a warning so that code passing them runs.
_PERF_HINTS = {"use_mlock", "flash_attn", "offload_kqv", "n_threads_batch", "main_gpu", "logits_all", "n_ubatch",
               "op_offload", "swa_full"}


class Llama:
    """A model and one context.

    Llama(model_path, n_ctx=512, n_batch=512, n_threads=None, seed=LLAMA_DEFAULT_SEED,
          embedding=False, verbose=True, vocab_only=False, n_gpu_layers=0, backend=None,
          pooling="mean", kv_f16=False)

    n_gpu_layers follows llama-cpp-python: 0 (its default) runs on the CPU, -1 puts every
    layer on the Vulkan device when one is usable, N > 0 the last N layers (and the output
    head), the others running on the CPU; "auto" as many as fit in the GPU's memory.
    backend ("cpu", "vulkan", "auto") overrides it. llama-cpp-python's performance-only
    arguments (flash_attn, use_mlock, ...) are accepted with a warning; any other unknown
    argument is refused with TypeError rather than ignored.

    One Llama serves one caller at a time (its context is not thread-safe); other Python
    threads run while it decodes, since every library call releases the GIL.
    """

    def __init__(self, model_path, *, n_ctx=512, n_batch=512, n_threads=None, seed=LLAMA_DEFAULT_SEED,
                 embedding=False, verbose=True, vocab_only=False, n_gpu_layers=0, backend=None,
                 pooling="mean", kv_f16=False, use_mmap=True, chat_format=None, **hints):
        unknown = set(hints) - _PERF_HINTS
        if unknown:
            raise TypeError("libinfer.Llama does not support: " + ", ".join(sorted(unknown)))
        if hints:
            import warnings
            warnings.warn("libinfer.Llama: " + ", ".join(sorted(hints)) + " only tune llama.cpp's performance "
                          "and have no effect here", stacklevel=2)
        if not use_mmap:
            raise NotImplementedError("use_mmap=False: libinfer always maps the model file")
        if chat_format is not None:
            raise NotImplementedError("chat_format: libinfer renders chats with the model's own template "
                                      "(leave chat_format=None)")
        self.model_path = os.fspath(model_path)
        self.verbose = verbose
        self._seed = _random_seed() if seed is None or seed in (-1, LLAMA_DEFAULT_SEED) else int(seed)
        self._model = Model(model_path, vocab_only=vocab_only)
        self._ctx = None
        self._embedding = embedding
        if not vocab_only:
            if backend is None:
                backend = "cpu" if n_gpu_layers == 0 else "auto"
            self._ctx = Context(self._model, n_ctx=n_ctx, n_batch=n_batch, n_threads=n_threads or 0,
                                backend=backend, embeddings=embedding, pooling=pooling, kv_f16=kv_f16,
                                n_gpu_layers=n_gpu_layers if n_gpu_layers != 0 else "auto")
            if verbose:
                import sys
                print(f"libinfer: loaded {self.model_path} ({self._model.arch}, {self._model.n_layer} layers) "
                      f"on {self._ctx.backend_name} ({self._ctx.device_name}), context {self._ctx.n_ctx}",
                      file=sys.stderr)
        self.n_tokens = 0

    # ------------------------------------------------------------ basics
    @property
    def model(self):
        return self._model

    @property
    def ctx(self):
        if self._ctx is None:
            raise LibinferError(1, "this Llama was loaded with vocab_only=True: no context")
        return self._ctx

    def n_ctx(self):
        return self.ctx.n_ctx

    def n_vocab(self):
        return self._model.n_vocab

    def n_embd(self):
        return self._model.n_embd

    def token_bos(self):
        return self._model.token_bos

    def token_eos(self):
        return self._model.token_eos

    def set_seed(self, seed):
        self._seed = int(seed)

    def close(self):
        if self._ctx is not None:
            self._ctx.close()
        self._model.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def tokenize(self, text, add_bos=True, special=False):
        """Token ids of text (bytes). add_bos: prepend BOS when the model uses one."""
        return self._model.tokenize(text, add_bos=add_bos and self._model.add_bos, parse_special=special)

    def detokenize(self, tokens, prev_tokens=None, special=False):
        """The bytes of tokens. Without special, BOS/EOS/EOT (the control tokens the
        model declares) are left out, as llama-cpp-python does."""
        m = self._model
        skip = set() if special else {t for t in (m.token_bos, m.token_eos, m.token_eot) if t >= 0}
        return b"".join(m.token_to_bytes(t) for t in tokens if t not in skip)

    def reset(self):
        self.ctx.seq_clear(-1)
        self.n_tokens = 0

    # ------------------------------------------------------------ evaluation
    def _eval_prompt(self, tokens):
        """Evaluates tokens in sequence 0, reusing the cached common prefix; returns the
        batch index whose logits follow the prompt."""
        ctx = self.ctx
        if len(tokens) >= ctx.n_ctx:
            raise ValueError(f"Requested tokens ({len(tokens)}) exceed context window of {ctx.n_ctx}")
        cached = ctx.seq_tokens(0)
        common = 0
        for a, b in zip(cached, tokens):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)   # the last prompt token is evaluated again for its logits
        ctx.seq_truncate(0, common)
        ctx.decode(tokens[common:])
        self.n_tokens = len(tokens)
        return len(tokens) - common - 1

    def _sampler(self, temperature, top_p, top_k, min_p, repeat_penalty, presence_penalty, frequency_penalty,
                 seed, grammar=None, json_schema=None, logit_bias=None):
        return Sampler(self._model, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                       repeat_penalty=repeat_penalty, presence_penalty=presence_penalty,
                       frequency_penalty=frequency_penalty, seed=self._seed if seed is None else seed,
                       grammar=grammar, json_schema=json_schema, logit_bias=logit_bias)

    def _generate(self, prompt_tokens, max_tokens, sampler, stop_tokens, want_logprobs):
        """Yields (token, logprob info or None) until an end token, max_tokens or a full
        context; finally yields (None, finish_reason)."""
        ctx, m = self.ctx, self._model
        row = self._eval_prompt(prompt_tokens)
        for t in prompt_tokens:
            sampler.accept_prompt(t)
        limit = max_tokens if max_tokens is not None and max_tokens > 0 else ctx.n_ctx
        n = 0
        while True:
            logits = ctx.logits_ptr(row)
            tok = sampler.sample(logits)
            if tok in stop_tokens or m.is_eog(tok):
                yield None, "stop"
                return
            lp = logprobs(logits, m.n_vocab, tok, want_logprobs) if want_logprobs is not None else None
            sampler.accept(tok)
            n += 1
            yield tok, lp
            if n >= limit:
                yield None, "length"
                return
            try:
                ctx.decode([tok])
            except LibinferError as e:
                if e.status == _core.ERR_CONTEXT_FULL:
                    yield None, "length"
                    return
                raise
            self.n_tokens += 1
            row = 0

    # ------------------------------------------------------------ completions
    def __call__(self, prompt, *args, **kwargs):
        return self.create_completion(prompt, *args, **kwargs)

    def create_completion(self, prompt, suffix=None, max_tokens=16, temperature=0.8, top_p=0.95, min_p=0.05,
                          typical_p=1.0, logprobs=None, echo=False, stop=None, frequency_penalty=0.0,
                          presence_penalty=0.0, repeat_penalty=1.0, top_k=40, stream=False, seed=None,
                          grammar=None, logit_bias=None, model=None, response_format=None, **unsupported):
        """Text completion. Returns a text_completion dict, or with stream=True an iterator
        of text_completion chunks."""
        refuse(unsupported)
        if suffix is not None:
            raise NotImplementedError("suffix (fill-in-the-middle) is not supported by libinfer")
        json_schema, grammar = constraints(typical_p, response_format, grammar)
        gen = self._completion(prompt, max_tokens, temperature, top_p, min_p, logprobs, echo, stop,
                               frequency_penalty, presence_penalty, repeat_penalty, top_k, seed, model,
                               grammar, json_schema, logit_bias)
        if stream:
            return gen
        chunks = list(gen)
        last = chunks[-1]
        text = "".join(c["choices"][0]["text"] for c in chunks)
        lp = None
        if logprobs is not None:
            lp = {"tokens": [], "text_offset": [], "token_logprobs": [], "top_logprobs": []}
            for c in chunks:
                cl = c["choices"][0]["logprobs"]
                if cl:
                    for k in lp:
                        lp[k] += cl[k]
        return {"id": last["id"], "object": "text_completion", "created": last["created"], "model": last["model"],
                "choices": [{"text": text, "index": 0, "logprobs": lp,
                             "finish_reason": last["choices"][0]["finish_reason"]}],
                "usage": last["usage"]}

    def _completion(self, prompt, max_tokens, temperature, top_p, min_p, logprobs, echo, stop, frequency_penalty,
                    presence_penalty, repeat_penalty, top_k, seed, model, grammar, json_schema, logit_bias):
        cid, created = f"cmpl-{uuid.uuid4()}", int(time.time())
        model_name = model or self.model_path
        if isinstance(prompt, (bytes, str)):
            ptext = prompt.decode("utf-8", errors="replace") if isinstance(prompt, bytes) else prompt
            ptoks = self.tokenize(ptext.encode("utf-8"), add_bos=True, special=True)
        else:
            ptoks = list(prompt)
            ptext = self.detokenize(ptoks).decode("utf-8", errors="replace")
        if not ptoks:
            ptoks = [self._model.token_bos] if self._model.token_bos >= 0 else []
        if not ptoks:
            raise ValueError("empty prompt and the model has no BOS token")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        sampler = self._sampler(temperature, top_p, top_k, min_p, repeat_penalty, presence_penalty,
                                frequency_penalty, seed, grammar, json_schema, logit_bias)
        stopper = StopText(stops)
        dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
        n_gen, offset = 0, len(ptext) if echo else 0

        def chunk(text, lp, finish):
            return {"id": cid, "object": "text_completion", "created": created, "model": model_name,
                    "choices": [{"text": text, "index": 0, "logprobs": lp, "finish_reason": finish}],
                    "usage": {"prompt_tokens": len(ptoks), "completion_tokens": n_gen,
                              "total_tokens": len(ptoks) + n_gen}}

        try:
            if echo:
                yield chunk(ptext, None, None)
            finish = "stop"
            for tok, info in self._generate(ptoks, max_tokens, sampler, (), logprobs):
                if tok is None:
                    finish = info
                    break
                n_gen += 1
                piece = dec.decode(self._model.token_to_bytes(tok))
                shown = stopper.push(piece)
                lp = None
                if logprobs is not None:
                    tok_str = self._model.token_to_bytes(tok).decode("utf-8", errors="replace")
                    lp = {"tokens": [tok_str], "text_offset": [offset], "token_logprobs": [info[0]],
                          "top_logprobs": [{self._model.token_to_bytes(t).decode("utf-8", errors="replace"): v
                                            for t, v in info[1]}]}
                offset += len(shown)
                if shown or lp:
                    yield chunk(shown, lp, None)
                if stopper.stopped:
                    finish = "stop"
                    break
            tail = "" if stopper.stopped else stopper.push(dec.decode(b"", final=True)) + stopper.flush()
            yield chunk(tail, None, finish)
        finally:
            sampler.close()

    # ------------------------------------------------------------ chat
    def create_chat_completion(self, messages, functions=None, function_call=None, tools=None, tool_choice=None,
                               temperature=0.2, top_p=0.95, top_k=40, min_p=0.05, typical_p=1.0, stream=False,
                               stop=None, seed=None, response_format=None, max_tokens=None, presence_penalty=0.0,
                               frequency_penalty=0.0, repeat_penalty=1.0, model=None, logprobs=None,
                               top_logprobs=None, grammar=None, logit_bias=None, **unsupported):
        """Chat completion over the model's chat template. Returns a chat.completion dict,
        or with stream=True an iterator of chat.completion.chunk dicts."""
        refuse(unsupported)
        if functions is not None or function_call is not None:
            raise NotImplementedError("functions/function_call (the legacy API): pass tools/tool_choice")
        json_schema, grammar = constraints(typical_p, response_format, grammar)
        if tool_choice not in (None, "auto", "none"):
            raise NotImplementedError(f"tool_choice={tool_choice!r}: only 'auto' and 'none' are supported")
        offered = tools if tools and tool_choice != "none" else None
        prompt = self._render_chat(messages, tools)
        ptoks = self._model.tokenize(prompt, add_bos=self._model.add_bos and not self._starts_with_bos(prompt),
                                     parse_special=True)
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        top_n = (top_logprobs or 0) if logprobs else None
        sampler = self._sampler(temperature, top_p, top_k, min_p, repeat_penalty, presence_penalty,
                                frequency_penalty, seed, grammar, json_schema, logit_bias)
        gen = self._chat(ptoks, max_tokens, sampler, stops, top_n, model, offered)
        if stream:
            return gen
        return collect_chat(list(gen), logprobs)

    def _starts_with_bos(self, text):
        bos = self._model.token_bos
        t = self._model.token_text(bos) if bos >= 0 else None
        return bool(t) and text.startswith(t)

    def _render_chat(self, messages, tools):
        """The prompt: the model's own (Jinja) template through infer_chat_render_json when
        the library has it, else the built-in families, which know plain turns only."""
        msgs = [normalize_message(m) for m in messages]
        if _lib.has("infer_chat_render_json"):
            req = {"messages": msgs, "add_generation_prompt": True}
            if tools:
                req["tools"] = tools
            return self._model.chat_render_json(req)
        if tools or any(m["role"] not in ("system", "user", "assistant") or m.get("tool_calls") for m in msgs):
            raise NotImplementedError("tools and tool messages need a libinfer with the Jinja chat API "
                                      f"(infer_chat_render_json); {_lib.path} lacks it")
        return self._model.chat_render(msgs, add_generation_prompt=True)

    def _chat(self, ptoks, max_tokens, sampler, stops, top_n, model, tools):
        cid, created = f"chatcmpl-{uuid.uuid4()}", int(time.time())
        model_name = model or self.model_path
        stream = ChatStream(self._model)
        stop_tokens = set(self._model.stop_tokens())
        answer = StopText(stops)
        decoders = {}
        reasoning, raw, n_gen = [], [], 0

        def chunk(delta, finish, lp=None, usage=False):
            c = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model_name,
                 "choices": [{"index": 0, "delta": delta, "logprobs": lp, "finish_reason": finish}]}
            if usage:
                c["usage"] = {"prompt_tokens": len(ptoks), "completion_tokens": n_gen,
                              "total_tokens": len(ptoks) + n_gen}
            return c

        try:
            yield chunk({"role": "assistant", "content": None}, None)
            finish = "stop"
            for tok, info in self._generate(ptoks, max_tokens, sampler, stop_tokens, top_n):
                if tok is None:
                    finish = info
                    break
                n_gen += 1
                b = self._model.token_to_bytes(tok)
                raw.append(b)
                part = stream.push(tok)
                dec = decoders.setdefault(part, codecs.getincrementaldecoder("utf-8")(errors="replace"))
                piece = dec.decode(b)
                lp = None
                if top_n is not None:
                    s = b.decode("utf-8", errors="replace")
                    lp = {"content": [{"token": s, "logprob": info[0], "bytes": list(b),
                                       "top_logprobs": [{"token": self._model.token_to_bytes(t).decode(
                                           "utf-8", errors="replace"), "logprob": v,
                                           "bytes": list(self._model.token_to_bytes(t))} for t, v in info[1]]}]}
                if part == "answer" and not tools:
                    shown = answer.push(piece)
                    if shown or lp:
                        yield chunk({"content": shown}, None, lp)
                    if answer.stopped:
                        break
                elif part == "reasoning" and piece:
                    reasoning.append(piece)
                    if not tools:
                        yield chunk({"reasoning_content": piece}, None, lp)
            if tools:
                text = b"".join(raw).decode("utf-8", errors="replace")
                content, reasoning_text, calls = parse_reply(text, json.dumps(tools))
                if reasoning_text:
                    yield chunk({"reasoning_content": reasoning_text}, None)
                if calls:
                    yield chunk({"tool_calls": [
                        {"index": i, "id": c["id"], "type": "function",
                         "function": {"name": c["name"], "arguments": c["arguments"]}}
                        for i, c in enumerate(calls)]}, None)
                    finish = "tool_calls"
                if content:
                    shown = answer.push(content)
                    if shown:
                        yield chunk({"content": shown}, None)
            tail = ""
            if not answer.stopped:
                d = decoders.get("answer")
                tail = answer.push(d.decode(b"", final=True) if d else "") + answer.flush()
            if tail:
                yield chunk({"content": tail}, None)
            yield chunk({}, finish, usage=True)
        finally:
            stream.close()
            sampler.close()

    # ------------------------------------------------------------ embeddings
    def embed(self, input, normalize=False, truncate=True, return_count=False):
        """The pooled embedding of a string (a list of floats) or of each string of a list.
        Needs Llama(..., embedding=True); pooling as chosen there (default mean)."""
        if not self._embedding:
            raise RuntimeError("Llama model must be created with embedding=True to call this method")
        inputs = [input] if isinstance(input, str) else list(input)
        out, total = [], 0
        for text in inputs:
            toks = self.tokenize(text.encode("utf-8"), add_bos=True)
            if len(toks) > self.ctx.n_ctx:
                if not truncate:
                    raise ValueError(f"Requested tokens ({len(toks)}) exceed context window of {self.ctx.n_ctx}")
                toks = toks[:self.ctx.n_ctx]
            self.ctx.seq_clear(-1)
            self.ctx.decode(toks)
            v = self.ctx.embeddings_seq(0)
            if normalize:
                norm = sum(x * x for x in v) ** 0.5 or 1.0
                v = [x / norm for x in v]
            out.append(v)
            total += len(toks)
        self.ctx.seq_clear(-1)
        self.n_tokens = 0
        res = out[0] if isinstance(input, str) else out
        return (res, total) if return_count else res

    def create_embedding(self, input, model=None):
        """OpenAI-shaped embedding response."""
        data, total = self.embed(input, return_count=True)
        if isinstance(input, str):
            data = [data]
        return {"object": "list", "model": model or self.model_path,
                "data": [{"object": "embedding", "embedding": e, "index": i} for i, e in enumerate(data)],
                "usage": {"prompt_tokens": total, "total_tokens": total}}
