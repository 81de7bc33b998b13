# Real models against golden-real reference data (test_golden_real.c): the CPU run is
# registered by tests/CMakeLists.txt as test_golden_real (about 8 s on 2 cores; exit 77,
# Skipped, when scripts/fetch-models.sh has not cached the model). The Vulkan run
# (`test_golden_real vulkan`) takes about a minute on llvmpipe, so it is left to
# scripts/test-real-models.sh rather than the default suite.
