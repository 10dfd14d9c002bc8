# --- chaos (owned by the chaos suite) ---
# tests/chaos/chaos.c: one binary, one scenario per run, each with its own
# stack (ops/stack/up.sh) in its own run folder; see its header comment.
# Short versions here (label "chaos"); the long version is
# tests/chaos/run-long.sh. RUN_SERIAL: each brings up Kafka + Redis + workers
# and they would starve each other on a small machine.
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/chaos/chaos.c AND TARGET vigil_itest)
  add_executable(chaos chaos/chaos.c)
  target_link_libraries(chaos PRIVATE vigil_itest)
  target_compile_definitions(chaos PRIVATE VIGIL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  set(VIGIL_CHAOS_DIR ${CMAKE_BINARY_DIR}/chaos)
  # The short version: 15 s of traffic per test at 1000 events/s, enough
  # for several faults of each kind (kill9: a kill every 2-5 s; scale: one
  # full 1 -> 4 -> 1 cycle; redis: clean stop and kill -9; broker: one
  # broker stopped and restarted; outage: Kafka killed and every worker
  # stopped while it is down). The harder broker faults, on the 3-node
  # cluster: broker9 (one broker killed with kill -9, restarted),
  # controller (the active KRaft controller killed, a new one elected,
  # the node restarted), quorum (two brokers down: min.insync.replicas
  # unmet, every worker's /readyz must name it, then they come back);
  # each of these six takes 1 to 1.7 minutes on 2 cores.
  # The long version (200,000 events each) is tests/chaos/run-long.sh.
  set(VIGIL_CHAOS_EVENTS 15000 CACHE STRING "Events per chaos test in ctest (short version)")
  set(VIGIL_CHAOS_RATE 1000 CACHE STRING "Events per second of the chaos tests in ctest")
  foreach(scenario kill9 scale redis broker outage broker9 controller quorum)
    foreach(mode exactly_once at_least_once)
      add_test(NAME chaos.${scenario}.${mode}
               COMMAND chaos ${scenario} ${mode} ${VIGIL_CHAOS_EVENTS}
                       --rate ${VIGIL_CHAOS_RATE}
                       --run-dir ${VIGIL_CHAOS_DIR}/${scenario}-${mode})
      set_tests_properties(chaos.${scenario}.${mode} PROPERTIES
        LABELS chaos TIMEOUT 600 RUN_SERIAL TRUE SKIP_RETURN_CODE 77
        FIXTURES_REQUIRED chaos_cleanup
        ENVIRONMENT "VIGIL_WORKER_BIN=$<TARGET_FILE:vigil-worker>;VIGIL_REPO=${PROJECT_SOURCE_DIR}")
    endforeach()
  endforeach()
  # A chaos run stops its own stack on every exit path it controls; this
  # catches the rest (a ctest timeout is a SIGKILL): stop, by the pids
  # recorded there, whatever a chaos run folder still has running.
  add_test(NAME chaos.cleanup
           COMMAND bash -c "for d in \"$1\"/*/; do [ -f \"$d/stack.env\" ] && bash \"$0\" --run-dir \"$d\" >/dev/null; done; true"
                   ${PROJECT_SOURCE_DIR}/ops/stack/down.sh ${VIGIL_CHAOS_DIR})
  set_tests_properties(chaos.cleanup PROPERTIES FIXTURES_CLEANUP chaos_cleanup LABELS chaos
                       TIMEOUT 300)
endif()
