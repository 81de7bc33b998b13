/*
 * libinfer — GGUF inference engine in C11. The one public header.
 *
 * Conventions
 * - Every handle is opaque and has a constructor/destructor pair; destructors accept NULL.
 * - Functions that can fail return an infer_status. Constructors also fill an optional
 *   caller-owned infer_error with a message naming the key, tensor or byte offset.
 *   Calls on an existing handle keep a detailed message readable with *_last_error().
 * - Strings returned by the library are owned by the handle they came from and stay
 *   valid until that handle is freed (or, for last-error strings, until the next call
 *   on that handle).
 * - The library never exits or aborts on bad input.
 * - Params structs (infer_model_params, infer_ctx_params, infer_sampler_params,
 *   infer_quantize_params) start with struct_size, sizeof the struct as the caller
 *   compiled it; their *_default_params() sets it, so start from those. Fields are only
 *   appended: a struct from an older header is read up to its size, the newer fields
 *   taking their defaults; a size no release had (0, garbage) is INFER_ERR_INVALID_ARG.
 *
 * Thread safety
 * - infer_gguf and infer_model are read-only after loading: any number of threads may
 *   call const functions on them, and several contexts may share one model.
 * - An infer_ctx, infer_sampler, infer_detok or infer_stop must be used by one thread at a
 *   time; a parsed infer_grammar is read-only and may be shared.
 *   A context runs its own worker threads internally (n_threads). The one exception:
 *   the abort callback (infer_ctx_set_abort_callback) is how another thread stops it.
 */
#ifndef INFER_H
#define INFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define INFER_API
#else
#define INFER_API __attribute__((visibility("default")))
#endif

#define INFER_VERSION_MAJOR 0
#define INFER_VERSION_MINOR 1
#define INFER_VERSION_PATCH 0
#define INFER_VERSION_STRING "0.1.0"

/* Returns INFER_VERSION_STRING of the library actually linked. */
INFER_API const char *infer_version(void);

/* ---------------------------------------------------------------- status codes */

/* Stable integer values: never renumbered. */
typedef enum infer_status {
    INFER_OK = 0,
    INFER_ERR_INVALID_ARG = 1,   /* a caller error: NULL handle, bad parameter */
    INFER_ERR_IO = 2,            /* open/read/mmap failed */
    INFER_ERR_FORMAT = 3,        /* malformed or hostile file */
    INFER_ERR_UNSUPPORTED = 4,   /* valid but not supported: tensor type, architecture, version */
    INFER_ERR_NOMEM = 5,         /* allocation failed */
    INFER_ERR_NOT_FOUND = 6,     /* missing key, tensor or token */
    INFER_ERR_TYPE = 7,          /* a key or tensor has the wrong type or shape */
    INFER_ERR_CONTEXT_FULL = 8,  /* tokens would not fit in the context window */
    INFER_ERR_BUFFER_SMALL = 9,  /* output buffer too small; the needed size is reported */
    INFER_ERR_BACKEND = 10,      /* a compute backend (Vulkan) failed */
    INFER_ERR_NO_DEVICE = 11,    /* the requested device/backend is not available */
    INFER_ERR_CANCELLED = 12,    /* stopped by a callback */
} infer_status;

/* A short constant description of a status ("format error", ...). Never NULL. */
INFER_API const char *infer_status_str(infer_status status);

/* Caller-owned error detail filled by constructors (may be passed as NULL). */
typedef struct infer_error {
    infer_status status;
    char message[512];
} infer_error;

/* ---------------------------------------------------------------- GGUF inspection */

typedef struct infer_gguf infer_gguf;

/* GGUF metadata value types (ids as stored in the file). */
typedef enum infer_gguf_type {
    INFER_GGUF_UINT8 = 0, INFER_GGUF_INT8 = 1, INFER_GGUF_UINT16 = 2, INFER_GGUF_INT16 = 3,
    INFER_GGUF_UINT32 = 4, INFER_GGUF_INT32 = 5, INFER_GGUF_FLOAT32 = 6, INFER_GGUF_BOOL = 7,
    INFER_GGUF_STRING = 8, INFER_GGUF_ARRAY = 9, INFER_GGUF_UINT64 = 10, INFER_GGUF_INT64 = 11,
    INFER_GGUF_FLOAT64 = 12,
} infer_gguf_type;

/* Opens and fully validates a GGUF file; tensor data is mapped read-only, not copied.
 * The path must name a regular file: a FIFO, directory, device or socket is refused
 * at once (INFER_ERR_IO), never waited on. */
INFER_API infer_status infer_gguf_open(const char *path, infer_gguf **out, infer_error *err);
INFER_API void infer_gguf_close(infer_gguf *g);

/* Split models as llama.cpp's gguf-split writes them: `<prefix>-00001-of-0000N.gguf` ..
 * `<prefix>-0000N-of-0000N.gguf`, each part with split.no (0-based), split.count and
 * split.tensors.count; the metadata is in the first part, each tensor's data in the part
 * that lists it. infer_gguf_open_split takes the first part's path, opens and validates
 * every part (each mapped, as infer_gguf_open does) and checks the set: each part's
 * split.no / split.count / split.tensors.count, no tensor in two parts, the tensor total.
 * An error names the part. The handle shows the first part's header and metadata and
 * the tensors of all parts (offsets relative to their own part's data section); a file
 * without split.count opens as infer_gguf_open would. infer_model_load uses it. */
INFER_API infer_status infer_gguf_open_split(const char *path, infer_gguf **out, infer_error *err);
INFER_API int32_t infer_gguf_n_parts(const infer_gguf *g);   /* 1 for a single file */
/* Part i (0-based) as a single-file handle owned by g (g itself for a single file),
 * and its path; NULL when i is out of range. */
INFER_API const infer_gguf *infer_gguf_part(const infer_gguf *g, int32_t i);
INFER_API const char *infer_gguf_part_path(const infer_gguf *g, int32_t i);
/* The part that holds tensor i (0 for a single file), -1 when i is out of range. */
INFER_API int32_t infer_gguf_tensor_part(const infer_gguf *g, int64_t i);

INFER_API uint32_t infer_gguf_version(const infer_gguf *g);
INFER_API uint64_t infer_gguf_alignment(const infer_gguf *g);
INFER_API uint64_t infer_gguf_file_size(const infer_gguf *g);
INFER_API uint64_t infer_gguf_data_offset(const infer_gguf *g);   /* start of the tensor data section */

/* Metadata, by index in file order. Keys are NUL-terminated copies owned by g. */
INFER_API int64_t infer_gguf_n_kv(const infer_gguf *g);
INFER_API const char *infer_gguf_kv_key(const infer_gguf *g, int64_t i);
INFER_API int64_t infer_gguf_find_key(const infer_gguf *g, const char *key);  /* -1 if absent */
INFER_API infer_gguf_type infer_gguf_kv_type(const infer_gguf *g, int64_t i);
/* Scalars: integer kinds widen, FLOAT32/FLOAT64 are read as double; BOOL as 0/1. */
INFER_API int64_t infer_gguf_kv_int(const infer_gguf *g, int64_t i);
INFER_API uint64_t infer_gguf_kv_uint(const infer_gguf *g, int64_t i);
INFER_API double infer_gguf_kv_float(const infer_gguf *g, int64_t i);
/* STRING values: bytes (not NUL-terminated in general; use len). */
INFER_API const char *infer_gguf_kv_str(const infer_gguf *g, int64_t i, uint64_t *len);
/* ARRAY values: element type and count; elements read with the *_arr_* getters.
 * Nested arrays: infer_gguf_kv_arr_type of the element is INFER_GGUF_ARRAY and the
 * nested content is reported as its element count only. */
INFER_API infer_gguf_type infer_gguf_kv_arr_type(const infer_gguf *g, int64_t i);
INFER_API uint64_t infer_gguf_kv_arr_len(const infer_gguf *g, int64_t i);
INFER_API int64_t infer_gguf_kv_arr_int(const infer_gguf *g, int64_t i, uint64_t j);
INFER_API double infer_gguf_kv_arr_float(const infer_gguf *g, int64_t i, uint64_t j);
INFER_API const char *infer_gguf_kv_arr_str(const infer_gguf *g, int64_t i, uint64_t j, uint64_t *len);

/* Tensors, by index in file order. */
INFER_API int64_t infer_gguf_n_tensors(const infer_gguf *g);
INFER_API int64_t infer_gguf_find_tensor(const infer_gguf *g, const char *name); /* -1 if absent */
INFER_API const char *infer_gguf_tensor_name(const infer_gguf *g, int64_t i);
INFER_API uint32_t infer_gguf_tensor_type(const infer_gguf *g, int64_t i);     /* GGUF type id */
INFER_API uint32_t infer_gguf_tensor_n_dims(const infer_gguf *g, int64_t i);
INFER_API uint64_t infer_gguf_tensor_dim(const infer_gguf *g, int64_t i, uint32_t d); /* ggml order: d=0 innermost */
INFER_API uint64_t infer_gguf_tensor_offset(const infer_gguf *g, int64_t i);  /* relative to the data section */
INFER_API uint64_t infer_gguf_tensor_bytes(const infer_gguf *g, int64_t i);
INFER_API const void *infer_gguf_tensor_data(const infer_gguf *g, int64_t i);

/* Name of a GGUF tensor type id as GGUF spells it ("Q4_K", "MXFP4"), or NULL if unknown. */
INFER_API const char *infer_type_name(uint32_t type);

/* ---------------------------------------------------------------- model */

typedef struct infer_model infer_model;

/* Progress in [0,1]; return nonzero to cancel the load (INFER_ERR_CANCELLED). */
typedef int (*infer_progress_fn)(float progress, void *user);

typedef struct infer_model_params {
    size_t struct_size;           /* sizeof as the caller compiled it (see Conventions) */
    int vocab_only;               /* load tokenizer metadata only (no tensors needed) */
    infer_progress_fn progress;   /* may be NULL */
    void *progress_user;
} infer_model_params;

INFER_API infer_model_params infer_model_default_params(void);
INFER_API infer_status infer_model_load(const char *path, const infer_model_params *params,
                                        infer_model **out, infer_error *err);
INFER_API void infer_model_free(infer_model *m);

INFER_API const char *infer_model_arch(const infer_model *m);   /* general.architecture */
INFER_API const char *infer_model_name(const infer_model *m);   /* general.name or "" */
INFER_API int32_t infer_model_n_vocab(const infer_model *m);
INFER_API int32_t infer_model_n_ctx_train(const infer_model *m);
INFER_API int32_t infer_model_n_embd(const infer_model *m);
INFER_API int32_t infer_model_n_layer(const infer_model *m);
INFER_API uint64_t infer_model_n_params(const infer_model *m);
INFER_API uint64_t infer_model_size_bytes(const infer_model *m);  /* bytes of tensor data */

/* ---------------------------------------------------------------- tokenizer */

INFER_API int32_t infer_token_bos(const infer_model *m);   /* -1 if none */
INFER_API int32_t infer_token_eos(const infer_model *m);   /* -1 if none */
INFER_API int32_t infer_token_eot(const infer_model *m);   /* -1 if none */
INFER_API int infer_token_is_eog(const infer_model *m, int32_t tok); /* ends generation */
INFER_API int infer_model_add_bos(const infer_model *m);   /* tokenizer.ggml.add_bos_token */

/* Tokenizes len bytes of text (invalid UTF-8 is encoded byte by byte, never rejected).
 * add_bos: prepend BOS if the model has one. parse_special: special tokens written
 * literally in the text become single tokens; otherwise they are plain text.
 * On INFER_ERR_BUFFER_SMALL, *n_out holds the count needed. */
INFER_API infer_status infer_tokenize(const infer_model *m, const char *text, size_t len,
                                      int add_bos, int parse_special,
                                      int32_t *tokens, size_t cap, size_t *n_out);

/* The bytes a token stands for (byte-fallback and byte-level tokens decoded, the SPM
 * space marker turned into a space). Not NUL-terminated; may be a partial UTF-8 char.
 * Control and user-defined tokens give their literal text ("<|im_end|>"). */
INFER_API infer_status infer_token_to_bytes(const infer_model *m, int32_t tok,
                                            char *buf, size_t cap, size_t *n_out);
/* The token's text as stored in the vocabulary (NUL-terminated, owned by m). */
INFER_API const char *infer_token_text(const infer_model *m, int32_t tok);

/* Streaming detokenizer: returns only complete UTF-8 characters, holding back the bytes
 * of a character split across tokens. */
typedef struct infer_detok infer_detok;
INFER_API infer_status infer_detok_init(const infer_model *m, infer_detok **out, infer_error *err);
/* infer_detok_init without the status, for source compatibility: NULL on failure. */
INFER_API infer_detok *infer_detok_new(const infer_model *m);
INFER_API void infer_detok_free(infer_detok *d);
/* Appends the token; writes the now-complete text (NUL-terminated) to buf. */
INFER_API infer_status infer_detok_push(infer_detok *d, int32_t tok, char *buf, size_t cap, size_t *n_out);
/* Emits whatever is held back (invalid sequences as U+FFFD). */
INFER_API infer_status infer_detok_flush(infer_detok *d, char *buf, size_t cap, size_t *n_out);

/* ---------------------------------------------------------------- context */

typedef struct infer_ctx infer_ctx;

typedef enum infer_backend_kind {
    INFER_BACKEND_AUTO = 0,    /* Vulkan if a GPU device exists (never a CPU implementation), else CPU */
    INFER_BACKEND_CPU = 1,
    INFER_BACKEND_VULKAN = 2,
} infer_backend_kind;

typedef enum infer_kv_type { INFER_KV_F32 = 0, INFER_KV_F16 = 1 } infer_kv_type;

/* Pooling of the final hidden states into one embedding per sequence. */
typedef enum infer_pooling {
    INFER_POOLING_NONE = 0,    /* no pooled vector: per-token rows only */
    INFER_POOLING_MEAN = 1,    /* mean over the sequence's tokens in the decode call */
    INFER_POOLING_LAST = 2,    /* the sequence's last token in the call (decoder models) */
    INFER_POOLING_CLS = 3,     /* the sequence's first token in the call */
} infer_pooling;

typedef struct infer_ctx_params {
    size_t struct_size;        /* sizeof as the caller compiled it (see Conventions) */
    uint32_t n_ctx;            /* context window in tokens (0: model's training context, capped at 4096) */
    uint32_t n_batch;          /* most tokens per internal forward step (0: 512) */
    int32_t n_threads;         /* CPU worker threads (0: number of cores) */
    infer_kv_type kv_type;
    infer_backend_kind backend;
    int32_t device_index;      /* Vulkan device (-1: INFER_VK_DEVICE or the first suitable one) */
    uint32_t n_seq_max;        /* independent sequences (0 or 1: one); each gets n_ctx / n_seq_max positions */
    int32_t embeddings;        /* nonzero: keep the final hidden states (see infer_ctx_embeddings) */
    infer_pooling pooling;     /* with embeddings: how infer_ctx_embeddings_seq pools them */
    int32_t embd_normalize;    /* nonzero: embeddings are L2-normalized (unit Euclidean length) */
    /* Placement on a GPU backend (ignored by the CPU backend). Fields are only ever
     * appended here; infer_ctx_default_params() fills every one (start from it).
     * n_gpu_layers: repeating layers on the GPU, counted from the last one (llama.cpp's
     * -ngl): N > 0 puts layers n_layer-N .. n_layer-1 and the output head (final norm,
     * output projection) on the GPU and the rest, with the token embedding, on the CPU;
     * 0 runs everything on the CPU; INFER_GPU_LAYERS_ALL everything on the GPU;
     * INFER_GPU_LAYERS_AUTO (the default) as many as fit in the device's memory budget
     * after the KV cache and scratch of the GPU layers (the output head first, then the
     * layers from the last one down; a MoE model first keeps the experts of as few
     * leading layers as needed on the CPU, as n_cpu_moe would, before it gives up whole
     * layers). AUTO never fails for lack of GPU memory: what does not fit runs on the CPU.
     * The placement is reported by infer_ctx_placement().
     * INFER_VK_MEMORY_BUDGET=<bytes> in the environment caps the device's budget (tests). */
    int32_t n_gpu_layers;
    /* MoE models: the expert tensors (*_exps) of layers 0 .. n_cpu_moe-1 stay on the CPU,
     * which runs those layers' expert FFN while their attention runs on the GPU. */
    int32_t n_cpu_moe;
} infer_ctx_params;

#define INFER_GPU_LAYERS_ALL (-1)
#define INFER_GPU_LAYERS_AUTO (-2)

INFER_API infer_ctx_params infer_ctx_default_params(void);
INFER_API infer_status infer_ctx_new(infer_model *m, const infer_ctx_params *params,
                                     infer_ctx **out, infer_error *err);
INFER_API void infer_ctx_free(infer_ctx *c);
INFER_API const char *infer_ctx_last_error(const infer_ctx *c);
INFER_API uint32_t infer_ctx_n_ctx(const infer_ctx *c);
INFER_API const char *infer_ctx_backend_name(const infer_ctx *c);  /* "cpu" or "vulkan" */
INFER_API const char *infer_ctx_device_name(const infer_ctx *c);   /* CPU model string or GPU name */
/* "" or why INFER_BACKEND_AUTO fell back to the CPU (a weight type without a kernel on
 * the GPU backend, named with its tensor). */
INFER_API const char *infer_ctx_backend_note(const infer_ctx *c);
/* Where the model runs, one line: "layers 0-13 CPU, 14-27 + output vulkan, experts of
 * layers 0-5 CPU, KV 56.0 MiB on the GPU, 812.4 MiB of weights on the GPU" (all on
 * one backend: "all layers + output cpu"). Owned by c. */
INFER_API const char *infer_ctx_placement(const infer_ctx *c);
/* Weight bytes the context's GPU backend holds (0 when nothing runs on a GPU). */
INFER_API uint64_t infer_ctx_gpu_weight_bytes(const infer_ctx *c);
/* Weight bytes one decoded token reads from GPU memory (for bandwidth figures): the
 * GPU's weights less the embedding table (one row is read) unless it is the output
 * head too, the MoE expert tensors counted at expert_used / expert_count. */
INFER_API uint64_t infer_ctx_gpu_bytes_per_token(const infer_ctx *c);

/* Bytes reserved for the KV cache (all layers, K and V). The memory is reserved, not
 * touched: on the CPU, pages are committed as positions are first written. A context
 * whose cache would not fit in the memory the system reports available is refused
 * (INFER_ERR_NOMEM, naming the size). */
INFER_API uint64_t infer_ctx_kv_bytes(const infer_ctx *c);

/* ---------------------------------------------------------------- sequences
 *
 * A context holds n_seq_max independent sequences, ids 0 .. n_seq_max-1 (a server's
 * conversations). KV cache layout: per-sequence regions. Each sequence owns
 * n_ctx_seq = n_ctx / n_seq_max consecutive cache rows in every layer, and a token at
 * position p of sequence s lives in row s * n_ctx_seq + p. A sequence therefore never
 * competes with another for cells, a token attends only to its own sequence's rows at
 * positions <= its own (and inside the layer's sliding window), and "full" is per
 * sequence: a position >= n_ctx_seq fails with INFER_ERR_CONTEXT_FULL before anything
 * runs, the cache unchanged. The length of a sequence is one past the highest position
 * written (positions below it are assumed filled; decoding with holes is allowed but
 * the holes hold whatever was there). Copying a sequence copies its rows. */

/* One call's tokens. Tokens of different sequences may be mixed in any order; they run
 * in one forward pass (weights read once for all of them). */
typedef struct infer_batch {
    int32_t n_tokens;
    const int32_t *tokens;       /* n_tokens token ids */
    const int32_t *pos;          /* positions; NULL: each token continues its own sequence */
    const int32_t *seq_id;       /* sequence of each token; NULL: all in sequence 0 */
    const int8_t *want_logits;   /* nonzero: keep that token's logits; NULL: the last token of each sequence */
} infer_batch;

/* Evaluates a batch. Every token, position and sequence id is checked before anything
 * runs: INFER_ERR_INVALID_ARG or INFER_ERR_CONTEXT_FULL leave the cache unchanged.
 * INFER_ERR_CANCELLED (abort callback): every sequence keeps the length it had before
 * the call (a call that rewrote positions below a sequence's length truncates it to the
 * lowest rewritten position instead). The logits and embeddings of the call are read
 * with infer_ctx_logits / infer_ctx_embeddings by the token's index in the batch. */
INFER_API infer_status infer_ctx_decode_batch(infer_ctx *c, const infer_batch *batch);
/* Single-sequence form (sequence 0): infer_ctx_decode_batch with seq_id NULL.
 * pos NULL: continue after the sequence's last position; want_logits NULL: only the last. */
INFER_API infer_status infer_ctx_decode(infer_ctx *c, const int32_t *tokens, const int32_t *pos,
                                        const int8_t *want_logits, int32_t n);
/* Logits of the i-th token of the last decode call (n_vocab floats), or NULL if that
 * token's logits were not requested. */
INFER_API const float *infer_ctx_logits(const infer_ctx *c, int32_t i);

INFER_API uint32_t infer_ctx_n_seq_max(const infer_ctx *c);
INFER_API uint32_t infer_ctx_n_ctx_seq(const infer_ctx *c);    /* positions per sequence */
/* Length of sequence seq (next position to fill), or -1 for an id out of range. */
INFER_API int32_t infer_ctx_seq_len(const infer_ctx *c, int32_t seq);
/* The tokens at positions [0, seq_len) as decoded (-1 where a position was skipped);
 * *n gets the length. Valid until the next call that changes the sequence. */
INFER_API const int32_t *infer_ctx_seq_tokens(const infer_ctx *c, int32_t seq, int32_t *n);
/* Forgets a sequence (seq < 0: every sequence). */
INFER_API infer_status infer_ctx_seq_clear(infer_ctx *c, int32_t seq);
/* Forgets positions >= pos of a sequence (for chat edits and retries). */
INFER_API infer_status infer_ctx_seq_truncate(infer_ctx *c, int32_t seq, int32_t pos);
/* Makes dst a copy of src (its tokens and cached positions; fork a shared system
 * prompt, then decode each branch). dst's previous content is forgotten. */
INFER_API infer_status infer_ctx_seq_copy(infer_ctx *c, int32_t src, int32_t dst);

/* Sequence-0 shorthands kept from the single-sequence API. */
INFER_API int32_t infer_ctx_n_past(const infer_ctx *c);      /* infer_ctx_seq_len(c, 0) */
INFER_API void infer_ctx_kv_clear(infer_ctx *c);             /* every sequence */
INFER_API void infer_ctx_kv_truncate(infer_ctx *c, int32_t pos);   /* sequence 0 */

/* ---------------------------------------------------------------- saved sessions
 *
 * A session is one sequence's state: a header (magic "INFERSES", format version, a
 * fingerprint of the model (architecture, hyperparameters, every tensor's name, type
 * and shape, vocabulary size), KV type, layer count, K/V row widths), the sequence's
 * tokens, its K and V rows for positions [0, len) of every layer, and a checksum of
 * everything before it. Its size is proportional to the sequence's length, not to
 * n_ctx. Loading checks all of it before touching the context: a file from another
 * model or KV type, a truncated, corrupted or hostile file gets INFER_ERR_FORMAT (or
 * INFER_ERR_UNSUPPORTED / INFER_ERR_CONTEXT_FULL) with a message, and the context is
 * unchanged. A loaded sequence continues with the same logits as if never saved. */

/* Writes the state of sequence seq to buf. cap too small (0 to ask): INFER_ERR_BUFFER_SMALL
 * with *n_out the bytes needed. */
INFER_API infer_status infer_ctx_seq_save(infer_ctx *c, int32_t seq, void *buf, size_t cap, size_t *n_out);
/* Replaces sequence seq with the state in buf (len bytes). */
INFER_API infer_status infer_ctx_seq_load(infer_ctx *c, int32_t seq, const void *buf, size_t len);
INFER_API infer_status infer_ctx_seq_save_file(infer_ctx *c, int32_t seq, const char *path);
INFER_API infer_status infer_ctx_seq_load_file(infer_ctx *c, int32_t seq, const char *path);

/* ---------------------------------------------------------------- cancel */

/* Returns nonzero to stop the running decode. */
typedef int (*infer_abort_fn)(void *user);
/* Installs (fn NULL: removes) a callback polled while a decode runs: between layers by
 * the decoding thread and, on the CPU backend, between work items by its worker
 * threads, so it must be thread-safe and cheap (typically an atomic flag set by
 * another thread). A decode it stops returns INFER_ERR_CANCELLED within milliseconds on
 * the CPU; on Vulkan, while a callback is installed, each layer is submitted on its own
 * and the callback is asked between layers (a running layer completes). The cache is
 * left as infer_ctx_decode_batch describes. */
INFER_API void infer_ctx_set_abort_callback(infer_ctx *c, infer_abort_fn fn, void *user);

/* ---------------------------------------------------------------- embeddings */

/* With params.embeddings: the final hidden state (after the output norm, before the
 * output projection; n_embd floats, normalized if embd_normalize) of the i-th token of
 * the last decode call, or NULL. */
INFER_API const float *infer_ctx_embeddings(const infer_ctx *c, int32_t i);
/* With params.embeddings and a pooling other than NONE: the pooled embedding of the
 * tokens of sequence seq in the last decode call (n_embd floats), or NULL if the call
 * had none of its tokens. */
INFER_API const float *infer_ctx_embeddings_seq(const infer_ctx *c, int32_t seq);

/* ---------------------------------------------------------------- sampling */

/* A sampler is a chain of stages run, in the order they were added, over the candidate
 * tokens of one logits row. Stages that reshape or narrow the candidates (penalties,
 * logit bias, grammar, top-k, top-p, min-p, temperature) run first; the chain ends with
 * a stage that picks the token (draw, greedy, mirostat v2). A chain without a picking
 * stage returns the best remaining candidate.
 *
 * Typical use:
 *   infer_sampler *s;
 *   infer_sampler_chain_new(model, 0, seed, &s, &err);
 *   infer_sampler_add_json_schema(s, schema, strlen(schema));   // or _add_grammar
 *   infer_sampler_add_defaults(s, &params);                    // penalties ... draw
 *   for each step: tok = infer_sampler_sample(s, logits); infer_sampler_accept(s, tok);
 *
 * A grammar stage commutes with the stages that only move single logits (penalties,
 * logit bias), so they may come in any order; put it before the truncation stages:
 * "grammar, then top-k 40" means the 40 best tokens the grammar allows. The sampler
 * checks tokens against the grammar lazily, best first, so a following top-k (or
 * greedy) costs about k checks instead of one per vocabulary entry. */
typedef struct infer_sampler infer_sampler;

typedef struct infer_sampler_params {
    size_t struct_size;           /* sizeof as the caller compiled it (see Conventions) */
    float temperature;        /* <= 0: greedy (argmax) */
    int32_t top_k;            /* <= 0: off */
    float top_p;              /* >= 1: off */
    float min_p;              /* <= 0: off */
    float repeat_penalty;     /* 1: off (llama.cpp's rule: divide positive logits, multiply negative) */
    float presence_penalty;   /* 0: off */
    float frequency_penalty;  /* 0: off */
    int32_t penalty_last_n;   /* window of recent tokens the penalties see */
    uint64_t seed;            /* same seed, same choices */
} infer_sampler_params;

/* The default chain: penalties -> (temperature <= 0: greedy) -> top-k -> top-p -> min-p ->
 * temperature -> draw. Truncation sees the untempered distribution (llama.cpp's order).
 * Defaults: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, penalties off, window 64,
 * seed 0 (the library never seeds from the clock). */
INFER_API infer_sampler_params infer_sampler_default_params(void);

/* An empty chain for logits rows of n_vocab floats. m (may be NULL) gives token text to
 * the stages that need it (grammar, JSON schema); n_vocab <= 0 takes the model's.
 * seed drives the stages that draw at random. */
INFER_API infer_status infer_sampler_chain_new(const infer_model *m, int32_t n_vocab, uint64_t seed,
                                               infer_sampler **out, infer_error *err);
/* A chain holding the default stages for params (NULL: the defaults). */
INFER_API infer_status infer_sampler_init(const infer_model *m, int32_t n_vocab, const infer_sampler_params *params,
                                          infer_sampler **out, infer_error *err);
/* infer_sampler_init without a model, for source compatibility: NULL on failure. */
INFER_API infer_sampler *infer_sampler_new(const infer_sampler_params *params, int32_t n_vocab);
INFER_API void infer_sampler_free(infer_sampler *s);
/* Why the last call on s failed (empty if it did not). */
INFER_API const char *infer_sampler_last_error(const infer_sampler *s);

/* Stage constructors: each appends one stage to the chain and returns INFER_OK, or an
 * error with the chain unchanged (details in infer_sampler_last_error). */
/* The default chain's stages for params (its seed is ignored: the chain's own is used). */
INFER_API infer_status infer_sampler_add_defaults(infer_sampler *s, const infer_sampler_params *params);
/* Repetition penalties over the last last_n accepted tokens (llama.cpp's rules). */
INFER_API infer_status infer_sampler_add_penalties(infer_sampler *s, int32_t last_n, float repeat,
                                                   float frequency, float presence);
/* Adds bias to listed tokens' logits; -INFINITY bans a token. */
typedef struct infer_logit_bias {
    int32_t token;
    float bias;
} infer_logit_bias;
INFER_API infer_status infer_sampler_add_logit_bias(infer_sampler *s, const infer_logit_bias *bias, size_t n);
/* Allows only tokens that continue a sentence of the GBNF grammar (llama.cpp's syntax)
 * starting at rule `root` (NULL: "root"); end-of-generation tokens only where the text
 * is a complete sentence. Needs the model. A malformed grammar is INFER_ERR_FORMAT with
 * "line L, column C: ..." in the message. */
INFER_API infer_status infer_sampler_add_grammar(infer_sampler *s, const char *gbnf, size_t len, const char *root);
/* infer_json_schema_to_grammar, then infer_sampler_add_grammar. */
INFER_API infer_status infer_sampler_add_json_schema(infer_sampler *s, const char *schema, size_t len);
INFER_API infer_status infer_sampler_add_top_k(infer_sampler *s, int32_t k);       /* <= 0: no-op stage */
INFER_API infer_status infer_sampler_add_top_p(infer_sampler *s, float p);         /* >= 1: no-op stage */
INFER_API infer_status infer_sampler_add_min_p(infer_sampler *s, float p);         /* <= 0: no-op stage */
INFER_API infer_status infer_sampler_add_temperature(infer_sampler *s, float t);   /* divides logits; must be > 0 */
/* Picking stages (a chain's last stage). */
INFER_API infer_status infer_sampler_add_greedy(infer_sampler *s);   /* the argmax */
INFER_API infer_status infer_sampler_add_dist(infer_sampler *s);     /* draw from the softmax */
/* Mirostat 2.0 (Basu et al. 2021): targets surprise tau (e.g. 5), learning rate eta
 * (e.g. 0.1); keeps tokens whose surprise is below mu, draws, then moves mu. Use it
 * after a temperature stage instead of the truncation stages, as llama.cpp does. */
INFER_API infer_status infer_sampler_add_mirostat_v2(infer_sampler *s, float tau, float eta);

/* Picks a token from n_vocab logits (the array is not modified). -1 on error, e.g. a
 * grammar that no token can continue (the reason in infer_sampler_last_error). */
INFER_API int32_t infer_sampler_sample(infer_sampler *s, const float *logits);
/* Records a generated token: the penalty window sees it and a grammar advances over its
 * text. A token the grammar does not allow is INFER_ERR_INVALID_ARG, nothing changed. */
INFER_API infer_status infer_sampler_accept(infer_sampler *s, int32_t tok);
/* Records a token the sampler did not choose (the prompt, earlier turns): the penalty
 * window sees it, a grammar does not. */
INFER_API infer_status infer_sampler_accept_prompt(infer_sampler *s, int32_t tok);
/* Forgets the penalty window, restarts grammars at their root, mirostat at 2*tau and
 * the RNG from the seed. */
INFER_API void infer_sampler_reset(infer_sampler *s);

/* ---------------------------------------------------------------- grammars */

/* A parsed GBNF grammar (llama.cpp's grammars/README.md: `name ::= ...` rules,
 * alternation `|`, groups, `* + ?`, `{m}`, `{m,}`, `{m,n}`, "literals", [classes] with
 * ranges and ^negation, `.`, \x \u \U \t \n \r \\ escapes, # comments). Read-only once
 * parsed: may be shared between threads. */
typedef struct infer_grammar infer_grammar;
/* Parses len bytes of GBNF text; root names the start rule (NULL: "root"). Errors are
 * INFER_ERR_FORMAT with "line L, column C: what" in err (missing rules, left recursion,
 * a bad escape or repetition). */
INFER_API infer_status infer_grammar_parse(const char *gbnf, size_t len, const char *root,
                                           infer_grammar **out, infer_error *err);
INFER_API void infer_grammar_free(infer_grammar *g);
/* 1 if the len bytes of text are a whole sentence of g, 0 if not (also for invalid
 * UTF-8), 2 if they are a proper prefix of one (possibly ending inside a character). */
INFER_API int infer_grammar_match(const infer_grammar *g, const char *text, size_t len);

/* Converts a JSON schema (a JSON text of len bytes) to GBNF whose sentences are the JSON
 * texts valid under it. Supported: type (also lists of types), properties, required,
 * additionalProperties, enum, const (also beside a type: the values of that type), items,
 * prefixItems, minItems/maxItems, nested objects, $ref to #/$defs/... (and
 * #/definitions/...), anyOf, oneOf, string format date/time/date-time/uuid, minLength/maxLength, pattern (^...$ with
 * literals, ., [classes], \d \w \s, groups, |, * + ? {m,n}), integer minimum/maximum
 * (and exclusive variants). An empty schema {} allows any JSON value. Anything else
 * (a keyword that would change which texts are valid) is INFER_ERR_UNSUPPORTED naming the
 * keyword and its JSON path; malformed JSON is INFER_ERR_FORMAT with line and column.
 * Output: NUL-terminated GBNF in buf; on INFER_ERR_BUFFER_SMALL *n_out holds the bytes
 * needed (without the NUL). */
INFER_API infer_status infer_json_schema_to_grammar(const char *schema, size_t len, char *buf, size_t cap,
                                                    size_t *n_out, infer_error *err);
/* GBNF for any JSON object (infer-cli -j, response_format json_object). */
INFER_API const char *infer_json_object_grammar(void);

/* ---------------------------------------------------------------- generation helpers */

/* Stop strings: text is fed as it is generated; output that could still turn out to be
 * the start of a stop string is held back, so a stop string (even one spread over many
 * tokens) is never shown. */
typedef struct infer_stop infer_stop;
/* n strings (empty ones are ignored); the strings are copied. */
INFER_API infer_status infer_stop_new(const char *const *stops, size_t n, infer_stop **out, infer_error *err);
INFER_API void infer_stop_free(infer_stop *s);
/* Appends len bytes of generated text. Writes to buf (NUL-terminated) the text that is
 * now safe to show, and sets *stopped to 1 when a stop string completed: buf then ends
 * right before it, and later pushes write nothing. buf needs at most len + (longest stop
 * string) + 1 bytes; on INFER_ERR_BUFFER_SMALL *n_out holds the need and nothing changed. */
INFER_API infer_status infer_stop_push(infer_stop *s, const char *text, size_t len, char *buf, size_t cap,
                                       size_t *n_out, int *stopped);
/* At the end of generation (not after a stop): the held-back text. */
INFER_API infer_status infer_stop_flush(infer_stop *s, char *buf, size_t cap, size_t *n_out);
/* Index of the stop string that matched, or -1. */
INFER_API int32_t infer_stop_which(const infer_stop *s);
INFER_API void infer_stop_reset(infer_stop *s);

/* Log-probabilities of the model's distribution (log-softmax of the raw logits at
 * temperature 1, before any sampler stage, as OpenAI's logprobs report). */
typedef struct infer_token_logprob {
    int32_t token;
    float logprob;
} infer_token_logprob;
/* *tok_logprob (may be NULL) gets token tok's log-probability; top (may be NULL when
 * top_n is 0) gets the top_n most likely tokens, best first (ties: lower id first);
 * *n_top how many were written (min(top_n, n_vocab)). NaN logits count as -inf. */
INFER_API infer_status infer_logprobs(const float *logits, int32_t n_vocab, int32_t tok, float *tok_logprob,
                                      infer_token_logprob *top, int32_t top_n, int32_t *n_top);

/* ---------------------------------------------------------------- chat */

typedef struct infer_chat_msg {
    const char *role;      /* "system", "user", "assistant" (NUL-terminated) */
    const char *content;
} infer_chat_msg;

/* Template family detected from tokenizer.chat_template (and the architecture):
 * "chatml", "llama3", "harmony"; "jinja" for another template (rendered as written);
 * "chatml" when the file has no template and the architecture gives no hint. */
INFER_API const char *infer_chat_template_name(const infer_model *m);
/* 1 when the model has no template and the architecture gives no hint, so ChatML is used
 * as a guess: callers should warn the user. */
INFER_API int infer_chat_template_is_fallback(const infer_model *m);
/* Renders messages to prompt text; add_generation_prompt appends the assistant header.
 * The model's own template renders them (Jinja, as Hugging Face does; today's local date
 * for strftime_now); a model without one, or whose template fails on these turns, gets
 * its built-in family. Tokenize the text with parse_special so the template's special
 * tokens become single tokens.
 * On INFER_ERR_BUFFER_SMALL, *n_out holds the bytes needed (without the NUL). */
INFER_API infer_status infer_chat_render(const infer_model *m, const infer_chat_msg *msgs, size_t n_msgs,
                                         int add_generation_prompt, char *buf, size_t cap, size_t *n_out);
/* ---- the model's own Jinja template (messages with tool calls, tools, extra variables)
 *
 * Structs carry struct_size = sizeof(the struct) as the caller compiled it, so later
 * versions can add fields at the end without breaking callers (zero-initialize them:
 * `infer_chat_message m = {sizeof m, "user", "Hi"};`). Every string is NUL-terminated
 * UTF-8; NULL means absent. */
typedef struct infer_chat_tool_call {
    size_t struct_size;
    const char *id;          /* "call_1" (NULL: none) */
    const char *name;        /* function name */
    const char *arguments;   /* the arguments as JSON text (an object); NULL reads as {} */
} infer_chat_tool_call;

typedef struct infer_chat_message {
    size_t struct_size;
    const char *role;                /* "system", "user", "assistant", "tool", ... */
    const char *content;             /* NULL: content is null (e.g. an assistant turn with only tool calls) */
    const char *reasoning_content;   /* assistant reasoning (thinking) text */
    const infer_chat_tool_call *tool_calls;
    size_t n_tool_calls;
    const char *tool_call_id;        /* role "tool": the id of the call this result answers */
    const char *name;                /* role "tool": the tool's name */
} infer_chat_message;

typedef struct infer_chat_render_opts {
    size_t struct_size;
    int add_generation_prompt;
    const char *tools_json;   /* JSON array of OpenAI-style tool specs ({"type":"function","function":{...}}) */
    const char *extra_json;   /* JSON object of extra template variables: {"enable_thinking": false} */
    const char *date;         /* "YYYY-MM-DD" that strftime_now prints (NULL: today, local time) */
} infer_chat_render_opts;

/* Renders with the model's own tokenizer.chat_template (Jinja, with Hugging Face's
 * semantics) when the file has one, else with the built-in family (tools ignored there).
 * The text goes to buf like infer_chat_render (INFER_ERR_BUFFER_SMALL reports the size in
 * *n_out). A template that raises (raise_exception, a type error) returns
 * INFER_ERR_FORMAT with the template's message in err. opts may be NULL.
 * Reentrant: any number of threads may render with one model at once. A hostile
 * template cannot hang or exhaust memory: rendering is bounded (16 MiB of text, 64 MiB of
 * values, a million loop iterations and calls, nesting depth) and fails with a message. */
INFER_API infer_status infer_chat_render_messages(const infer_model *m, const infer_chat_message *msgs, size_t n_msgs,
                                                  const infer_chat_render_opts *opts, char *buf, size_t cap,
                                                  size_t *n_out, infer_error *err);
/* The same from an OpenAI-style request object: {"messages": [...], "tools": [...],
 * "add_generation_prompt": true, "extra": {...}} (also reads "chat_template_kwargs"
 * as extra variables, as servers accept them). */
INFER_API infer_status infer_chat_render_json(const infer_model *m, const char *request_json, char *buf, size_t cap,
                                              size_t *n_out, infer_error *err);
/* Renders any Jinja chat template with a conversation in that JSON form. Options:
 * bos/eos token texts (NULL: ""), the strftime_now date (NULL: today). */
typedef struct infer_template_opts {
    size_t struct_size;
    const char *bos_token;
    const char *eos_token;
    const char *date;   /* "YYYY-MM-DD" */
} infer_template_opts;
INFER_API infer_status infer_template_render(const char *template_src, const char *conversation_json,
                                             const infer_template_opts *opts, char *buf, size_t cap, size_t *n_out,
                                             infer_error *err);
/* The model's tokenizer.chat_template text, or NULL. Owned by the model. */
INFER_API const char *infer_model_chat_template_text(const infer_model *m);

/* ---- tool calls in a generated reply */

/* Splits a finished assistant reply into answer text, reasoning and tool calls. The
 * formats tried: Hermes/Qwen <tool_call>{json}</tool_call>, Llama 3.x JSON calls
 * ({"name": ..., "parameters": ...} and <|python_tag|>), Mistral [TOOL_CALLS][...],
 * Harmony commentary channels (to=functions.NAME), and a bare JSON object/array naming a
 * function as a fallback (only when tools were offered). Think blocks (<think>...</think>)
 * and Harmony analysis channels become reasoning. */
typedef struct infer_chat_parsed infer_chat_parsed;
INFER_API infer_status infer_chat_parse_reply(const char *text, const char *tools_json, infer_chat_parsed **out,
                                              infer_error *err);
INFER_API void infer_chat_parsed_free(infer_chat_parsed *p);
INFER_API const char *infer_chat_parsed_content(const infer_chat_parsed *p);     /* "" if none */
INFER_API const char *infer_chat_parsed_reasoning(const infer_chat_parsed *p);   /* "" if none */
INFER_API size_t infer_chat_parsed_n_tool_calls(const infer_chat_parsed *p);
/* Call i: its name, arguments (compact JSON object text) and id (generated "call_N" when
 * the model gave none). NULL when i is out of range. */
INFER_API const infer_chat_tool_call *infer_chat_parsed_tool_call(const infer_chat_parsed *p, size_t i);

/* Hermes/Qwen tool calls (<tool_call>{"name": ..., "arguments": {...}}</tool_call>) while
 * a reply streams, so a server can send each call's arguments in pieces as the model
 * writes them. Feed the answer text as it grows (any split: inside a marker, an escape or
 * a UTF-8 character). A call is reported once its name is complete; its arguments text
 * grows and only ever by appending: what was reported is final. That text is the model's
 * JSON without the whitespace between tokens (string arguments decoded), the same text
 * infer_chat_parse_reply returns for the finished reply when the block is valid JSON.
 * Not followed: Mistral, Llama 3.x and Harmony calls, bare JSON, a block holding a list
 * of calls or {"function": ...}; nor anything after a block that is not valid. There the
 * stream stops (infer_chat_call_stream_stopped) and only the finished reply's parse
 * knows the calls. A call reported before its block proved invalid (a reply cut short)
 * stays reported, incomplete. Not thread-safe: one stream per reply. */
typedef struct infer_chat_call_stream infer_chat_call_stream;
typedef struct infer_chat_call_progress {
    size_t struct_size;      /* sizeof, set by the caller */
    const char *name;        /* the function's name (NUL-terminated) */
    const char *arguments;   /* n_arguments bytes of arguments text known so far (whole UTF-8
                                characters), all of it once complete */
    size_t n_arguments;
    int complete;            /* the call's object closed: the arguments are whole */
} infer_chat_call_progress;
INFER_API infer_status infer_chat_call_stream_new(infer_chat_call_stream **out);
INFER_API void infer_chat_call_stream_free(infer_chat_call_stream *s);
/* The next n bytes of answer text. INFER_ERR_NOMEM stops the stream. */
INFER_API infer_status infer_chat_call_stream_push(infer_chat_call_stream *s, const char *text, size_t n);
/* Calls reported so far (named), in order: index i is the reply's ith call. */
INFER_API size_t infer_chat_call_stream_n_calls(const infer_chat_call_stream *s);
/* Call i as it stands; the pointers live until the next push. */
INFER_API infer_status infer_chat_call_stream_call(const infer_chat_call_stream *s, size_t i,
                                                   infer_chat_call_progress *out);
/* 1 once the stream follows no more calls (see above). */
INFER_API int infer_chat_call_stream_stopped(const infer_chat_call_stream *s);

/* Token ids that end an assistant turn for this model. Returns how many exist. */
INFER_API size_t infer_model_stop_tokens(const infer_model *m, int32_t *out, size_t cap);

/* Where a generated token of an assistant reply belongs. */
typedef enum infer_chat_part {
    INFER_CHAT_PART_MARKUP = 0,     /* template structure (channel headers, <think> tags): not text */
    INFER_CHAT_PART_ANSWER = 1,     /* the reply shown to the user (Harmony: the final channel) */
    INFER_CHAT_PART_REASONING = 2,  /* Harmony analysis channel, Qwen3 <think> block */
    INFER_CHAT_PART_OTHER = 3,      /* other Harmony channels (commentary: tool calls) */
} infer_chat_part;

/* Classifies the tokens of one streamed assistant reply, following the model's template
 * family: Harmony `<|channel|>NAME<|message|>TEXT<|end|><|start|>assistant...` and
 * `<think>...</think>` blocks. Feed every generated token (stop tokens excluded) in order. */
typedef struct infer_chat_stream infer_chat_stream;
INFER_API infer_status infer_chat_stream_init(const infer_model *m, infer_chat_stream **out, infer_error *err);
/* infer_chat_stream_init without the status, for source compatibility: NULL on failure. */
INFER_API infer_chat_stream *infer_chat_stream_new(const infer_model *m);
INFER_API void infer_chat_stream_free(infer_chat_stream *s);
INFER_API infer_chat_part infer_chat_stream_push(infer_chat_stream *s, int32_t tok);
/* Starts a new reply (the state right after the generation prompt). */
INFER_API void infer_chat_stream_reset(infer_chat_stream *s);

/* ---------------------------------------------------------------- quantization */

/* One tensor written by infer_model_quantize (for progress display). */
typedef struct infer_quantize_progress {
    int64_t index, count;      /* this tensor is index+1 of count */
    const char *name;
    uint32_t from_type, to_type;   /* GGUF type ids (infer_type_name) */
    uint64_t bytes_in, bytes_out;  /* this tensor's size before and after */
} infer_quantize_progress;
/* Return nonzero to stop (INFER_ERR_CANCELLED; no output file is left). */
typedef int (*infer_quantize_progress_fn)(const infer_quantize_progress *p, void *user);

typedef struct infer_quantize_params {
    size_t struct_size;           /* sizeof as the caller compiled it (see Conventions) */
    const char *type;             /* file type as llama-quantize names it: "Q4_K_M", "Q8_0", "F16",
                                     ... (infer_quantize_type_names); case-insensitive */
    int32_t n_threads;            /* 0: all cores */
    int pure;                     /* every quantizable tensor gets the base type (no _M/_S mix) */
    int allow_requantize;         /* quantized input tensors may be dequantized and quantized again */
    const char *const *overrides; /* n_overrides "REGEX=TYPE" (POSIX extended regex on the tensor
                                     name, GGUF type name): the first match decides the type */
    size_t n_overrides;
    infer_quantize_progress_fn progress;   /* may be NULL; called after each tensor */
    void *progress_user;
} infer_quantize_params;

typedef struct infer_quantize_stats {
    int64_t n_tensors, n_quantized, n_fallback;   /* fallback: row length forced another type */
    uint64_t n_elements, bytes_in, bytes_out;     /* tensor data only */
    double seconds;
} infer_quantize_stats;

/* Defaults: type "Q4_K_M", all cores, mixes on, no requantizing, no overrides. */
INFER_API infer_quantize_params infer_quantize_default_params(void);
/* NULL-terminated list of the file type names accepted in params.type. */
INFER_API const char *const *infer_quantize_type_names(void);
/* Reads a GGUF model and writes it quantized: metadata copied (general.file_type set),
 * each tensor converted to the type llama.cpp's quantizer would choose, streamed through
 * memory a few rows at a time. The output appears under out_path only when complete.
 * stats may be NULL. Thread-safe with respect to other handles. */
INFER_API infer_status infer_model_quantize(const char *in_path, const char *out_path,
                                            const infer_quantize_params *params,
                                            infer_quantize_stats *stats, infer_error *err);

#ifdef __cplusplus
}
#endif
#endif /* INFER_H */
