# Compiles src/kernels/vulkan/shaders/*.comp to SPIR-V with glslangValidator and embeds
# the words in generated C headers. (Owned by the Vulkan backend; see src/kernels/vulkan/.)
set(INFER_SHADER_SOURCES "")
set(INFER_SHADER_INCLUDE_DIR ${CMAKE_CURRENT_BINARY_DIR}/shaders)
