/* The route table: which handler answers which method and path. */
#ifndef SERVER_ROUTES_H
#define SERVER_ROUTES_H
#include "http.h"

/* Answers a fully received, authorized request (404/405 for unknown paths/methods). */
void routes_dispatch(http_req *r);

/* Handlers, by dialect. */
void route_health(http_req *r);
void route_metrics(http_req *r);
void route_root(http_req *r);
void openai_models(http_req *r);
void openai_apply_template(http_req *r);
void openai_chat(http_req *r);
void openai_completions(http_req *r);
void openai_embeddings(http_req *r);
void ollama_chat(http_req *r);
void ollama_generate(http_req *r);
void ollama_tags(http_req *r);
void ollama_show(http_req *r);
void ollama_ps(http_req *r);
void ollama_version(http_req *r);
void ollama_embed(http_req *r);

#endif
