# The infer-tokenize end-to-end test (tests/unit/test_tokenizer_tool.c) runs the tool
# from the build tree: build it first.
if(TARGET test_tokenizer_tool AND TARGET infer-tokenize)
  add_dependencies(test_tokenizer_tool infer-tokenize)
endif()
