# libinfer.so exports only the INFER_API functions of include/infer.h (hidden visibility
# everywhere else) and carries the soname libinfer.so.<ABI major>.
find_program(INFER_READELF NAMES readelf ${CMAKE_READELF})
if(CMAKE_NM AND INFER_READELF)
  add_test(NAME library_exports
    COMMAND ${CMAKE_COMMAND}
      -DNM=${CMAKE_NM} -DREADELF=${INFER_READELF}
      -DLIBRARY=$<TARGET_FILE:infer>
      -DHEADER=${PROJECT_SOURCE_DIR}/include/infer.h
      -DSOVERSION=${PROJECT_VERSION_MAJOR}
      -P ${CMAKE_CURRENT_SOURCE_DIR}/exports/check.cmake)
else()
  message(WARNING "nm or readelf not found: the library_exports test is not registered")
endif()
