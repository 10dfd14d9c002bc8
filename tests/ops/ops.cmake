# --- ops (owned by the ops suite; included by tests/CMakeLists.txt) ---------
# Label "ops":
#   ops.validate           ops/validate.sh: every ops artifact checked with the
#                          real tools found here (promtool, kubectl kustomize,
#                          systemd-analyze, the worker's config loader and
#                          /metrics); exit 77 (skipped) if no check could run
#   ops.prometheus-scrape  a real Prometheus scrapes a real worker on the
#                          stack (Kafka + Redis) and its query API must report
#                          the counters of the traffic sent
add_test(NAME ops.validate COMMAND bash ${PROJECT_SOURCE_DIR}/ops/validate.sh)
set_tests_properties(ops.validate PROPERTIES
  LABELS ops TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "VIGIL_WORKER_BIN=$<TARGET_FILE:vigil-worker>")

if(TARGET vigil_itest)
  add_executable(prometheus_scrape ops/prometheus_scrape.c)
  target_link_libraries(prometheus_scrape PRIVATE vigil_itest m)
  add_test(NAME ops.prometheus-scrape COMMAND prometheus_scrape 5000)
  set_tests_properties(ops.prometheus-scrape PROPERTIES
    FIXTURES_REQUIRED stack LABELS ops TIMEOUT 240 SKIP_RETURN_CODE 77
    ENVIRONMENT "${VIGIL_TEST_ENV}")
endif()
