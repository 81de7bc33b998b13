/* Internal view of the sampler chain, for tests: the logits after step 1 (penalties),
 * without sampling. */
#ifndef INFER_SAMPLE_SAMPLER_INTERNAL_H
#define INFER_SAMPLE_SAMPLER_INTERNAL_H

#include "infer.h"

/* Writes n_vocab penalized logits to out (NaN inputs read as -inf). */
void infer_sampler_penalized_logits(infer_sampler *s, const float *logits, float *out);

#endif
