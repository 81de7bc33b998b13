/* What other library modules (the sampler's grammar stage, chat templates) may ask of a loaded model.
 * Implemented in src/models/. */
#ifndef INFER_MODELS_MODEL_INTERNAL_H
#define INFER_MODELS_MODEL_INTERNAL_H

#include "infer.h"

struct infer_vocab;   /* src/tokenizer/vocab.h */

const struct infer_vocab *infer_model_vocab(const infer_model *m);
const infer_gguf *infer_model_gguf(const infer_model *m);
/* tokenizer.chat_template as a NUL-terminated string, or NULL if absent. */
const char *infer_model_chat_template(const infer_model *m);
/* The chat family the architecture claims (infer_arch.chat_family) or NULL. */
const char *infer_model_chat_family_hint(const infer_model *m);

#endif
