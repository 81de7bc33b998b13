#include "core/error.h"
infer_status infer_json_schema_to_grammar(const char *schema, size_t len, char *buf, size_t cap, size_t *n_out,
                                          infer_error *err) {
    (void)schema; (void)len; (void)buf; (void)cap; (void)n_out;
    return infer_err(err, INFER_ERR_UNSUPPORTED, "json schema: not implemented yet");
}
const char *infer_json_object_grammar(void) { return ""; }
