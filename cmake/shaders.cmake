# Compiles src/kernels/vulkan/shaders/*.comp to SPIR-V with glslangValidator at build time
# and embeds the words in the library: every variant becomes a header holding one
# uint32_t array, and one generated source (infer_shaders.c) lists them all by name.
# Typed shaders get one variant per weight format from ONE source, selected with
# -DDATA_A_<TYPE>; the runtime finds a variant as "<shader>_<type name lowercased>".
# (Owned by the Vulkan backend; see src/kernels/vulkan/.)

# Weight formats with a Vulkan decoder (names as infer_dtype_traits spells them).
set(INFER_VK_TYPES F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K MXFP4 IQ4_NL IQ4_XS)

set(_vk_dir ${CMAKE_CURRENT_SOURCE_DIR}/src/kernels/vulkan/shaders)
set(INFER_SHADER_INCLUDE_DIR ${CMAKE_CURRENT_BINARY_DIR}/shaders)
file(MAKE_DIRECTORY ${INFER_SHADER_INCLUDE_DIR}/spv)
file(GLOB _vk_includes CONFIGURE_DEPENDS ${_vk_dir}/*.glsl)
file(GLOB _vk_sources CONFIGURE_DEPENDS ${_vk_dir}/*.comp)

set(_vk_headers "")
set(_vk_names "")

# infer_vk_variant(<name> <source.comp> [DEFINES...])
function(infer_vk_variant name src)
  set(defs "")
  foreach(d ${ARGN})
    list(APPEND defs -D${d})
  endforeach()
  set(out ${INFER_SHADER_INCLUDE_DIR}/spv/${name}.h)
  # The caller may set _vk_target_env for variants that need a newer SPIR-V.
  set(env vulkan1.1)
  if(_vk_target_env)
    set(env ${_vk_target_env})
  endif()
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${GLSLANG_VALIDATOR} -V --target-env ${env} ${defs} --vn infer_spv_${name}
            -o ${out} ${_vk_dir}/${src}
    DEPENDS ${_vk_dir}/${src} ${_vk_includes}
    COMMENT "glslang ${name}"
    VERBATIM)
  set(_vk_headers ${_vk_headers} ${out} PARENT_SCOPE)
  set(_vk_names ${_vk_names} ${name} PARENT_SCOPE)
endfunction()

# Shaders that decode weights: one variant per type (and a MoE form of the matmuls).
set(_vk_typed get_rows matmul_vec matmul_mat)
foreach(t ${INFER_VK_TYPES})
  string(TOLOWER ${t} tl)
  foreach(s ${_vk_typed})
    infer_vk_variant(${s}_${tl} ${s}.comp DATA_A_${t})
  endforeach()
  infer_vk_variant(matmul_vec_moe_${tl} matmul_vec.comp DATA_A_${t} MOE)
  # Devices with subgroup arithmetic reduce decode dot products without shared memory.
  infer_vk_variant(matmul_vec_sg_${tl} matmul_vec.comp DATA_A_${t} USE_SUBGROUP)
  infer_vk_variant(matmul_mat_moe_${tl} matmul_mat.comp DATA_A_${t} MOE)
  # One-row decode: several rows per workgroup, x rounded inside (no quantize_act).
  infer_vk_variant(matvec_rows_${tl} matvec_rows.comp DATA_A_${t})
  infer_vk_variant(matvec_rows_sg_${tl} matvec_rows.comp DATA_A_${t} USE_SUBGROUP)
endforeach()
# Prompt matmul on the cooperative matrix units (matmul_coop.comp, primitives in
# coop.glsl): the NV extension's form, which glslang has known for long; the KHR form only
# where this glslang compiles it (Debian 12's 12.0 does not: probed once at configure
# time, every configure, so that a newer glslang is noticed); and the emulation of the same arithmetic in plain GLSL that any device (lavapipe
# in the tests) runs. vk_ops.c picks one with INFER_VK_COOPMAT.
set(_probe ${CMAKE_CURRENT_BINARY_DIR}/coopmat_khr_probe.comp)
file(WRITE ${_probe} "#version 450
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x = 32) in;
shared float16_t s[256];
void main() {
    coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA> a;
    coopMatLoad(a, s, 0, 16, gl_CooperativeMatrixLayoutRowMajor);
}
")
execute_process(COMMAND ${GLSLANG_VALIDATOR} -V --target-env vulkan1.3 -o ${_probe}.spv ${_probe}
                RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
set(INFER_VK_GLSLANG_KHR_COOPMAT OFF)
if(_rc EQUAL 0)
  set(INFER_VK_GLSLANG_KHR_COOPMAT ON)
else()
  message(STATUS "glslangValidator does not know GL_KHR_cooperative_matrix: matmul_coop_khr variants skipped (NV and emulated ones built)")
endif()
# (Not for F32 weights: vk_ops.c keeps them on the fp32 kernel.)
set(_vk_coop_types ${INFER_VK_TYPES})
list(REMOVE_ITEM _vk_coop_types F32)
foreach(t ${_vk_coop_types})
  string(TOLOWER ${t} tl)
  foreach(impl nv emu)
    string(TOUPPER ${impl} IMPL)
    infer_vk_variant(matmul_coop_${impl}_${tl} matmul_coop.comp DATA_A_${t} COOP_${IMPL})
    infer_vk_variant(matmul_coop_${impl}_moe_${tl} matmul_coop.comp DATA_A_${t} COOP_${IMPL} MOE)
  endforeach()
  if(INFER_VK_GLSLANG_KHR_COOPMAT)
    set(_vk_target_env vulkan1.3)
    infer_vk_variant(matmul_coop_khr_${tl} matmul_coop.comp DATA_A_${t} COOP_KHR)
    infer_vk_variant(matmul_coop_khr_moe_${tl} matmul_coop.comp DATA_A_${t} COOP_KHR MOE)
    unset(_vk_target_env)
  endif()
endforeach()

# Devices with shaderIntegerDotProduct: packed 4x8-bit dot products for the 8-bit-friendly formats.
foreach(t Q4_0 Q8_0)
  string(TOLOWER ${t} tl)
  infer_vk_variant(matvec_rows_idot_${tl} matvec_rows.comp DATA_A_${t} INT_DOT)
  infer_vk_variant(matvec_rows_sg_idot_${tl} matvec_rows.comp DATA_A_${t} INT_DOT USE_SUBGROUP)
endforeach()

# KV-cache readers/writers: F32 and F16 caches.
foreach(s kv_store attention rope_store)
  infer_vk_variant(${s}_f32 ${s}.comp)
  infer_vk_variant(${s}_f16 ${s}.comp KV_F16)
  # Devices with 16-bit storage read and write the F16 cache directly.
  infer_vk_variant(${s}_f16s ${s}.comp KV_F16 KV_F16_STORAGE)
endforeach()
# Split-K (flash-decoding) attention: partial softmax states, merged by attention_merge.
infer_vk_variant(attention_split_f32 attention.comp SPLIT)
infer_vk_variant(attention_split_f16 attention.comp KV_F16 SPLIT)
infer_vk_variant(attention_split_f16s attention.comp KV_F16 KV_F16_STORAGE SPLIT)

# Row norms reduced with subgroupAdd on devices with subgroup arithmetic.
infer_vk_variant(rms_norm_sg rms_norm.comp USE_SUBGROUP)
infer_vk_variant(add_rms_norm_sg add_rms_norm.comp USE_SUBGROUP)

# Activation rounding to the reference's 8-bit dot-product partners.
infer_vk_variant(quantize_act_q8 quantize_act.comp QB=32)
infer_vk_variant(quantize_act_q8k quantize_act.comp QB=256)

# Every other .comp is one plain variant named after its file.
foreach(src ${_vk_sources})
  get_filename_component(s ${src} NAME_WE)
  list(FIND _vk_typed ${s} typed)
  if(typed EQUAL -1 AND NOT s MATCHES "^(kv_store|attention|rope_store|quantize_act|matvec_rows|matmul_coop)$")
    infer_vk_variant(${s} ${s}.comp)
  endif()
endforeach()

# The table: name -> words.
set(_c "/* Generated by cmake/shaders.cmake: do not edit. */\n#include \"infer_shaders.h\"\n\n")
foreach(n ${_vk_names})
  string(APPEND _c "#include \"spv/${n}.h\"\n")
endforeach()
string(APPEND _c "\nconst infer_shader_blob infer_shader_blobs[] = {\n")
foreach(n ${_vk_names})
  string(APPEND _c "    {\"${n}\", infer_spv_${n}, sizeof(infer_spv_${n})},\n")
endforeach()
list(LENGTH _vk_names _vk_count)
string(APPEND _c "};\nconst int infer_shader_blob_count = ${_vk_count};\n")
file(CONFIGURE OUTPUT ${INFER_SHADER_INCLUDE_DIR}/infer_shaders.c CONTENT "${_c}")
file(CONFIGURE OUTPUT ${INFER_SHADER_INCLUDE_DIR}/infer_shaders.h CONTENT
"/* Generated by cmake/shaders.cmake: do not edit. Embedded SPIR-V of every shader variant. */
#ifndef INFER_SHADERS_H
#define INFER_SHADERS_H
#include <stddef.h>
#include <stdint.h>
typedef struct infer_shader_blob {
    const char *name;        /* \"<shader>\" or \"<shader>_<type>\" */
    const uint32_t *words;
    size_t bytes;
} infer_shader_blob;
extern const infer_shader_blob infer_shader_blobs[];
extern const int infer_shader_blob_count;
#endif
")
set_source_files_properties(${INFER_SHADER_INCLUDE_DIR}/infer_shaders.c PROPERTIES OBJECT_DEPENDS "${_vk_headers}")
set(INFER_SHADER_SOURCES ${INFER_SHADER_INCLUDE_DIR}/infer_shaders.c ${_vk_headers})
