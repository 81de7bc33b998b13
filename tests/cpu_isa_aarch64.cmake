# test_cpu_isa_aarch64 under the cross build's emulator: the ISA level the emulated CPU
# model must be detected as, from the model's published features (qemu's "max" has
# FEAT_DotProd and FEAT_I8MM; Cortex-A53/A57/A72/A35 are ARMv8.0 with base ASIMD only;
# Cortex-A76 and Neoverse-N1 are ARMv8.2 with DotProd, without I8MM). Unknown models and
# native builds leave it to the test (/proc/cpuinfo).
if(CMAKE_CROSSCOMPILING_EMULATOR AND INFER_QEMU_CPU)
  set(_isa "")
  if(INFER_QEMU_CPU STREQUAL "max")
    set(_isa i8mm)
  elseif(INFER_QEMU_CPU MATCHES "^cortex-a(35|53|57|72)$")
    set(_isa neon)
  elseif(INFER_QEMU_CPU MATCHES "^(cortex-a76|neoverse-n1)$")
    set(_isa dotprod)
  endif()
  if(_isa)
    set_property(TEST test_cpu_isa_aarch64 APPEND PROPERTY ENVIRONMENT "INFER_TEST_EXPECT_ISA=${_isa}")
  endif()
endif()
