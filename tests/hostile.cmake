# Hostile model contents and hostile run-time input (tests/unit/test_hostile_model_*.c):
# labelled so `ctest -L hostile` runs just them, e.g. in an ASan+UBSan build.
set_tests_properties(test_hostile_model_load test_hostile_model_run PROPERTIES LABELS hostile)
