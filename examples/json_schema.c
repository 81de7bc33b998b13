/* Output that always matches a JSON schema: the schema becomes a grammar stage in front
 * of the usual sampling chain, so every sampled token keeps the text a valid prefix, and
 * end-of-generation is only possible once the JSON value is complete.
 *
 *   cc json_schema.c $(pkg-config --cflags --libs infer) -o json_schema
 *   ./json_schema MODEL.gguf [SEED]
 */
#include <infer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *schema =
    "{\"type\": \"object\","
    " \"properties\": {"
    "   \"name\": {\"type\": \"string\", \"maxLength\": 12},"
    "   \"age\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 99},"
    "   \"pets\": {\"type\": \"array\", \"items\": {\"enum\": [\"cat\", \"dog\", \"fish\"]}, \"maxItems\": 3}},"
    " \"required\": [\"name\", \"age\"]}";

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [SEED]\n", argv[0]);
        return 2;
    }
    infer_error err;
    infer_model *m = NULL;
    infer_ctx *c = NULL;
    infer_sampler *s = NULL;
    if (infer_model_load(argv[1], NULL, &m, &err) != INFER_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    infer_ctx_params cp = infer_ctx_default_params();
    cp.n_ctx = 1024;
    cp.backend = INFER_BACKEND_CPU;
    infer_sampler_params sp = infer_sampler_default_params();
    sp.seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 7;
    int rc = 1;
    if (infer_ctx_new(m, &cp, &c, &err) != INFER_OK || infer_sampler_chain_new(m, 0, sp.seed, &s, &err) != INFER_OK) {
        fprintf(stderr, "%s\n", err.message);
        goto out;
    }
    /* Grammar first, then the default chain: "the 40 best tokens the schema allows". */
    if (infer_sampler_add_json_schema(s, schema, strlen(schema)) != INFER_OK ||
        infer_sampler_add_defaults(s, &sp) != INFER_OK) {
        fprintf(stderr, "%s\n", infer_sampler_last_error(s));
        goto out;
    }
    const char *prompt = "Here is a person as JSON:";
    int32_t toks[256];
    size_t n = 0;
    if (infer_tokenize(m, prompt, strlen(prompt), 1, 0, toks, 256, &n) != INFER_OK ||
        infer_ctx_decode(c, toks, NULL, NULL, (int32_t)n) != INFER_OK)
        goto out;
    for (size_t i = 0; i < n; i++) infer_sampler_accept_prompt(s, toks[i]);   /* penalties only */

    int32_t row = (int32_t)n - 1;
    for (int i = 0; i < 600; i++) {
        const float *logits = infer_ctx_logits(c, row);
        int32_t tok = infer_sampler_sample(s, logits);
        if (tok < 0) {
            fprintf(stderr, "\nsampling failed: %s\n", infer_sampler_last_error(s));
            goto out;
        }
        if (infer_token_is_eog(m, tok)) {   /* allowed only once the JSON is complete */
            printf("\n");
            rc = 0;
            break;
        }
        char piece[256];
        size_t len = 0;
        if (infer_sampler_accept(s, tok) != INFER_OK || infer_token_to_bytes(m, tok, piece, sizeof piece, &len) != INFER_OK)
            goto out;
        fwrite(piece, 1, len, stdout);
        if (infer_ctx_decode(c, &tok, NULL, NULL, 1) != INFER_OK) goto out;
        row = 0;
    }
    if (rc) fprintf(stderr, "\nthe value did not finish within 600 tokens\n");
out:
    infer_sampler_free(s);
    infer_ctx_free(c);
    infer_model_free(m);
    return rc;
}
