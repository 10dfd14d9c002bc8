# libFuzzer targets (tests/fuzz), with -DVIGIL_FUZZ=ON and clang; the
# whole build then carries -fsanitize=fuzzer-no-link (CMakeLists.txt) and
# runs under ASan+UBSan (VIGIL_ASAN, VIGIL_UBSAN). Each target's test runs
# it for VIGIL_FUZZ_SECONDS over its committed seed corpus (corpus/<name>)
# and fails on any finding; new inputs go to the build tree only.
set(VIGIL_FUZZ_SECONDS 60 CACHE STRING "seconds per fuzz target in ctest")
foreach(t event state model json config)
  add_executable(fuzz_${t} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${t}.c)
  target_link_libraries(fuzz_${t} PRIVATE vigil_worker_lib)
  target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz/${t} ${CMAKE_BINARY_DIR}/fuzz/artifacts)
  add_test(NAME fuzz.${t}
           COMMAND fuzz_${t} -max_total_time=${VIGIL_FUZZ_SECONDS} -timeout=10
                   -rss_limit_mb=2048 -print_final_stats=1
                   -artifact_prefix=${CMAKE_BINARY_DIR}/fuzz/artifacts/${t}-
                   ${CMAKE_BINARY_DIR}/fuzz/${t} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${t})
  set_tests_properties(fuzz.${t} PROPERTIES LABELS fuzz TIMEOUT 600
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
endforeach()
