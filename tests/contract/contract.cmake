# --- contract (owned by the contract suite; included by tests/CMakeLists.txt)
# tests/contract/: the trigger and dead-letter contract asserted from the
# outside, in Python (confluent-kafka + protobuf from PyPI, in the venv
# ops/setup.sh makes), against one real vigil-worker on the `stack` fixture.
# Label "contract"; one test per suite and delivery mode:
#   contract.hostile.<mode>            hostile events, the trigger and
#                                      dead-letter contract (test_contract.py)
#   contract.stopped_partition.<mode>  a dead letter the broker refuses stops
#                                      its partition only (test_stopped_partition.py)
# Exit 77 (skipped, with the reason printed) when the venv or one of its
# tools is missing.
#   ctest --test-dir build -L contract --output-on-failure
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  foreach(suite hostile stopped_partition)
    foreach(mode exactly_once at_least_once)
      add_test(NAME contract.${suite}.${mode}
               COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/contract/run.py
                       --suite ${suite} --mode ${mode} --out ${CMAKE_CURRENT_BINARY_DIR}/contract)
      set_tests_properties(contract.${suite}.${mode} PROPERTIES
        FIXTURES_REQUIRED stack LABELS contract TIMEOUT 300
        SKIP_RETURN_CODE 77 ENVIRONMENT "${VIGIL_TEST_ENV}")
    endforeach()
  endforeach()
else()
  message(STATUS "contract tests: no python3 interpreter, not added")
endif()
